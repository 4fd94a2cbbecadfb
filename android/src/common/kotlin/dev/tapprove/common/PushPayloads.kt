package dev.tapprove.common

import dev.tapprove.AuthException
import dev.tapprove.AuthenticatorInterface
import dev.tapprove.ClosedReason
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
    /** The data-map key carrying the signed challenge (docs/PROTOCOL.md §11). */
    const val KEY = "tapprove"

    /** Whether an FCM data map is Tapprove's. */
    fun isTapprove(data: Map<String, String>): Boolean = data.containsKey(KEY)

    /** The FCM registration to send at pairing and on every new token. */
    fun fcmRegistration(token: String): PushRegistration =
        PushRegistration(platform = PushPlatform.FCM, token = token, environment = null)

    /** An FCM data map (all values strings) as the JSON object `handlePush` reads. */
    fun toJson(data: Map<String, String>): String =
        data.entries.joinToString(prefix = "{", postfix = "}", separator = ",") { (k, v) ->
            jsonString(k) + ":" + jsonString(v)
        }

    /** Verifies an FCM data map with the core: offline, fast, safe to call on any thread. */
    fun handleFcm(auth: AuthenticatorInterface, data: Map<String, String>): PushResult {
        if (!isTapprove(data)) return PushResult.NotOurs
        return handleJson(auth, toJson(data))
    }

    /** Verifies a push payload given as JSON (APNs userInfo or FCM data map). */
    fun handleJson(auth: AuthenticatorInterface, json: String): PushResult =
        try {
            when (val request = auth.handlePush(json)) {
                null -> PushResult.NotOurs
                else -> PushResult.Show(request)
            }
        } catch (e: AuthException.RequestClosed) {
            PushResult.Ignore(if (e.reason == ClosedReason.EXPIRED) "expired" else "already answered")
        } catch (e: AuthException) {
            PushResult.Ignore(e.userMessage())
        }

    /** A JSON string literal (RFC 8259 escaping). */
    fun jsonString(s: String): String {
        val out = StringBuilder(s.length + 2).append('"')
        for (c in s) {
            when (c) {
                '"' -> out.append("\\\"")
                '\\' -> out.append("\\\\")
                '\n' -> out.append("\\n")
                '\r' -> out.append("\\r")
                '\t' -> out.append("\\t")
                '\b' -> out.append("\\b")
                '\u000C' -> out.append("\\f")
                else -> if (c < ' ') out.append(String.format("\\u%04x", c.code)) else out.append(c)
            }
        }
        return out.append('"').toString()
    }
}
