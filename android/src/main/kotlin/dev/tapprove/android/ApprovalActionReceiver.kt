package dev.tapprove.android

import android.content.BroadcastReceiver
import android.content.Context
import android.content.Intent
import dev.tapprove.AuthException
import dev.tapprove.common.ApprovalAction
import kotlinx.coroutines.launch

/** Answers from a notification action (Deny / Not me, or Approve for requests without a code). */
class ApprovalActionReceiver : BroadcastReceiver() {
    override fun onReceive(context: Context, intent: Intent) {
        val requestId = intent.getStringExtra(ApprovalNotifications.EXTRA_REQUEST_ID) ?: return
        val action = ApprovalAction.decode(intent.getStringExtra(ApprovalNotifications.EXTRA_ACTION)) ?: return
        val done = goAsync()
        ApprovalNotifications.dismiss(context, requestId)
        Tapprove.scope.launch {
            try {
                Tapprove.authenticator.respond(requestId, action.toDecision())
            } catch (e: AuthException) {
                android.util.Log.w("Tapprove", "answer from notification failed: ${e.userMessage()}")
            } finally {
                done.finish()
            }
        }
    }
}
