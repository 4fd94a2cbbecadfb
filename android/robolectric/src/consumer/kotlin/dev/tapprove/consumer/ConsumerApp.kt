package dev.tapprove.consumer

import android.app.Application
import com.google.firebase.messaging.FirebaseMessagingService
import com.google.firebase.messaging.RemoteMessage
import dev.tapprove.android.NotificationReadiness
import dev.tapprove.android.Tapprove
import dev.tapprove.android.ApprovalNotifications

/**
 * A small app as a host team writes it, compiled against the AAR's classes.jar only: it owns
 * FCM and forwards Tapprove's messages in one line each (docs/BINDINGS.md "Android: first login").
 */
class ConsumerMessagingService : FirebaseMessagingService() {
    override fun onNewToken(token: String) = Tapprove.onNewPushToken(token)

    override fun onMessageReceived(message: RemoteMessage) {
        Tapprove.onPushData(this, message.data)
    }
}

/** `Application.onCreate` configures the SDK; the approval screen's intent action is public API. */
class ConsumerApp : Application() {
    override fun onCreate() {
        super.onCreate()
        Tapprove.configure(this, "https://auth.example.com", "tap_sdk_REPLACE_WITH_YOUR_KEY_")
    }

    /** What the app's settings screen shows when login requests cannot be shown. */
    fun notificationProblem(): String? =
        ApprovalNotifications.readiness(this).takeIf { it != NotificationReadiness.READY }?.message(this)
}
