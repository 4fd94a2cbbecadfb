package dev.tapprove.android

import android.Manifest
import android.app.Notification
import android.app.NotificationChannel
import android.app.NotificationManager
import android.app.PendingIntent
import android.app.RemoteInput
import android.content.Context
import android.content.Intent
import android.content.pm.PackageManager
import android.net.Uri
import android.os.Build
import dev.tapprove.LoginRequest
import dev.tapprove.common.ApprovalAction
import dev.tapprove.common.RequestPresentation

/** Whether login requests can be shown as notifications, and what to tell the user if not. */
enum class NotificationReadiness(
    /** A sentence for the user: what is wrong and where to fix it. */
    val message: String,
) {
    READY("Login requests are shown as notifications."),
    PERMISSION_DENIED(
        "Tapprove may not show notifications, so login requests cannot reach you: allow notifications for this app (Settings › Apps › Notifications).",
    ),
    NOTIFICATIONS_OFF("Notifications for this app are turned off: turn them on in Settings to see login requests."),
    CHANNEL_BLOCKED("The \"Login requests\" notification category is turned off: turn it on in Settings › Apps › Notifications."),
}

/**
 * The login-request notification, with the Android framework's own APIs (minSdk 26): the
 * choices (choose mode), a code field (entry mode) or Approve (none mode) as actions, plus Deny
 * and Not me where there is room; tapping the notification opens the app's approval screen.
 */
object ApprovalNotifications {
    const val CHANNEL_ID = "tapprove_login_requests"

    /** Intent action the app's approval activity handles (declare it in the app manifest). */
    const val ACTION_APPROVE_SCREEN = "dev.tapprove.action.APPROVAL_SCREEN"

    /** Action of the broadcasts the notification's buttons send to [ApprovalActionReceiver]. */
    const val ACTION_ANSWER = "dev.tapprove.action.ANSWER"
    const val EXTRA_REQUEST_ID = "dev.tapprove.extra.REQUEST_ID"
    const val EXTRA_ACTION = "dev.tapprove.extra.ACTION"

    /** [RemoteInput] key of the code typed into an entry-mode notification. */
    const val REMOTE_INPUT_CODE = "dev.tapprove.remote_input.CODE"

    /** Data scheme of answer intents: the request id is in the URI so no two are "equal". */
    const val ANSWER_SCHEME = "tapprove-answer"

    /** Creates the high-importance channel (idempotent). */
    fun registerChannel(context: Context) {
        val channel = NotificationChannel(CHANNEL_ID, "Login requests", NotificationManager.IMPORTANCE_HIGH).apply {
            description = "Approve or deny sign-ins to your accounts"
            lockscreenVisibility = Notification.VISIBILITY_PRIVATE
        }
        manager(context).createNotificationChannel(channel)
    }

    /** Whether a login request would be shown now; the app shows [NotificationReadiness.message] otherwise. */
    fun readiness(context: Context): NotificationReadiness {
        val manager = manager(context)
        return when {
            Build.VERSION.SDK_INT >= 33 &&
                context.checkSelfPermission(Manifest.permission.POST_NOTIFICATIONS) != PackageManager.PERMISSION_GRANTED ->
                NotificationReadiness.PERMISSION_DENIED
            !manager.areNotificationsEnabled() -> NotificationReadiness.NOTIFICATIONS_OFF
            manager.getNotificationChannel(CHANNEL_ID)?.importance == NotificationManager.IMPORTANCE_NONE ->
                NotificationReadiness.CHANNEL_BLOCKED
            else -> NotificationReadiness.READY
        }
    }

    private fun manager(context: Context) = context.getSystemService(NotificationManager::class.java)

    /** The channel may be gone (deleted, app data partly cleared); Android drops posts to a missing one. */
    private fun ensureChannel(context: Context) {
        if (manager(context).getNotificationChannel(CHANNEL_ID) == null) registerChannel(context)
    }

    private fun notificationId(requestId: String) = requestId.hashCode()

    /**
     * Shows [request] and returns [NotificationReadiness.READY], or posts nothing and returns why
     * it cannot be shown (the request stays answerable from the app through `pending`).
     */
    fun show(context: Context, request: LoginRequest): NotificationReadiness {
        val readiness = readiness(context)
        if (readiness != NotificationReadiness.READY) return readiness
        ensureChannel(context)
        val p = RequestPresentation.of(request)
        val open = Intent(ACTION_APPROVE_SCREEN).setPackage(context.packageName)
            .putExtra(EXTRA_REQUEST_ID, request.id)
            .addFlags(Intent.FLAG_ACTIVITY_NEW_TASK or Intent.FLAG_ACTIVITY_CLEAR_TOP)
        if (Build.VERSION.SDK_INT >= 29) open.identifier = request.id
        val immutable = PendingIntent.FLAG_UPDATE_CURRENT or PendingIntent.FLAG_IMMUTABLE
        // The lock screen shows only that a request arrived (NIST SP 800-63B §3.1.3): no
        // context, no choices, until the phone is unlocked.
        val public = Notification.Builder(context, CHANNEL_ID)
            .setSmallIcon(android.R.drawable.ic_lock_lock)
            .setContentTitle("Login request")
            .setContentText("Unlock your phone to see it.")
            .build()
        val builder = Notification.Builder(context, CHANNEL_ID)
            .setSmallIcon(android.R.drawable.ic_lock_lock)
            .setContentTitle(p.title)
            .setContentText(p.body)
            .setSubText(request.context.app)
            .setStyle(Notification.BigTextStyle().bigText((listOf(p.body) + p.details + p.prompt).joinToString("\n")))
            .setCategory(Notification.CATEGORY_CALL)
            .setVisibility(Notification.VISIBILITY_PRIVATE)
            .setPublicVersion(public)
            .setWhen(request.issuedAt * 1000)
            .setShowWhen(true)
            .setAutoCancel(true)
            .setTimeoutAfter(((request.expiresAt * 1000) - System.currentTimeMillis()).coerceAtLeast(1_000))
            .setContentIntent(PendingIntent.getActivity(context, notificationId(request.id), open, immutable))
        for ((i, action) in ApprovalAction.forNotification(request).withIndex()) {
            builder.addAction(action(context, request.id, i, action))
        }
        manager(context).notify(notificationId(request.id), builder.build())
        return NotificationReadiness.READY
    }

    private fun action(context: Context, requestId: String, index: Int, action: ApprovalAction): Notification.Action {
        val intent = Intent(ACTION_ANSWER, Uri.fromParts(ANSWER_SCHEME, "$requestId/$index", null))
            .setClass(context, ApprovalActionReceiver::class.java)
            .putExtra(EXTRA_REQUEST_ID, requestId)
            .putExtra(EXTRA_ACTION, action.encode())
        val typed = action is ApprovalAction.EnterCode
        // A RemoteInput must be able to add the typed text: only that intent is mutable.
        val flags = PendingIntent.FLAG_UPDATE_CURRENT or
            if (typed && Build.VERSION.SDK_INT >= 31) PendingIntent.FLAG_MUTABLE else if (typed) 0 else PendingIntent.FLAG_IMMUTABLE
        val pending = PendingIntent.getBroadcast(context, notificationId(requestId) * 8 + index, intent, flags)
        val builder = Notification.Action.Builder(null, action.label(), pending)
        if (typed) {
            builder.addRemoteInput(RemoteInput.Builder(REMOTE_INPUT_CODE).setLabel("Code shown on the login page").build())
            builder.setAllowGeneratedReplies(false)
        }
        // Approving from the lock screen needs the phone unlocked first; denying does not.
        if (action.approves() && Build.VERSION.SDK_INT >= 31) builder.setAuthenticationRequired(true)
        return builder.build()
    }

    /** Replaces the request's notification by a short result (an answer that failed or was refused). */
    fun showResult(context: Context, requestId: String, message: String) {
        if (readiness(context) != NotificationReadiness.READY) return
        ensureChannel(context)
        val notification = Notification.Builder(context, CHANNEL_ID)
            .setSmallIcon(android.R.drawable.ic_lock_lock)
            .setContentTitle("Login request")
            .setContentText(message)
            .setStyle(Notification.BigTextStyle().bigText(message))
            .setAutoCancel(true)
            .build()
        manager(context).notify(notificationId(requestId), notification)
    }

    /** Removes the notification of [requestId] (answered, expired, decided elsewhere). */
    fun dismiss(context: Context, requestId: String) {
        manager(context).cancel(notificationId(requestId))
    }
}
