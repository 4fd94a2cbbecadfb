package dev.tapprove.android.unifiedpush

import android.content.Context
import dev.tapprove.Account
import dev.tapprove.android.Tapprove
import dev.tapprove.common.PushResult
import org.json.JSONObject
import org.unifiedpush.android.connector.FailedReason
import org.unifiedpush.android.connector.INSTANCE_DEFAULT
import org.unifiedpush.android.connector.PushService
import org.unifiedpush.android.connector.UnifiedPush
import org.unifiedpush.android.connector.data.PushEndpoint
import org.unifiedpush.android.connector.data.PushMessage

/**
 * The ready-made UnifiedPush adapter (artifact `tapprove-android-unifiedpush`), for phones
 * without Google Play services: Web Push through the distributor the user chose (ntfy,
 * NextPush, …). The app declares this service in its manifest with the connector's
 * `org.unifiedpush.android.connector.PUSH_EVENT` intent filter (the library declares none) and
 * calls [register] after pairing. The connector decrypts each message (RFC 8291, Tink) before
 * it arrives here: decryption stays out of the Rust core. An app with its own PushService
 * forwards with [TapproveUnifiedPush.onNewEndpoint] and [TapproveUnifiedPush.onMessage].
 */
open class TapproveUnifiedPushService : PushService() {
    override fun onNewEndpoint(endpoint: PushEndpoint, instance: String) =
        TapproveUnifiedPush.onNewEndpoint(endpoint)

    override fun onMessage(message: PushMessage, instance: String) {
        if (TapproveUnifiedPush.onMessage(this, message) == PushResult.NotOurs) onOtherMessage(message)
    }

    override fun onRegistrationFailed(reason: FailedReason, instance: String) {
        android.util.Log.w("Tapprove", "UnifiedPush registration failed: $reason")
    }

    override fun onUnregistered(instance: String) = TapproveUnifiedPush.onUnregistered()

    /** A message that is not Tapprove's. */
    open fun onOtherMessage(message: PushMessage) {}

    companion object {
        /**
         * Registers with the user's current (or the default) distributor, with the service's
         * VAPID key the account got at pairing. Calls back false when no distributor is
         * installed or the service sends no Web Push: the app then falls back to FCM or
         * listening.
         */
        fun register(context: Context, account: Account, done: (Boolean) -> Unit = {}) {
            val key = account.vapidPublicKey
            if (key == null) {
                // The service sends no Web Push: nothing to register for.
                done(false)
                return
            }
            register(context, key, done)
        }

        /** [register] with the VAPID key given by hand (the account's `vapidPublicKey`). */
        fun register(context: Context, vapidPublicKey: String, done: (Boolean) -> Unit = {}) {
            UnifiedPush.tryUseCurrentOrDefaultDistributor(context) { found ->
                if (found) UnifiedPush.register(context, INSTANCE_DEFAULT, null, vapidPublicKey)
                done(found)
            }
        }
    }
}

/** What the adapter does with the connector's events; usable from an app's own PushService. */
object TapproveUnifiedPush {
    /** A new or changed endpoint: registered with the service, as an FCM token refresh is. */
    fun onNewEndpoint(endpoint: PushEndpoint) {
        val keys = endpoint.pubKeySet
        if (keys == null) {
            // Without keys the service could only send readable messages: Web Push needs them.
            android.util.Log.w("Tapprove", "UnifiedPush endpoint without keys ignored")
            return
        }
        Tapprove.onNewWebPushSubscription(subscription(endpoint.url, keys.pubKey, keys.auth))
    }

    /** A decrypted message: the FCM data map as JSON, handed to the core as an FCM message. */
    fun onMessage(context: Context, message: PushMessage): PushResult {
        if (!message.decrypted) {
            android.util.Log.w("Tapprove", "UnifiedPush message not decrypted by the connector: dropped")
            return PushResult.NotOurs
        }
        val data = dataMap(message.content.toString(Charsets.UTF_8)) ?: return PushResult.NotOurs
        return Tapprove.onPushData(context, data).result
    }

    /** The distributor dropped the registration: the device polls until it registers again. */
    fun onUnregistered() = Tapprove.onPushUnregistered()

    /** The registration token of a `webpush` device (docs/PUSH.md). */
    fun subscription(url: String, p256dh: String, auth: String): String =
        JSONObject().put("endpoint", url)
            .put("keys", JSONObject().put("p256dh", p256dh).put("auth", auth))
            .toString()

    /** A flat JSON object of strings as a map; null when the message is something else. */
    internal fun dataMap(json: String): Map<String, String>? = try {
        val o = JSONObject(json)
        o.keys().asSequence().associateWith { o.getString(it) }
    } catch (e: org.json.JSONException) {
        null
    }
}
