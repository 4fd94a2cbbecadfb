package dev.tapprove.android

import com.google.firebase.messaging.FirebaseMessagingService
import com.google.firebase.messaging.RemoteMessage
import dev.tapprove.common.PushPayloads
import dev.tapprove.common.PushResult
import kotlinx.coroutines.launch

/**
 * FCM entry point. `onNewToken` re-registers the token for every account; `onMessageReceived`
 * verifies a Tapprove data message with the core (offline, signature checked against the pinned
 * service key) and shows a high-priority notification. Other messages are ignored here; an app
 * with its own FCM messages subclasses this service and handles [PushResult.NotOurs].
 */
open class TapproveMessagingService : FirebaseMessagingService() {
    override fun onNewToken(token: String) {
        Tapprove.scope.launch { runCatching { Tapprove.registerPushToken(token) } }
    }

    override fun onMessageReceived(message: RemoteMessage) {
        when (val result = PushPayloads.handleFcm(Tapprove.authenticator, message.data)) {
            is PushResult.Show -> ApprovalNotifications.show(this, result.request)
            is PushResult.Ignore -> android.util.Log.i("Tapprove", "login request not shown: ${result.reason}")
            PushResult.NotOurs -> onOtherMessage(message)
        }
    }

    /** A message that is not Tapprove's. */
    open fun onOtherMessage(message: RemoteMessage) {}
}
