package dev.tapprove.android

import android.Manifest
import android.app.NotificationChannel
import android.app.NotificationManager
import android.app.PendingIntent
import android.content.Context
import android.content.Intent
import android.content.pm.PackageManager
import androidx.core.app.NotificationCompat
import androidx.core.app.NotificationManagerCompat
import androidx.core.content.ContextCompat
import dev.tapprove.LoginRequest
import dev.tapprove.common.ApprovalAction
import dev.tapprove.common.RequestPresentation

/** The login-request notification: opens the approval screen; Deny / Not me act directly. */
object ApprovalNotifications {
    const val CHANNEL_ID = "tapprove_login_requests"

    /** Intent action the app's approval activity handles (declare it in the app manifest). */
    const val ACTION_APPROVE_SCREEN = "dev.tapprove.action.APPROVAL_SCREEN"
    const val EXTRA_REQUEST_ID = "dev.tapprove.extra.REQUEST_ID"
    const val EXTRA_ACTION = "dev.tapprove.extra.ACTION"

    /** Creates the high-importance channel (idempotent). */
    fun registerChannel(context: Context) {
        val channel = NotificationChannel(CHANNEL_ID, "Login requests", NotificationManager.IMPORTANCE_HIGH).apply {
            description = "Approve or deny sign-ins to your accounts"
        }
        context.getSystemService(NotificationManager::class.java).createNotificationChannel(channel)
    }

    private fun notificationId(requestId: String) = requestId.hashCode()

    /** Shows [request]; does nothing without the notification permission. */
    fun show(context: Context, request: LoginRequest) {
        if (ContextCompat.checkSelfPermission(context, Manifest.permission.POST_NOTIFICATIONS) != PackageManager.PERMISSION_GRANTED &&
            android.os.Build.VERSION.SDK_INT >= 33
        ) {
            return
        }
        val p = RequestPresentation.of(request)
        val open = Intent(ACTION_APPROVE_SCREEN).setPackage(context.packageName)
            .putExtra(EXTRA_REQUEST_ID, request.id)
            .addFlags(Intent.FLAG_ACTIVITY_NEW_TASK or Intent.FLAG_ACTIVITY_CLEAR_TOP)
        val flags = PendingIntent.FLAG_UPDATE_CURRENT or PendingIntent.FLAG_IMMUTABLE
        val builder = NotificationCompat.Builder(context, CHANNEL_ID)
            .setSmallIcon(android.R.drawable.ic_lock_lock)
            .setContentTitle(p.title)
            .setContentText(p.prompt)
            .setStyle(NotificationCompat.BigTextStyle().bigText((listOf(p.body) + p.details + p.prompt).joinToString("\n")))
            .setPriority(NotificationCompat.PRIORITY_HIGH)
            .setCategory(NotificationCompat.CATEGORY_CALL)
            .setAutoCancel(true)
            .setTimeoutAfter(((request.expiresAt * 1000) - System.currentTimeMillis()).coerceAtLeast(1_000))
            .setContentIntent(PendingIntent.getActivity(context, notificationId(request.id), open, flags))
        for ((i, action) in ApprovalAction.forNotification(request).withIndex()) {
            val intent = Intent(context, ApprovalActionReceiver::class.java)
                .putExtra(EXTRA_REQUEST_ID, request.id)
                .putExtra(EXTRA_ACTION, action.encode())
            val pending = PendingIntent.getBroadcast(context, notificationId(request.id) * 8 + i, intent, flags)
            builder.addAction(0, action.label(), pending)
        }
        NotificationManagerCompat.from(context).notify(notificationId(request.id), builder.build())
    }

    /** Removes the notification of [requestId] (answered, expired, decided elsewhere). */
    fun dismiss(context: Context, requestId: String) {
        NotificationManagerCompat.from(context).cancel(notificationId(requestId))
    }
}
