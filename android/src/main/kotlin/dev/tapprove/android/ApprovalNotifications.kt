package dev.tapprove.android

import android.Manifest
import android.app.KeyguardManager
import android.app.Notification
import android.app.NotificationChannel
import android.app.NotificationManager
import android.app.PendingIntent
import android.app.RemoteInput
import android.content.ActivityNotFoundException
import android.content.Context
import android.content.Intent
import android.content.pm.PackageManager
import android.net.Uri
import android.os.Build
import dev.tapprove.LoginRequest
import dev.tapprove.common.ApprovalAction

/** Whether login requests can be shown as notifications, and what to tell the user if not. */
enum class NotificationReadiness(private val text: Int) {
    READY(R.string.tapprove_readiness_ready),
    PERMISSION_DENIED(R.string.tapprove_readiness_permission_denied),
    NOTIFICATIONS_OFF(R.string.tapprove_readiness_notifications_off),
    CHANNEL_BLOCKED(R.string.tapprove_readiness_channel_blocked),
    ;

    /** A sentence for the user, in their language: what is wrong and where to fix it. */
    fun message(context: Context): String = context.getString(text)
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
        val channel = NotificationChannel(CHANNEL_ID, context.getString(R.string.tapprove_channel_name), NotificationManager.IMPORTANCE_HIGH).apply {
            description = context.getString(R.string.tapprove_channel_description)
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

    /**
     * The channel may be gone (deleted, app data partly cleared; Android drops posts to a missing
     * one), and its name must follow the user's language: creating it again restores it and
     * renames it, keeping the user's settings.
     */
    private fun ensureChannel(context: Context) = registerChannel(context)

    private fun notificationId(requestId: String) = requestId.hashCode()

    /**
     * Shows [request] and returns [NotificationReadiness.READY], or posts nothing and returns why
     * it cannot be shown (the request stays answerable from the app through `pending`).
     */
    fun show(context: Context, request: LoginRequest): NotificationReadiness {
        val readiness = readiness(context)
        if (readiness != NotificationReadiness.READY) return readiness
        ensureChannel(context)
        val p = Texts.presentation(context, request)
        val open = approvalScreen(context, request.id)
        val immutable = PendingIntent.FLAG_UPDATE_CURRENT or PendingIntent.FLAG_IMMUTABLE
        // The lock screen shows only that a request arrived (NIST SP 800-63B §3.1.3): no
        // context, no choices, until the phone is unlocked.
        val public = Notification.Builder(context, CHANNEL_ID)
            .setSmallIcon(android.R.drawable.ic_lock_lock)
            .setContentTitle(context.getString(R.string.tapprove_login_request))
            .setContentText(context.getString(R.string.tapprove_unlock_to_see))
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

    /** The app's approval screen for [requestId] (intent action [ACTION_APPROVE_SCREEN]). */
    fun approvalScreen(context: Context, requestId: String): Intent {
        val open = Intent(ACTION_APPROVE_SCREEN).setPackage(context.packageName)
            .putExtra(EXTRA_REQUEST_ID, requestId)
            .addFlags(Intent.FLAG_ACTIVITY_NEW_TASK or Intent.FLAG_ACTIVITY_CLEAR_TOP)
        if (Build.VERSION.SDK_INT >= 29) open.identifier = requestId
        return open
    }

    /**
     * Whether an approving notification action must not answer now: the phone is locked and the
     * system (below Android 12) did not ask for the unlock before delivering the action.
     */
    fun lockedWithoutActionAuthentication(context: Context): Boolean =
        Build.VERSION.SDK_INT < 31 && context.getSystemService(KeyguardManager::class.java)?.isKeyguardLocked == true

    /**
     * Opens the approval screen of [requestId] from a notification action (allowed below
     * Android 12, the only place this is used); it shows behind the lock screen until the user
     * unlocks. Without an activity for [ACTION_APPROVE_SCREEN] the notification stays.
     */
    fun openApprovalScreen(context: Context, requestId: String) {
        try {
            context.startActivity(approvalScreen(context, requestId))
            dismiss(context, requestId)
        } catch (e: ActivityNotFoundException) {
            android.util.Log.w("Tapprove", "no activity for $ACTION_APPROVE_SCREEN: declare one to approve on a locked phone below Android 12")
        }
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
        val builder = Notification.Action.Builder(null, Texts.label(context, action), pending)
        if (typed) {
            builder.addRemoteInput(RemoteInput.Builder(REMOTE_INPUT_CODE).setLabel(context.getString(R.string.tapprove_code_field_label)).build())
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
            .setContentTitle(context.getString(R.string.tapprove_login_request))
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
