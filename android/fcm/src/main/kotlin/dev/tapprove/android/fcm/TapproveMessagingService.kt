package dev.tapprove.android

import com.google.firebase.messaging.FirebaseMessaging
import com.google.firebase.messaging.FirebaseMessagingService
import com.google.firebase.messaging.RemoteMessage
import dev.tapprove.common.PushResult

/**
 * The FCM adapter, the one file of the module that uses Firebase: it hands FCM data messages
 * and new tokens to [Tapprove]. An app with its own FCM messages subclasses this service and
 * overrides [onOtherMessage].
 */
open class TapproveMessagingService : FirebaseMessagingService() {
    override fun onNewToken(token: String) = Tapprove.onNewPushToken(token)

    override fun onMessageReceived(message: RemoteMessage) {
        if (Tapprove.onPushData(this, message.data).result == PushResult.NotOurs) onOtherMessage(message)
    }

    /** A message that is not Tapprove's. */
    open fun onOtherMessage(message: RemoteMessage) {}

    companion object {
        /** Registers the current FCM token for every account; call after [Tapprove.configure] on each start. */
        fun registerCurrentToken() {
            FirebaseMessaging.getInstance().token
                .addOnSuccessListener { token -> Tapprove.onNewPushToken(token) }
                .addOnFailureListener { e -> android.util.Log.w("Tapprove", "no FCM token yet: ${e.message}") }
        }
    }
}
