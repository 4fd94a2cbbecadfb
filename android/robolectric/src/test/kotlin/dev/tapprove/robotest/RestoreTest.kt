package dev.tapprove.robotest

import android.content.Context
import dev.tapprove.AccountNeedingRepair
import dev.tapprove.RepairCause
import dev.tapprove.ServiceConfig
import dev.tapprove.android.SharedPreferencesBackend
import dev.tapprove.android.Tapprove
import dev.tapprove.android.storeBackend
import dev.tapprove.common.AesGcmSealer
import dev.tapprove.common.JcaSigner
import dev.tapprove.common.SealedSecureStore
import dev.tapprove.jvmtest.SoftwareKeyProvider
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import javax.crypto.KeyGenerator

/**
 * A backup restored onto a new phone brings back what an earlier version kept in
 * SharedPreferences, but never the Android Keystore key that sealed it. The app must start
 * (`Tapprove.configure` does not throw) and list the account as needing re-pairing, which the
 * user can then forget and pair again. Its own JVM: it configures the process-wide SDK itself.
 */
@RunWith(RobolectricTestRunner::class)
class RestoreTest {
    private fun aesKey() = KeyGenerator.getInstance("AES").apply { init(256) }.generateKey()

    @Test
    fun `prefs restored without the Keystore key - the app starts and lists the account as needing re-pairing`() {
        val app = RuntimeEnvironment.getApplication()
        // What the backup restored: an account record sealed under the old phone's key.
        val oldPhoneKey = aesKey()
        val restored = SealedSecureStore(SharedPreferencesBackend(app.getSharedPreferences("tapprove", Context.MODE_PRIVATE)), AesGcmSealer { oldPhoneKey })
        restored.set("account/acc_restored", """{"id":"acc_restored","user":"alice"}""".toByteArray())

        // The new phone's Keystore key is another one; Robolectric has no AndroidKeyStore, so the
        // store is KeystoreSecureStore's backend and sealer with a software key.
        val newPhoneKey = aesKey()
        Tapprove.configure(
            app,
            ServiceConfig("https://auth.example.com", "tap_sdk_REPLACE_WITH_YOUR_KEY_", "Restored Pixel"),
            { SealedSecureStore(storeBackend(app), AesGcmSealer { newPhoneKey }) },
            { JcaSigner(SoftwareKeyProvider()) },
        )

        val auth = Tapprove.authenticator
        assertEquals(emptyList<Any>(), auth.accounts())
        assertEquals(listOf(AccountNeedingRepair("acc_restored", RepairCause.UNREADABLE)), auth.accountsNeedingRepair())
        assertTrue("the restored record left SharedPreferences", app.getSharedPreferences("tapprove", Context.MODE_PRIVATE).all.isEmpty())

        // The user forgets it (and pairs again); it is gone from the store too.
        auth.forgetAccount("acc_restored")
        assertEquals(emptyList<Any>(), auth.accountsNeedingRepair())
        assertEquals(emptyList<String>(), SealedSecureStore(storeBackend(app), AesGcmSealer { newPhoneKey }).listKeys("account/"))
    }
}
