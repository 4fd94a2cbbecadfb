package dev.tapprove.android

import android.content.Context
import dev.tapprove.Authenticator
import dev.tapprove.DeviceSigner
import dev.tapprove.LogLevel
import dev.tapprove.Logger
import dev.tapprove.PushRegistration
import dev.tapprove.SecureStore
import dev.tapprove.ServiceConfig
import dev.tapprove.common.HttpUrlConnectionStreamTransport
import dev.tapprove.common.HttpUrlConnectionTransport
import dev.tapprove.common.PushPayloads
import dev.tapprove.common.PushResult
import dev.tapprove.initLogging
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.launch

/**
 * The process-wide SDK instance. Call [configure] once in `Application.onCreate()`; the FCM
 * service, the action receiver and the app's screens then use [authenticator]. Nothing here
 * depends on Firebase: the app's own push service (or the FCM adapter's
 * `dev.tapprove.android.fcm.TapproveMessagingService`) calls [onPushData] and [onNewPushToken].
 */
object Tapprove {
    @Volatile private var instance: Authenticator? = null

    /** Background work of the glue (token updates, answers from notification actions). */
    val scope = CoroutineScope(SupervisorJob() + Dispatchers.IO)

    /**
     * Sets up the SDK with the Keystore-backed store and signer, and [BiometricUserVerifier] for
     * requests that ask to verify the user. Idempotent.
     */
    fun configure(context: Context, serverUrl: String, sdkKey: String) {
        if (instance != null) return
        val app = context.applicationContext
        configure(app, ServiceConfig(serverUrl, sdkKey, android.os.Build.MODEL), { KeystoreSecureStore(app) }, { KeystoreSigner(app) })
        authenticator.setUserVerifier(BiometricUserVerifier(app))
    }

    /**
     * Sets up the SDK with the app's own [store] and [signer] (an MDM-managed key store, or a
     * test without Android Keystore). Idempotent: the first configuration wins. Never throws for
     * storage trouble (an unreadable account is listed by `accountsNeedingRepair()`).
     */
    fun configure(context: Context, config: ServiceConfig, store: () -> SecureStore, signer: () -> DeviceSigner) {
        if (instance != null) return
        synchronized(this) {
            if (instance != null) return
            initLogging(LogLevel.INFO, AndroidLogger)
            // Every call, the event stream included, through the platform's HTTP stack: the
            // phone build has no TLS of its own, and user/MDM CAs, proxies and VPN rules apply.
            instance = Authenticator.withTransport(config, store(), signer(), HttpUrlConnectionTransport(), HttpUrlConnectionStreamTransport())
            ApprovalNotifications.registerChannel(context.applicationContext)
        }
    }

    /** The SDK; [configure] must have run. */
    val authenticator: Authenticator
        get() = instance ?: error("call Tapprove.configure(context, serverUrl, sdkKey) in Application.onCreate()")

    /**
     * What an FCM data message means: a verified login request is shown as a notification (or,
     * without notifications, left for the app's `pending()` list; see [Delivery.readiness]);
     * anything that is not Tapprove's is [PushResult.NotOurs] and left to the app.
     */
    fun onPushData(context: Context, data: Map<String, String>): Delivery {
        val result = PushPayloads.handleFcm(authenticator, data)
        val readiness = (result as? PushResult.Show)?.let { ApprovalNotifications.show(context, it.request) }
        when {
            result is PushResult.Ignore -> android.util.Log.i("Tapprove", "login request not shown: ${result.reason}")
            readiness != null && readiness != NotificationReadiness.READY ->
                android.util.Log.w("Tapprove", "login request not shown: $readiness")
        }
        return Delivery(result, readiness)
    }

    /** What [onPushData] did: the verdict on the message and, for a login request, whether it was shown. */
    data class Delivery(val result: PushResult, val readiness: NotificationReadiness?)

    /** A new FCM token (FCM rotates them): sends it for every account, in the background. */
    fun onNewPushToken(token: String) {
        scope.launch {
            try {
                registerPushToken(token)
            } catch (e: dev.tapprove.AuthException) {
                android.util.Log.w("Tapprove", "push token not registered: ${e.userMessage()}")
            }
        }
    }

    /** Sends an FCM token for every account (no-op without accounts); throws `AuthException`. */
    suspend fun registerPushToken(token: String) = register(PushPayloads.fcmRegistration(token))

    /**
     * A new or changed Web Push subscription from the UnifiedPush adapter (the module
     * `tapprove-android-unifiedpush`): sent for every account in the background, as an FCM token.
     */
    fun onNewWebPushSubscription(subscription: String) = registerInBackground(PushPayloads.webPushRegistration(subscription))

    /** The push registration is gone (the distributor dropped it): the device polls or listens. */
    fun onPushUnregistered() = registerInBackground(PushPayloads.noPush)

    private fun registerInBackground(registration: PushRegistration) {
        scope.launch {
            try {
                register(registration)
            } catch (e: dev.tapprove.AuthException) {
                android.util.Log.w("Tapprove", "push registration not sent: ${e.userMessage()}")
            }
        }
    }

    /** Sends [registration] for every account (no-op without accounts); throws `AuthException`. */
    suspend fun register(registration: PushRegistration) {
        val auth = instance ?: return
        if (auth.accounts().isEmpty()) return
        auth.updatePushToken(registration)
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
