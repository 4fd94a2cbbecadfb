package dev.tapprove.android

import android.content.Context
import android.content.SharedPreferences
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.util.Base64
import dev.tapprove.SecureStore
import dev.tapprove.common.AesGcmSealer
import dev.tapprove.common.KeyValueBackend
import dev.tapprove.common.SealedSecureStore
import java.security.KeyStore
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey

/**
 * [SecureStore] for Android: values sealed with AES-256-GCM under a key held in Android Keystore
 * (never exported), stored in private SharedPreferences. The key does not require user
 * authentication, so the FCM service can read accounts in the background.
 */
class KeystoreSecureStore(context: Context, name: String = "tapprove") :
    SecureStore by SealedSecureStore(SharedPreferencesBackend(context.getSharedPreferences(name, Context.MODE_PRIVATE)), AesGcmSealer { keystoreKey("$name.store") })

private const val ANDROID_KEYSTORE = "AndroidKeyStore"

/** The AES key [alias] in Android Keystore, created on first use. */
internal fun keystoreKey(alias: String): SecretKey {
    val ks = KeyStore.getInstance(ANDROID_KEYSTORE).apply { load(null) }
    (ks.getKey(alias, null) as? SecretKey)?.let { return it }
    val gen = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, ANDROID_KEYSTORE)
    gen.init(
        KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
            .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
            .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
            .setKeySize(256)
            .setUserAuthenticationRequired(false) // read paths must work from a background push
            .build(),
    )
    return gen.generateKey()
}

/** Private SharedPreferences holding the base64 of sealed bytes (the [KeystoreSecureStore] backend). */
class SharedPreferencesBackend(private val prefs: SharedPreferences) : KeyValueBackend {
    override fun read(name: String): ByteArray? = prefs.getString(name, null)?.let { Base64.decode(it, Base64.NO_WRAP) }

    override fun write(name: String, bytes: ByteArray) {
        // commit(), not apply(): the SDK relies on the value being stored when set() returns.
        check(prefs.edit().putString(name, Base64.encodeToString(bytes, Base64.NO_WRAP)).commit()) { "could not write $name" }
    }

    override fun remove(name: String) {
        check(prefs.edit().remove(name).commit()) { "could not remove $name" }
    }

    override fun names(): Set<String> = prefs.all.keys
}
