package dev.tapprove.jvmtest

import dev.tapprove.AuthException
import dev.tapprove.Authenticator
import dev.tapprove.Decision
import dev.tapprove.PresenceMode
import dev.tapprove.ServiceConfig
import dev.tapprove.SessionStatus
import dev.tapprove.UserVerification
import dev.tapprove.UserVerifier
import dev.tapprove.UvFailure
import dev.tapprove.UvMethod
import dev.tapprove.VerifyResult
import dev.tapprove.common.ApprovalAction
import dev.tapprove.common.ApprovalMessage
import dev.tapprove.common.ApprovalUiState
import dev.tapprove.common.ApprovalViewModel
import dev.tapprove.common.responderOf
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.Timeout
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.TimeUnit

/** A verifier that answers what the test says and records each prompt's reason. */
class ScriptedVerifier(@Volatile var answer: () -> VerifyResult) : UserVerifier {
    val reasons = CopyOnWriteArrayList<String>()

    override fun verify(reason: String): VerifyResult {
        reasons.add(reason)
        return answer()
    }
}

/**
 * A `nist-aal2` project (docs/SECURITY.md): the login page's 6-digit code is typed on the phone
 * and every approval needs user verification, through the Kotlin API against a REAL
 * `tapprove serve`. Nothing is sent until the app's [UserVerifier] says the user is verified.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class NistAal2Test {
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

    @Test
    fun `the typed 6-digit code is approved only after the user is verified`() {
        val auth = pairedDevice("dana", "4HJ7-Q2WX")
        val session = service.createSession("dana", presence = "entry")
        val id = session.str("id")!!
        val code = session.str("presence_code")!!
        assertTrue(Regex("^[0-9]{6}$").matches(code), "the page shows six digits: $code")

        val request = runBlocking { auth.pending(null) }.single { it.id == id }
        assertEquals(PresenceMode.ENTRY, request.presenceMode)
        assertTrue(request.options.isEmpty(), "no options to pick from: the code is typed")
        assertEquals(6.toUByte(), request.codeLength)
        assertEquals(UserVerification.REQUIRED, request.userVerification)

        // No verifier: nothing can be sent, and the request stays open at the service.
        val none = assertThrows(AuthException.UserVerification::class.java) {
            runBlocking { auth.respond(id, Decision.Approve(code)) }
        }
        assertEquals(UvFailure.UNAVAILABLE, none.reason)
        assertEquals("sent", service.session(id).str("status"))

        // The user dismisses the prompt: still nothing sent.
        val verifier = ScriptedVerifier { VerifyResult.Cancelled }
        auth.setUserVerifier(verifier)
        val cancelled = assertThrows(AuthException.UserVerification::class.java) {
            runBlocking { auth.respond(id, Decision.Approve(code)) }
        }
        assertEquals(UvFailure.CANCELLED, cancelled.reason)
        assertEquals(1, verifier.reasons.size)
        assertEquals("sent", service.session(id).str("status"))

        // A verifier that throws is a failed verification, not an approval.
        verifier.answer = { throw IllegalStateException("sensor error") }
        val failed = assertThrows(AuthException.UserVerification::class.java) {
            runBlocking { auth.respond(id, Decision.Approve(code)) }
        }
        assertEquals(UvFailure.FAILED, failed.reason)
        assertEquals("sent", service.session(id).str("status"))

        // Verified: the signed answer carries uv and the site sees accepted.
        verifier.answer = { VerifyResult.Verified(UvMethod.BIOMETRIC) }
        val outcome = runBlocking { auth.respond(id, Decision.Approve(code)) }
        assertEquals(SessionStatus.ACCEPTED, outcome.status)
        assertEquals("accepted", service.session(id).str("status"))
        assertEquals(3, verifier.reasons.size, "one prompt per approval once a verifier is set")
        assertTrue(verifier.reasons.all { it.isNotBlank() }, "every prompt says why: ${verifier.reasons}")
    }

    @Test
    fun `denying needs no verification, and a cancelled check keeps the approval screen open`() {
        val auth = pairedDevice("erin", "9PLM-3ZTR")
        val verifier = ScriptedVerifier { VerifyResult.Cancelled }
        auth.setUserVerifier(verifier)
        val id = service.createSession("erin", presence = "entry").str("id")!!
        val code = service.session(id).str("presence_code")!!
        val request = runBlocking { auth.pending(null) }.single { it.id == id }

        val model = ApprovalViewModel(request, responderOf(auth), CoroutineScope(Dispatchers.IO))
        runBlocking { model.submit(ApprovalAction.EnterCode(code))!!.join() }
        val state = model.state.value
        assertTrue(state is ApprovalUiState.Deciding, "a cancelled check leaves the request answerable: $state")
        val error = (state as ApprovalUiState.Deciding).error
        assertTrue(error is ApprovalMessage.Failed && error.error is AuthException.UserVerification, "$error")
        assertEquals("sent", service.session(id).str("status"))

        val prompts = verifier.reasons.size
        runBlocking { model.submit(ApprovalAction.NotMe)!!.join() }
        assertTrue(model.state.value is ApprovalUiState.Done, "${model.state.value}")
        assertEquals(prompts, verifier.reasons.size, "denying does not prompt")
        assertEquals("rejected", service.session(id).str("status"))
        assertEquals("fraud_reported", service.session(id).str("reason"))
    }
}
