package dev.tapprove.android

import android.app.RemoteInput
import android.content.BroadcastReceiver
import android.content.Context
import android.content.Intent
import dev.tapprove.AuthException
import dev.tapprove.SessionStatus
import dev.tapprove.common.ApprovalAction
import kotlinx.coroutines.launch

/**
 * Answers from a notification action: a choice, a typed code (RemoteInput), Approve, Deny or
 * Not me. A refused or failed answer replaces the notification with the reason. Below Android 12
 * an approving action on a locked phone answers nothing and opens the approval screen instead.
 */
class ApprovalActionReceiver : BroadcastReceiver() {
    override fun onReceive(context: Context, intent: Intent) {
        val requestId = intent.getStringExtra(ApprovalNotifications.EXTRA_REQUEST_ID) ?: return
        val typed = RemoteInput.getResultsFromIntent(intent)?.getCharSequence(ApprovalNotifications.REMOTE_INPUT_CODE)?.toString()
        val action = ApprovalAction.decode(intent.getStringExtra(ApprovalNotifications.EXTRA_ACTION), typed) ?: return
        val app = context.applicationContext
        // Android 12+ asks for the unlock itself (setAuthenticationRequired); below that an
        // approving action is a plain broadcast that would work on a locked phone.
        if (action.approves() && ApprovalNotifications.lockedWithoutActionAuthentication(app)) {
            ApprovalNotifications.openApprovalScreen(app, requestId)
            return
        }
        val done = goAsync()
        ApprovalNotifications.dismiss(app, requestId)
        Tapprove.scope.launch {
            try {
                val outcome = Tapprove.authenticator.respond(requestId, action.toDecision())
                if (action.approves() && outcome.status != SessionStatus.ACCEPTED) {
                    ApprovalNotifications.showResult(app, requestId, Texts.outcome(app, outcome))
                }
            } catch (e: AuthException) {
                android.util.Log.w("Tapprove", "answer from notification failed: ${e.userMessage()}")
                ApprovalNotifications.showResult(app, requestId, Texts.error(app, e))
            } finally {
                done?.finish()
            }
        }
    }
}
