package dev.tapprove.common

import dev.tapprove.AuthException
import dev.tapprove.SecureStore
import java.util.concurrent.ConcurrentHashMap
import javax.crypto.Cipher
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/** Where sealed values are kept (SharedPreferences on Android, a map in tests). */
interface KeyValueBackend {
    /** The bytes under [name], or null. */
    fun read(name: String): ByteArray?

    /** Stores [bytes] under [name]. */
    fun write(name: String, bytes: ByteArray)

    /** Removes [name] (no error if missing). */
    fun remove(name: String)

    /** Every stored name. */
    fun names(): Set<String>
}

/** Encrypts and authenticates values; [aad] binds a value to its name. */
interface Sealer {
    /** Encrypts [plain]. */
    fun seal(plain: ByteArray, aad: ByteArray): ByteArray

    /** Decrypts; throws if [sealed] was modified or belongs to another name. */
    fun open(sealed: ByteArray, aad: ByteArray): ByteArray
}

/**
 * AES-256-GCM with a key from [key] (an Android Keystore key on devices; any AES key in
 * tests). The cipher picks a random 96-bit IV (Android Keystore insists on that); the output
 * is `iv || ciphertext+tag`.
 */
class AesGcmSealer(private val key: () -> SecretKey) : Sealer {
    override fun seal(plain: ByteArray, aad: ByteArray): ByteArray {
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.ENCRYPT_MODE, key())
        cipher.updateAAD(aad)
        val iv = cipher.iv
        check(iv.size == IV_LEN) { "unexpected GCM IV length ${iv.size}" }
        return iv + cipher.doFinal(plain)
    }

    override fun open(sealed: ByteArray, aad: ByteArray): ByteArray {
        require(sealed.size > IV_LEN + TAG_BITS / 8) { "sealed value too short" }
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.DECRYPT_MODE, key(), GCMParameterSpec(TAG_BITS, sealed, 0, IV_LEN))
        cipher.updateAAD(aad)
        return cipher.doFinal(sealed, IV_LEN, sealed.size - IV_LEN)
    }

    private companion object {
        const val TRANSFORMATION = "AES/GCM/NoPadding"
        const val IV_LEN = 12
        const val TAG_BITS = 128
    }
}

/**
 * A [SecureStore] whose values are sealed by [sealer] before they reach [backend]. Reads never
 * need user presence (no biometrics), so background push handling works.
 *
 * Failures are thrown as [AuthException.Platform] with a message the app can show.
 */
class SealedSecureStore(
    private val backend: KeyValueBackend,
    private val sealer: Sealer,
) : SecureStore {
    override fun get(key: String): ByteArray? {
        val sealed = backend.read(key) ?: return null
        return try {
            sealer.open(sealed, key.toByteArray(Charsets.UTF_8))
        } catch (e: Exception) {
            throw AuthException.Platform("Stored data for this app could not be decrypted (${e.javaClass.simpleName}); remove the account and pair again.")
        }
    }

    override fun set(key: String, value: ByteArray) {
        val sealed = try {
            sealer.seal(value, key.toByteArray(Charsets.UTF_8))
        } catch (e: Exception) {
            throw AuthException.Platform("The device key store could not encrypt data (${e.javaClass.simpleName}); unlock the device and try again.")
        }
        backend.write(key, sealed)
    }

    override fun delete(key: String) = backend.remove(key)

    override fun listKeys(prefix: String): List<String> = backend.names().filter { it.startsWith(prefix) }
}

/** A thread-safe in-memory [KeyValueBackend] (tests; values are lost on exit). */
class MemoryBackend : KeyValueBackend {
    private val map = ConcurrentHashMap<String, ByteArray>()

    override fun read(name: String): ByteArray? = map[name]?.copyOf()

    override fun write(name: String, bytes: ByteArray) {
        map[name] = bytes.copyOf()
    }

    override fun remove(name: String) {
        map.remove(name)
    }

    override fun names(): Set<String> = map.keys.toSet()
}
