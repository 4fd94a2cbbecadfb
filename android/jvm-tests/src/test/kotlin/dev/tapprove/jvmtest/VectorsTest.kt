package dev.tapprove.jvmtest

import dev.tapprove.AccountImport
import dev.tapprove.AuthException
import dev.tapprove.Authenticator
import dev.tapprove.ClosedReason
import dev.tapprove.PresenceMode
import dev.tapprove.ServiceConfig
import dev.tapprove.common.PushPayloads
import dev.tapprove.common.PushResult
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.long
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assertions.fail
import org.junit.jupiter.api.Test

/**
 * The shared challenge vectors (tests/vectors/challenge_*.json) through the Kotlin API: each
 * token wrapped as an FCM data map (through the Android-free PushPayloads) and as an APNs
 * userInfo JSON, for an account imported with the vector's public key as the pinned service key,
 * with a Kotlin clock at the case's `now`; and the key update vectors (tests/vectors/key_update_*.json)
 * through acceptKeyUpdate. The answer vectors are checked by the service and the Rust tests: no
 * device API verifies answers.
 */
class VectorsTest {
    private val account = "acc_01JDEMO0000000000000000000"

    private fun authenticator(serviceKey: String, now: Long): Authenticator {
        val config = ServiceConfig("https://demo.example", "tap_sdk_AAAAAAAAAAAAAAAAAAAAAA", null)
        val (signer, _) = newSigner()
        val auth = Authenticator.withClock(config, newStore().first, signer, FixedClock(now))
        signer.createKey("vector-key")
        auth.importAccount(
            AccountImport(
                id = account, projectId = "prj_demo", projectName = "Demo Bank", user = "alice",
                serverUrl = "https://demo.example", sdkKey = "tap_sdk_AAAAAAAAAAAAAAAAAAAAAA",
                serviceKey = serviceKey, keyAlias = "vector-key", pairedAt = now,
            ),
        )
        return auth
    }

    private fun apns(token: String) =
        """{"aps":{"alert":{"title":"Log in?","body":"Someone is signing in."},"category":"TAPPROVE_LOGIN","mutable-content":1},"tapprove":${JsonPrimitive(token)}}"""

    private fun expectedError(code: String): Class<out AuthException> = when (code) {
        "expired" -> AuthException.RequestClosed::class.java
        "unsupported_version" -> AuthException.UpdateRequired::class.java
        "bad_signature", "malformed", "invalid", "unsupported_header", "oversized", "not_yet_valid" ->
            AuthException.InvalidNotification::class.java
        else -> fail("unknown vector error code $code")
    }

    @Test
    fun `every challenge vector through handlePush and the FCM payload handler`() {
        val files = Env.vectors.listFiles { f -> f.name.startsWith("challenge_") && f.name.endsWith(".json") }!!.sorted()
        assertTrue(files.size >= 7, "vectors missing in ${Env.vectors}")
        var checked = 0
        for (file in files) {
            val doc = parseJson(file.readText())
            val key = doc.str("public_key")!!
            for (case in doc["cases"]!!.jsonArray.map { it.jsonObject }) {
                val name = "${file.name}::${case.str("name")}"
                val token = case.str("token")!!
                val auth = authenticator(key, case["now"]!!.jsonPrimitive.long)
                val expect = case["expect"]!!.jsonObject
                val fcm = PushPayloads.handleFcm(auth, mapOf("tapprove" to token, "title" to "Log in?", "body" to "Someone is signing in."))
                if (expect["valid"]!!.jsonPrimitive.content == "true") {
                    val claims = expect["claims"]!!.jsonObject
                    val fromFcm = (fcm as? PushResult.Show)?.request ?: fail("$name: $fcm")
                    val fromApns = auth.handlePush(apns(token)) ?: fail("$name: not ours?")
                    assertEquals(fromFcm, fromApns, name)
                    assertEquals(claims.str("session_id"), fromApns.id, name)
                    assertEquals(claims.str("account_id"), fromApns.accountId, name)
                    assertEquals(claims.str("user"), fromApns.user, name)
                    assertEquals(claims.str("title"), fromApns.title, name)
                    assertEquals(claims.str("body"), fromApns.body, name)
                    val context = claims["context"]!!.jsonObject
                    assertEquals(context.str("app"), fromApns.context.app, name)
                    assertEquals(context.str("ip"), fromApns.context.ip, name)
                    assertEquals(context.str("location"), fromApns.context.location, name)
                    assertEquals(context.str("user_agent"), fromApns.context.userAgent, name)
                    val presence = claims["presence"]!!.jsonObject
                    assertEquals(PresenceMode.valueOf(presence.str("mode")!!.uppercase()), fromApns.presenceMode, name)
                    val options = presence["options"]?.jsonArray?.map { it.jsonPrimitive.content } ?: emptyList()
                    assertEquals(options, fromApns.options, name)
                    assertEquals(claims["iat"]!!.jsonPrimitive.long, fromApns.issuedAt, name)
                    assertEquals(claims["exp"]!!.jsonPrimitive.long, fromApns.expiresAt, name)
                } else {
                    val code = expect.str("error")!!
                    assertTrue(fcm is PushResult.Ignore, "$name: $fcm")
                    try {
                        auth.handlePush(apns(token))
                        fail("$name: expected $code")
                    } catch (e: AuthException) {
                        assertEquals(expectedError(code), e.javaClass, "$name: $e")
                        if (code == "expired") assertEquals(ClosedReason.EXPIRED, (e as AuthException.RequestClosed).reason)
                        assertTrue(e.userMessage().isNotBlank(), name)
                    }
                }
                checked += 2
                auth.close()
            }
        }
        assertTrue(checked >= 50, "only $checked checks")
    }

    @Test
    fun `every key update vector through acceptKeyUpdate`() {
        val files = Env.vectors.listFiles { f -> f.name.startsWith("key_update") && f.name.endsWith(".json") }!!.sorted()
        assertTrue(files.size >= 2, "key update vectors missing in ${Env.vectors}")
        var checked = 0
        for (file in files) {
            val doc = parseJson(file.readText())
            val key = doc.str("public_key")!!
            for (case in doc["cases"]!!.jsonArray.map { it.jsonObject }) {
                val name = "${file.name}::${case.str("name")}"
                val auth = authenticator(key, case["now"]!!.jsonPrimitive.long)
                val expect = case["expect"]!!.jsonObject
                if (expect["valid"]!!.jsonPrimitive.content == "true") {
                    val newKey = expect["claims"]!!.jsonObject.str("new_key")
                    assertEquals(newKey, auth.acceptKeyUpdate(account, case.str("token")!!).serviceKey, name)
                    assertEquals(newKey, auth.accounts().single().serviceKey, name)
                } else {
                    try {
                        auth.acceptKeyUpdate(account, case.str("token")!!)
                        fail("$name: expected ${expect.str("error")}")
                    } catch (e: AuthException.KeyUpdateRefused) {
                        assertEquals(expect.str("error"), e.code, name)
                    }
                    assertEquals(key, auth.accounts().single().serviceKey, "$name: the pinned key is kept")
                }
                checked += 1
                auth.close()
            }
        }
        assertTrue(checked >= 10, "only $checked key update cases")
    }

    @Test
    fun `notifications that are not Tapprove's are left alone`() {
        val auth = authenticator(parseJson(Env.vectors.resolve("challenge_valid.json").readText()).str("public_key")!!, 1_800_000_000)
        assertEquals(PushResult.NotOurs, PushPayloads.handleFcm(auth, mapOf("title" to "Your order shipped")))
        assertEquals(null, auth.handlePush("""{"aps":{"alert":"hi"}}"""))
    }

    @Suppress("unused")
    private fun JsonObject.requireStr(name: String) = str(name) ?: fail("missing $name")
}
