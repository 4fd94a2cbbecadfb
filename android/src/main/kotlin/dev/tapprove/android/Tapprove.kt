package dev.tapprove.android

import android.content.Context
import dev.tapprove.Authenticator
import dev.tapprove.LogLevel
import dev.tapprove.Logger
import dev.tapprove.ServiceConfig
import dev.tapprove.common.PushPayloads
import dev.tapprove.initLogging
import com.google.firebase.messaging.FirebaseMessaging
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.launch
import kotlinx.coroutines.tasks.await

/**
 * The process-wide SDK instance. Call [configure] once in `Application.onCreate()`; the FCM
 * service, the action receiver and the app's screens then use [authenticator].
 */
object Tapprove {
    @Volatile private var instance: Authenticator? = null

    /** Background work of the glue (token updates, answers from notification actions). */
    val scope = CoroutineScope(SupervisorJob() + Dispatchers.IO)

    /** Sets up the SDK with the Keystore-backed store and signer. Idempotent. */
    fun configure(context: Context, serverUrl: String, sdkKey: String) {
        if (instance != null) return
        synchronized(this) {
            if (instance != null) return
            initLogging(LogLevel.INFO, AndroidLogger)
            val app = context.applicationContext
            instance = Authenticator(
                ServiceConfig(serverUrl, sdkKey, android.os.Build.MODEL),
                KeystoreSecureStore(app),
                KeystoreSigner(app),
            )
            ApprovalNotifications.registerChannel(app)
        }
        // Tokens rotate: re-register on every start (cheap when unchanged).
        scope.launch {
            runCatching { registerPushToken(FirebaseMessaging.getInstance().token.await()) }
        }
    }

    /** The SDK; [configure] must have run. */
    val authenticator: Authenticator
        get() = instance ?: error("call Tapprove.configure(context, serverUrl, sdkKey) in Application.onCreate()")

    /** Sends an FCM token for every account (no-op without accounts). */
    suspend fun registerPushToken(token: String) {
        val auth = instance ?: return
        if (auth.accounts().isEmpty()) return
        auth.updatePushToken(PushPayloads.fcmRegistration(token))
    }

    private object AndroidLogger : Logger {
        override fun log(level: LogLevel, target: String, message: String) {
            val tag = "Tapprove"
            when (level) {
                LogLevel.ERROR -> android.util.Log.e(tag, message)
                LogLevel.WARN -> android.util.Log.w(tag, message)
                LogLevel.INFO -> android.util.Log.i(tag, message)
                else -> android.util.Log.d(tag, message)
            }
        }
    }
}
