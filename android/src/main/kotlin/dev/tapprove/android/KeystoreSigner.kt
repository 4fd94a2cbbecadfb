package dev.tapprove.android

import android.content.Context
import android.content.pm.PackageManager
import android.os.Build
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.security.keystore.StrongBoxUnavailableException
import dev.tapprove.DeviceSigner
import dev.tapprove.KeyProtection
import dev.tapprove.common.JcaSigner
import dev.tapprove.common.KeyProvider
import java.security.KeyPairGenerator
import java.security.KeyStore
import java.security.PrivateKey
import java.security.PublicKey
import java.security.spec.ECGenParameterSpec

/**
 * [DeviceSigner] for Android: one P-256 key per account in Android Keystore, in StrongBox when
 * the device has it, else in the TEE. The private key never leaves the Keystore; Rust receives
 * only public keys and signatures (DER, which the SDK accepts).
 */
class KeystoreSigner(context: Context) :
    DeviceSigner by JcaSigner(AndroidKeystoreKeys(context), KeyProtection.HARDWARE)

private class AndroidKeystoreKeys(context: Context) : KeyProvider {
    private val strongBox = Build.VERSION.SDK_INT >= 28 &&
        context.packageManager.hasSystemFeature(PackageManager.FEATURE_STRONGBOX_KEYSTORE)

    private fun keyStore() = KeyStore.getInstance("AndroidKeyStore").apply { load(null) }

    private fun alias(a: String) = "tapprove.device.$a"

    override fun generate(alias: String): PublicKey {
        delete(alias)
        return try {
            generate(alias, strongBox)
        } catch (e: StrongBoxUnavailableException) {
            generate(alias, false)
        }
    }

    private fun generate(alias: String, inStrongBox: Boolean): PublicKey {
        val spec = KeyGenParameterSpec.Builder(alias(alias), KeyProperties.PURPOSE_SIGN)
            .setAlgorithmParameterSpec(ECGenParameterSpec("secp256r1"))
            .setDigests(KeyProperties.DIGEST_SHA256)
            .apply { if (inStrongBox && Build.VERSION.SDK_INT >= 28) setIsStrongBoxBacked(true) }
            .build()
        val gen = KeyPairGenerator.getInstance(KeyProperties.KEY_ALGORITHM_EC, "AndroidKeyStore")
        gen.initialize(spec)
        return gen.generateKeyPair().public
    }

    override fun privateKey(alias: String): PrivateKey? = keyStore().getKey(alias(alias), null) as? PrivateKey

    override fun publicKey(alias: String): PublicKey? = keyStore().getCertificate(alias(alias))?.publicKey

    override fun delete(alias: String) {
        val ks = keyStore()
        if (ks.containsAlias(alias(alias))) ks.deleteEntry(alias(alias))
    }
}
