package dev.tapprove.jvmtest

import dev.tapprove.AccountNeedingRepair
import dev.tapprove.AuthException
import dev.tapprove.Authenticator
import dev.tapprove.ClosedReason
import dev.tapprove.Decision
import dev.tapprove.LogLevel
import dev.tapprove.LoginRequest
import dev.tapprove.PresenceMode
import dev.tapprove.RepairCause
import dev.tapprove.RequestListener
import dev.tapprove.SecureStore
import dev.tapprove.ServiceConfig
import dev.tapprove.SessionReason
import dev.tapprove.SessionStatus
import dev.tapprove.common.ApprovalAction
import dev.tapprove.common.ApprovalUiState
import dev.tapprove.common.PairingProblem
import dev.tapprove.common.ApprovalViewModel
import dev.tapprove.common.PairingUiState
import dev.tapprove.common.PairingViewModel
import dev.tapprove.common.responderOf
import dev.tapprove.initLogging
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.Timeout
import java.net.ServerSocket
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit

/**
 * The Kotlin API against a REAL `tapprove serve` (target/debug/tapprove) and a trust webhook in
 * this JVM: pairing, a login request arriving by polling and by live listening, answers, and the
 * relying party seeing the decision. Kotlin implementations of SecureStore and DeviceSigner are
 * used by Rust throughout.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class EndToEndTest {
    private lateinit var webhook: TrustWebhook
    private lateinit var service: TapproveService
    private val logger = CollectingLogger()

    @BeforeAll
    fun start() {
        initLogging(LogLevel.DEBUG, logger)
        webhook = TrustWebhook()
        service = TapproveService.start(webhook)
    }

    @AfterAll
    fun stop() {
        if (::service.isInitialized) service.close()
        if (::webhook.isInitialized) webhook.close()
    }

    private fun config() = ServiceConfig(service.url, service.sdkKey, "JVM test device")

    private class Device(val auth: Authenticator, val store: CountingStore, val signer: CountingSigner, val keys: SoftwareKeyProvider)

    private fun device(): Device {
        val (store, _) = newStore()
        val (signer, keys) = newSigner()
        return Device(Authenticator(config(), store, signer), store, signer, keys)
    }

    private fun pair(d: Device, user: String, code: String) = runBlocking {
        webhook.issue(user, code)
        d.auth.pair(user, code, null)
    }

    @Test
    fun `pair, poll, approve with the right number, and the site sees accepted`() {
        val d = device()
        val account = pair(d, "alice", "7KQ2-M9XD")
        assertEquals("alice", account.user)
        assertEquals("JVM Bank", account.projectName)
        assertEquals(service.projectId, account.projectId)
        assertEquals(listOf(account), d.auth.accounts())
        assertEquals(1, d.signer.creates.get(), "the Kotlin signer created the device key")
        assertTrue(d.store.sets.get() > 0, "the Kotlin store keeps the account")
        assertEquals(1, d.keys.pairs.size)

        // A second Authenticator over the same store sees the account (persisted through Kotlin).
        assertEquals(listOf(account), Authenticator(config(), d.store, d.signer).accounts())

        val session = service.createSession("alice")
        val id = session.str("id")!!
        val code = session.str("presence_code")!!
        val pending = runBlocking { d.auth.pending(null) }
        val request = pending.single { it.id == id }
        assertEquals(PresenceMode.CHOOSE, request.presenceMode)
        assertEquals(3, request.options.size)
        assertTrue(code in request.options, "the page's code is among the options")
        assertEquals("JVM Bank", request.context.app)
        assertEquals("Lyon, FR", request.context.location)

        val signsBefore = d.signer.signs.get()
        val outcome = runBlocking { d.auth.respond(id, Decision.Approve(code)) }
        assertEquals(SessionStatus.ACCEPTED, outcome.status)
        assertTrue(d.signer.signs.get() > signsBefore, "the answer was signed by the Kotlin signer")
        assertTrue(d.auth.isAnswered(id))

        val seen = service.session(id)
        assertEquals("accepted", seen.str("status"))
        assertEquals("approved", seen.str("reason"))

        // Answering twice is an exception, not a second answer.
        val again = assertThrows(AuthException.RequestClosed::class.java) {
            runBlocking { d.auth.respond(id, Decision.Approve(code)) }
        }
        assertEquals(ClosedReason.ALREADY_ANSWERED, again.reason)

        // Logs reached the Kotlin logger, and no secret did.
        assertTrue(logger.lines.any { it.contains("tapprove") }, "no SDK log line: ${logger.lines}")
        assertFalse(logger.lines.any { it.contains("7KQ2-M9XD") }, "the pairing code was logged")
    }

    @Test
    fun `listen delivers a live request and the approval screen reports a wrong number`() {
        val d = device()
        pair(d, "bob", "BOBB-CODE")
        val requests = LinkedBlockingQueue<LoginRequest>()
        val decided = LinkedBlockingQueue<Pair<String, SessionStatus>>()
        val errors = LinkedBlockingQueue<AuthException>()
        val handle = d.auth.listen(null, object : RequestListener {
            override fun onRequest(request: LoginRequest) { requests.add(request) }
            override fun onDecided(requestId: String, status: SessionStatus) { decided.add(requestId to status) }
            override fun onError(error: AuthException) { errors.add(error) }
            override fun onClosed() {}
        })
        try {
            val session = service.createSession("bob")
            val id = session.str("id")!!
            val code = session.str("presence_code")!!
            val request = requests.poll(20, TimeUnit.SECONDS)
            assertNotNull(request, "no live request; errors: $errors; service log:\n${service.log()}")
            assertEquals(id, request!!.id)

            val wrong = request.options.first { it != code }
            val vm = ApprovalViewModel(request, responderOf(d.auth), CoroutineScope(Dispatchers.Default))
            assertEquals(5, vm.actions.size, "three options + Deny + Not me")
            runBlocking { vm.submit(ApprovalAction.Choose(wrong))!!.join() }
            val done = vm.state.value as ApprovalUiState.Done
            assertFalse(done.approved)
            assertEquals(SessionReason.WRONG_NUMBER, done.message.outcome.reason)
            assertEquals("wrong_number", service.session(id).str("reason"))

            val over = decided.poll(10, TimeUnit.SECONDS)
            assertEquals(id to SessionStatus.REJECTED, over, "the stream reports the decision")
            assertTrue(handle.isActive())
        } finally {
            handle.cancel()
        }
        assertFalse(handle.isActive())
        handle.close()
    }

    @Test
    fun `not me from a notification action is reported as fraud, then unpair`() {
        val d = device()
        val account = pair(d, "carol", "CARO-L123")
        val id = service.createSession("carol").str("id")!!
        runBlocking { d.auth.pending(account.id) }
        val action = ApprovalAction.decode(ApprovalAction.NotMe.encode())!!
        val outcome = runBlocking { d.auth.respond(id, action.toDecision()) }
        assertEquals(SessionStatus.REJECTED, outcome.status)
        assertEquals(SessionReason.FRAUD_REPORTED, outcome.reason)
        assertEquals("fraud_reported", service.session(id).str("reason"))

        runBlocking { d.auth.unpair(account.id) }
        assertEquals(emptyList<Any>(), d.auth.accounts())
        assertEquals(1, d.signer.deletes.get(), "the device key was deleted through the Kotlin signer")
        assertTrue(d.keys.pairs.isEmpty())
        val (status, body) = service.rp(
            "POST", "/v1/push/sessions",
            """{"user":"carol","notification":{"title":"t","body":"b"}}""",
        )
        assertEquals(422, status, "the service forgot the device: $body")
    }

    @Test
    fun `the pair screen pairs with a code and reports a wrong one`() {
        val d = device()
        val vm = PairingViewModel(d.auth, CoroutineScope(Dispatchers.Default))
        webhook.issue("dave", "DAVE-0001")
        runBlocking { vm.submitCode("dave", "WRONG-999")!!.join() }
        val form = vm.state.value as PairingUiState.Form
        val problem = form.error
        assertTrue(problem is PairingProblem.Failed, "$problem")
        runBlocking { vm.submitCode("dave", " ") }
        assertEquals(PairingUiState.Form(PairingProblem.MissingInput), vm.state.value)
        runBlocking { vm.submitCode(" dave ", "DAVE-0001")!!.join() }
        val paired = vm.state.value as PairingUiState.Paired
        assertEquals("dave", paired.account.user)
    }

    @Test
    fun `failures arrive as typed exceptions`() {
        val d = device()
        // The relying party refuses an unknown code.
        webhook.issue("erin", "ERIN-GOOD")
        assertThrows(AuthException.PairingRejected::class.java) {
            runBlocking { d.auth.pair("erin", "ERIN-BAD0", null) }
        }
        assertEquals(emptyList<Any>(), d.auth.accounts())

        // A malformed SDK key is refused before any network.
        val bad = assertThrows(AuthException.InvalidInput::class.java) {
            Authenticator(ServiceConfig(service.url, "tap_sdk_short", null), d.store, d.signer)
        }
        assertTrue(bad.userMessage().contains("tap_sdk_"), bad.userMessage())

        // A well-formed key the service does not know.
        val stranger = Authenticator(ServiceConfig(service.url, "tap_sdk_AAAAAAAAAAAAAAAAAAAAAA", null), d.store, d.signer)
        assertThrows(AuthException::class.java) {
            runBlocking { stranger.pair("erin", "ERIN-GOOD", null) }
        }

        // Approving a choose request without an answer is refused locally.
        pair(d, "frank", "FRAN-K000")
        val id = service.createSession("frank").str("id")!!
        runBlocking { d.auth.pending(null) }
        assertThrows(AuthException.InvalidInput::class.java) {
            runBlocking { d.auth.respond(id, Decision.Approve(null)) }
        }

        // An exception thrown by Kotlin platform code comes back as an exception, not a crash.
        // A store that throws never stops the app from starting: the call that needs it says why.
        val lockedAuth = Authenticator(config(), ThrowingStore(), d.signer)
        val locked = assertThrows(AuthException.Platform::class.java) { lockedAuth.accounts() }
        assertTrue(locked.userMessage().contains("keystore is locked"), locked.userMessage())
        // A record that no longer decrypts (a backup restore without the Keystore key): the app
        // starts, lists the account as needing re-pairing, and removes it.
        val frank = d.auth.accounts().single { it.user == "frank" }
        val restored = object : SecureStore by d.store {
            override fun get(key: String): ByteArray? =
                if (key == "account/${frank.id}") throw IllegalStateException("AEADBadTagException") else d.store.get(key)
        }
        val afterRestore = Authenticator(config(), restored, d.signer)
        assertFalse(afterRestore.accounts().any { it.id == frank.id })
        assertEquals(
            listOf(AccountNeedingRepair(frank.id, RepairCause.UNREADABLE)),
            afterRestore.accountsNeedingRepair(),
        )
        afterRestore.forgetAccount(frank.id)
        assertTrue(afterRestore.accountsNeedingRepair().isEmpty())
        val noHardware = assertThrows(AuthException.Platform::class.java) {
            runBlocking { Authenticator(config(), newStore().first, ThrowingSigner()).pair("x", "y", null) }
        }
        assertTrue(noHardware.userMessage().contains("secure hardware unavailable"), noHardware.userMessage())

        // Nothing listening: a retryable network error.
        val port = ServerSocket(0).use { it.localPort }
        val offline = Authenticator(ServiceConfig("http://127.0.0.1:$port", service.sdkKey, null), newStore().first, newSigner().first)
        val net = assertThrows(AuthException.Network::class.java) {
            runBlocking { offline.pair("x", "y", null) }
        }
        assertTrue(net.isRetryable())
    }
}
