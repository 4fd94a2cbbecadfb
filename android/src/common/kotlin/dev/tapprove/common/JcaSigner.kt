package dev.tapprove.common

import dev.tapprove.DeviceSigner
import dev.tapprove.KeyProtection
import java.security.PrivateKey
import java.security.PublicKey
import java.security.Signature

/** Holds P-256 key pairs by alias (Android Keystore on devices, software keys in tests). */
interface KeyProvider {
    /** Creates (or replaces) the P-256 key [alias]; returns its public key. */
    fun generate(alias: String): PublicKey

    /** The private key handle of [alias] (for a hardware key: a handle, not the key), or null. */
    fun privateKey(alias: String): PrivateKey?

    /** The public key of [alias], or null. */
    fun publicKey(alias: String): PublicKey?

    /** Deletes [alias] (no error if missing). */
    fun delete(alias: String)
}

/**
 * A [DeviceSigner] over the Java Cryptography Architecture: ECDSA P-256 with SHA-256
 * (`SHA256withECDSA`, DER signatures) and X.509-encoded public keys, both of which the SDK
 * accepts. Private keys stay in the [KeyProvider]: only public keys and signatures go to Rust.
 * [protection] is what the provider's keys are (reported at pairing; software by default).
 */
class JcaSigner(
    private val keys: KeyProvider,
    private val protection: KeyProtection = KeyProtection.SOFTWARE,
) : DeviceSigner {
    override fun createKey(alias: String): ByteArray = keys.generate(alias).encoded

    override fun publicKey(alias: String): ByteArray? = keys.publicKey(alias)?.encoded

    override fun sign(alias: String, message: ByteArray): ByteArray {
        val key = keys.privateKey(alias) ?: throw dev.tapprove.AuthException.Platform("The device key for this account is missing (was the app data cleared?); remove the account and pair again.")
        return Signature.getInstance("SHA256withECDSA").run {
            initSign(key)
            update(message)
            sign()
        }
    }

    override fun deleteKey(alias: String) = keys.delete(alias)

    override fun keyProtection(): KeyProtection = protection
}
