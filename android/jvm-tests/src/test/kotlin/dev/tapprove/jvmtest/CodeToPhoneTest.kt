package dev.tapprove.jvmtest

import dev.tapprove.AuthException
import dev.tapprove.Authenticator
import dev.tapprove.Decision
import dev.tapprove.DenyReason
import dev.tapprove.PresenceMode
import dev.tapprove.ServiceConfig
import dev.tapprove.UvFailure
import dev.tapprove.UvMethod
import dev.tapprove.VerifyResult
import dev.tapprove.common.ApprovalAction
import dev.tapprove.common.DisplayCodeModel
import dev.tapprove.common.DisplayCodeState
import dev.tapprove.common.codeShowerOf
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import kotlinx.serialization.json.jsonObject
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.Timeout
import java.util.concurrent.TimeUnit

/**
 * Code to phone (`"presence": "display"`, docs/PROTOCOL.md §7a) through the Kotlin API against a
 * REAL `tapprove serve` under `nist-aal2`: the phone gets the code, the site never does; the
 * code is shown only after the user is verified, and the site's code counts only after the
 * phone's signed acknowledgement (which `showCode` sends).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class CodeToPhoneTest {
    private lateinit var webhook: TrustWebhook
    private lateinit var service: TapproveService

    @BeforeAll
    fun start() {
        webhook = TrustWebhook()
        service = TapproveService.start(webhook, policy = "nist-aal2")
    }

    @AfterAll
    fun stop() {
        if (::service.isInitialized) service.close()
        if (::webhook.isInitialized) webhook.close()
    }

    private fun pairedDevice(user: String, code: String): Authenticator {
        val (store, _) = newStore()
        val (signer, _) = newSigner()
        val auth = Authenticator(ServiceConfig(service.url, service.sdkKey, "JVM test device"), store, signer)
        webhook.issue(user, code)
        runBlocking { auth.pair(user, code, null) }
        return auth
    }

    private fun submit(id: String, code: String) =
        service.rp("POST", "/v1/push/sessions/$id/code", """{"code":"$code"}""")

    @Test
    fun `the phone shows the code after verification and the site's typed code signs in`() {
        val auth = pairedDevice("gina", "7KQ2-M4XD")
        val created = service.createSession("gina", presence = "display")
        val id = created.str("id")!!
        assertNull(created.str("presence_code"), "the site never gets the code: $created")

        val request = runBlocking { auth.pending(null) }.single { it.id == id }
        assertEquals(PresenceMode.DISPLAY, request.presenceMode)
        val code = request.displayCode!!
        assertTrue(Regex("^[0-9]{6,12}$").matches(code), code)

        // Before the phone showed it to a verified user, the service refuses the code.
        val (early, body) = submit(id, code)
        assertEquals(409, early, "$body")
        assertEquals("code_not_shown", body["error"]!!.jsonObject.str("code"))

        // No verifier: no code, nothing acknowledged.
        val none = assertThrows(AuthException.UserVerification::class.java) {
            runBlocking { auth.showCode(id) }
        }
        assertEquals(UvFailure.UNAVAILABLE, none.reason)
        // The app cannot approve it: the login prompt takes the code.
        assertThrows(AuthException.InvalidInput::class.java) {
            runBlocking { auth.respond(id, Decision.Approve(code)) }
        }

        val verifier = ScriptedVerifier { VerifyResult.Verified(UvMethod.BIOMETRIC) }
        auth.setUserVerifier(verifier)
        // The approval screen's model: the code only after "Show the code" and the identity check.
        val model = DisplayCodeModel(request, codeShowerOf(auth), CoroutineScope(Dispatchers.IO))
        assertEquals(DisplayCodeState.Hidden, model.state.value)
        assertEquals(listOf(ApprovalAction.Deny, ApprovalAction.NotMe), ApprovalAction.forScreen(request))
        assertEquals(listOf(ApprovalAction.Deny, ApprovalAction.NotMe), ApprovalAction.forNotification(request))
        runBlocking { model.reveal()!!.join() }
        assertEquals(DisplayCodeState.Shown(code), model.state.value)
        assertEquals(1, verifier.reasons.size)

        val (status, view) = submit(id, code)
        assertEquals(200, status, "$view")
        assertEquals("accepted", view.str("status"))
        assertNull(view.str("presence_code"))
    }

    @Test
    fun `this wasn't me on a shown code reports fraud`() {
        val auth = pairedDevice("hugo", "3RTV-8NWC")
        val id = service.createSession("hugo", presence = "display").str("id")!!
        runBlocking { auth.pending(null) }.single { it.id == id }
        runBlocking { auth.respond(id, Decision.Deny(DenyReason.NOT_ME)) }
        assertEquals("fraud_reported", service.session(id).str("reason"))
    }
}
