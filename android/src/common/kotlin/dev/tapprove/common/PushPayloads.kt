package dev.tapprove.common

import dev.tapprove.AuthException
import dev.tapprove.AuthenticatorInterface
import dev.tapprove.LoginRequest
import dev.tapprove.PushPlatform
import dev.tapprove.PushRegistration

/** What to do with an incoming push message. */
sealed interface PushResult {
    /** A verified login request: show the approval notification / screen. */
    data class Show(val request: LoginRequest) : PushResult

    /** Not a Tapprove message: let the app's other handlers have it. */
    data object NotOurs : PushResult

    /**
     * A Tapprove message that must not be shown (already answered, expired, forged, for an
     * account no longer on this device). [reason] is for logs; it holds no secret.
     */
    data class Ignore(val reason: String) : PushResult
}

/** Push payload handling shared by the FCM service and tests. No Android APIs. */
object PushPayloads {
    /** The FCM registration to send at pairing and on every new token. */
    fun fcmRegistration(token: String): PushRegistration =
        PushRegistration(platform = PushPlatform.FCM, token = token, environment = null)

    /** The Web Push registration: [subscription] is `{"endpoint","keys":{"p256dh","auth"}}`. */
    fun webPushRegistration(subscription: String): PushRegistration =
        PushRegistration(platform = PushPlatform.WEBPUSH, token = subscription, environment = null)

    /** No push (the distributor dropped the registration): the device polls or listens. */
    val noPush: PushRegistration = PushRegistration(platform = PushPlatform.NONE, token = "", environment = null)

    /**
     * Verifies an FCM data map (`RemoteMessage.getData()`) with the core: offline, fast, safe to
     * call on any thread. The core reads the map itself (`handlePushData`) and decides whether
     * it is Tapprove's; nothing is encoded as JSON here. A sealed message (`tapprove_sealed`,
     * docs/PROTOCOL.md §11) carries only a generic title: the notification is built from the
     * verified request, never from the data map's text.
     */
    fun handleFcm(auth: AuthenticatorInterface, data: Map<String, String>): PushResult = verdict { auth.handlePushData(data) }

    /** Verifies a push payload given as JSON (APNs userInfo). */
    fun handleJson(auth: AuthenticatorInterface, json: String): PushResult = verdict { auth.handlePush(json) }

    private inline fun verdict(read: () -> LoginRequest?): PushResult =
        try {
            when (val request = read()) {
                null -> PushResult.NotOurs
                else -> PushResult.Show(request)
            }
        } catch (e: AuthException.RequestClosed) {
            PushResult.Ignore(e.reason.toString())
        } catch (e: AuthException) {
            PushResult.Ignore(e.userMessage())
        }
}
