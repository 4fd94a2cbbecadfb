package dev.tapprove.android.fcm

import com.google.firebase.messaging.FirebaseMessaging
import com.google.firebase.messaging.FirebaseMessagingService
import com.google.firebase.messaging.RemoteMessage
import dev.tapprove.android.Tapprove
import dev.tapprove.common.PushResult

/**
 * The ready-made FCM adapter (artifact `tapprove-android-fcm`), for apps without a
 * FirebaseMessagingService of their own. The app declares it in its own manifest (the library
 * declares none, so an app never ends up with two MESSAGING_EVENT services). An app that already
 * has a service does not need this: it forwards with `Tapprove.onPushData(context, data)` and
 * `Tapprove.onNewPushToken(token)`. An app with other FCM messages subclasses this and overrides
 * [onOtherMessage].
 */
open class TapproveMessagingService : FirebaseMessagingService() {
    override fun onNewToken(token: String) = Tapprove.onNewPushToken(token)

    override fun onMessageReceived(message: RemoteMessage) {
        if (Tapprove.onPushData(this, message.data).result == PushResult.NotOurs) onOtherMessage(message)
    }

    /** A message that is not Tapprove's. */
    open fun onOtherMessage(message: RemoteMessage) {}

    companion object {
        /** Registers the current FCM token; call after [Tapprove.configure] on each start. */
        fun registerCurrentToken() {
            FirebaseMessaging.getInstance().token
                .addOnSuccessListener { token -> Tapprove.onNewPushToken(token) }
                .addOnFailureListener { e -> android.util.Log.w("Tapprove", "no FCM token yet: ${e.message}") }
        }
    }
}
