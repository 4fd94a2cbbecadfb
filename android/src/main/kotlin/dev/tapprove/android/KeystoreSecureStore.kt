package dev.tapprove.android

import android.content.Context
import android.content.SharedPreferences
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.util.Base64
import dev.tapprove.SecureStore
import dev.tapprove.common.AesGcmSealer
import dev.tapprove.common.FileBackend
import dev.tapprove.common.KeyValueBackend
import dev.tapprove.common.SealedSecureStore
import java.io.File
import java.security.KeyStore
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey

/**
 * [SecureStore] for Android: values sealed with AES-256-GCM under a key held in Android Keystore
 * (never exported), stored as files under `noBackupFilesDir` ([storeBackend]). The key does not
 * require user authentication, so a push handler can read accounts in the background.
 */
class KeystoreSecureStore(context: Context, name: String = "tapprove") :
    SecureStore by SealedSecureStore(storeBackend(context, name), AesGcmSealer { keystoreKey("$name.store") })

/**
 * The files of the store [name]: `noBackupFilesDir/tapprove/<name>`, out of Auto Backup and
 * device transfer (the Keystore key never moves, so a copied value could only fail to open).
 * Values an earlier version kept in the SharedPreferences file [name] move here once (still
 * sealed) and leave that file, which backups do copy.
 */
fun storeBackend(context: Context, name: String = "tapprove"): FileBackend {
    val files = FileBackend(File(File(context.noBackupFilesDir, "tapprove"), name))
    val legacy = context.getSharedPreferences(name, Context.MODE_PRIVATE)
    val old = SharedPreferencesBackend(legacy)
    for (key in old.names()) {
        // Storage trouble never stops the app: a value that does not move now stays where it
        // was and moves on a later start.
        try {
            old.read(key)?.let { files.write(key, it) }
            old.remove(key)
        } catch (e: Exception) {
            android.util.Log.w("Tapprove", "could not move $key out of SharedPreferences: $e")
        }
    }
    return files
}

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

/** Private SharedPreferences holding the base64 of sealed bytes (where earlier versions kept the store; see [storeBackend]). */
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
