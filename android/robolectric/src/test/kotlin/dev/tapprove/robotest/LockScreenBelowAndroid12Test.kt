package dev.tapprove.robotest

import android.app.KeyguardManager
import dev.tapprove.android.ApprovalNotifications
import dev.tapprove.jvmtest.str
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import org.robolectric.annotation.Config

/**
 * Android 11 (API 30), where notification actions cannot ask for the unlock themselves
 * (`setAuthenticationRequired` is API 31): an approving action on a locked phone must not
 * answer, and opens the approval screen instead.
 */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [30])
class LockScreenBelowAndroid12Test : GlueTest() {
    @Test
    fun `below Android 12 an approving action on a locked phone answers nothing and opens the approval screen`() {
        val user = World.user("locked")
        pair(user, "fcm-$user")
        val (session, message) = login(user, "fcm-$user", "choose")
        val id = session.str("id")!!
        deliver(message)
        val n = onlyNotification()
        val approve = n.actions.first { it.title == session.str("presence_code") }
        val keyguard = shadowOf(app.getSystemService(KeyguardManager::class.java))
        keyguard.setKeyguardLocked(true)
        try {
            tap(approve)
            assertEquals("nothing answered while locked", "sent" to null, status(id))
            val opened = shadowOf(RuntimeEnvironment.getApplication()).nextStartedActivity
            assertNotNull("the approval screen opens instead", opened)
            assertEquals(ApprovalNotifications.ACTION_APPROVE_SCREEN, opened.action)
            assertEquals(id, opened.getStringExtra(ApprovalNotifications.EXTRA_REQUEST_ID))
        } finally {
            keyguard.setKeyguardLocked(false)
        }
        // Unlocked, the same action answers.
        tap(approve)
        assertEquals("accepted" to "approved", status(id))
    }

    @Test
    fun `below Android 12 denying still works on a locked phone`() {
        val user = World.user("locked-deny")
        pair(user, "fcm-$user")
        val (session, message) = login(user, "fcm-$user", "entry")
        deliver(message)
        val keyguard = shadowOf(app.getSystemService(KeyguardManager::class.java))
        keyguard.setKeyguardLocked(true)
        try {
            tap(onlyNotification().actions.first { it.title == "Not me" })
        } finally {
            keyguard.setKeyguardLocked(false)
        }
        assertEquals("rejected" to "fraud_reported", status(session.str("id")!!))
        assertNull(shadowOf(RuntimeEnvironment.getApplication()).nextStartedActivity)
    }

}
