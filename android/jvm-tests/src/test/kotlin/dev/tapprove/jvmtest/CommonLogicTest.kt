package dev.tapprove.jvmtest

import dev.tapprove.AuthException
import dev.tapprove.ClosedReason
import dev.tapprove.Decision
import dev.tapprove.DenyReason
import dev.tapprove.LoginContext
import dev.tapprove.LoginRequest
import dev.tapprove.PresenceMode
import dev.tapprove.UserVerification
import dev.tapprove.RespondOutcome
import dev.tapprove.SessionReason
import dev.tapprove.SessionStatus
import dev.tapprove.common.AesGcmSealer
import dev.tapprove.common.ApprovalAction
import dev.tapprove.common.ApprovalMessage
import dev.tapprove.common.BrowserOs
import dev.tapprove.common.ContextLine
import dev.tapprove.common.ApprovalUiState
import dev.tapprove.common.ApprovalViewModel
import dev.tapprove.common.MemoryBackend
import dev.tapprove.common.PushPayloads
import dev.tapprove.common.RequestPresentation
import dev.tapprove.common.Responder
import dev.tapprove.common.SealedSecureStore
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import javax.crypto.KeyGenerator

/** The Android-free shell logic (android/src/common/kotlin), without a service. */
class CommonLogicTest {
    private val request = LoginRequest(
        id = "ses_1", accountId = "acc_1", user = "alice", title = "Log in to Demo Bank?",
        body = "Someone is signing in.",
        context = LoginContext("Demo Bank", "203.0.113.7", "Lyon, FR", "Mozilla/5.0 (X11; Linux x86_64) Chrome/140.0 Safari/537.36", browser = "Chrome", os = "Linux"),
        presenceMode = PresenceMode.CHOOSE, options = listOf("17", "42", "88"), codeLength = null, userVerification = null,
        issuedAt = 1_000, expiresAt = 1_120,
    )
    private val scope = CoroutineScope(Dispatchers.Default)

    @Test
    fun `the fcm registration names the platform`() {
        assertEquals("FCM", PushPayloads.fcmRegistration("tok").platform.name)
        assertEquals("tok", PushPayloads.fcmRegistration("tok").token)
    }

    @Test
    fun `actions encode for notification intents and map to decisions`() {
        for (a in listOf(ApprovalAction.Choose("42"), ApprovalAction.Approve, ApprovalAction.Deny, ApprovalAction.NotMe)) {
            assertEquals(a, ApprovalAction.decode(a.encode()))
        }
        assertEquals(ApprovalAction.ENTER_CODE, ApprovalAction.EnterCode("1234").encode(), "typed codes never go into intents")
        assertEquals(ApprovalAction.EnterCode("1234"), ApprovalAction.decode(ApprovalAction.ENTER_CODE, " 1234 "))
        assertNull(ApprovalAction.decode(ApprovalAction.ENTER_CODE, "  "), "an empty RemoteInput answers nothing")
        assertNull(ApprovalAction.decode(ApprovalAction.ENTER_CODE, null))
        assertNull(ApprovalAction.decode("choose:"))
        assertNull(ApprovalAction.decode("launch-missiles"))
        assertEquals(Decision.Deny(DenyReason.NOT_ME), ApprovalAction.NotMe.toDecision())
        assertEquals(Decision.Approve(" 42 ".trim()), ApprovalAction.EnterCode(" 42 ").toDecision())
        assertEquals(request.options.map { ApprovalAction.Choose(it) }, ApprovalAction.forNotification(request))
        assertEquals(
            listOf(ApprovalAction.EnterCode(""), ApprovalAction.Deny, ApprovalAction.NotMe),
            ApprovalAction.forNotification(request.copy(presenceMode = PresenceMode.ENTRY, options = emptyList())),
        )
        assertEquals(3, ApprovalAction.forNotification(request.copy(presenceMode = PresenceMode.NONE, options = emptyList())).size)
        // User verification needs the app on screen: the notification only denies.
        for (uv in listOf(UserVerification.REQUIRED, UserVerification.PREFERRED)) {
            assertEquals(
                listOf(ApprovalAction.Deny, ApprovalAction.NotMe),
                ApprovalAction.forNotification(request.copy(presenceMode = PresenceMode.ENTRY, options = emptyList(), userVerification = uv)),
            )
        }
    }

    @Test
    fun `presentation shows context briefly, the browser from the signed names`() {
        assertEquals(
            listOf(
                ContextLine.App("Demo Bank"), ContextLine.Near("Lyon, FR"), ContextLine.Ip("203.0.113.7"),
                ContextLine.Browser(BrowserOs("Chrome", "Linux")), ContextLine.Account("alice"),
            ),
            ContextLine.of(request),
        )
        // Only the service's signed names are shown, never the visitor's own user agent text.
        val forged = request.copy(context = request.context.copy(userAgent = "Firefox/1 (Windows) approve now", browser = null, os = "Linux"))
        assertEquals(ContextLine.Browser(BrowserOs(null, "Linux")), ContextLine.of(forged)[3])
        val unnamed = request.copy(context = request.context.copy(browser = null, os = null))
        assertTrue(ContextLine.of(unnamed).none { it is ContextLine.Browser })
        assertEquals("1:05", RequestPresentation.countdown(65))
        assertEquals("0:00", RequestPresentation.countdown(-3))
    }

    private fun vm(now: Long, responder: Responder) = ApprovalViewModel(request, responder, scope) { now }

    @Test
    fun `approval screen states`() {
        val accepted = RespondOutcome("ses_1", SessionStatus.ACCEPTED, SessionReason.APPROVED)
        val ok = vm(1_000) { _, d ->
            assertEquals(Decision.Approve("42"), d)
            accepted
        }
        assertEquals(120L, (ok.state.value as ApprovalUiState.Deciding).secondsLeft)
        assertNull(ok.submit(ApprovalAction.Choose("99")), "not an option")
        assertEquals(ApprovalMessage.NotAnOption, (ok.state.value as ApprovalUiState.Deciding).error)
        runBlocking { ok.submit(ApprovalAction.Choose("42"))!!.join() }
        assertEquals(ApprovalUiState.Done(true, ApprovalMessage.Decided(accepted)), ok.state.value)

        // Retryable failure: back to deciding with the message.
        val unreachable = AuthException.Network("could not reach the service")
        val offline = vm(1_000) { _, _ -> throw unreachable }
        runBlocking { offline.submit(ApprovalAction.Deny)!!.join() }
        assertEquals(ApprovalMessage.Failed(unreachable), (offline.state.value as ApprovalUiState.Deciding).error)

        // Over elsewhere: closed.
        val answered = AuthException.RequestClosed(ClosedReason.ALREADY_ANSWERED, "already answered")
        val closed = vm(1_000) { _, _ -> throw answered }
        runBlocking { closed.submit(ApprovalAction.NotMe)!!.join() }
        assertEquals(ApprovalUiState.Closed(ApprovalMessage.Failed(answered)), closed.state.value)

        // Expiry by the countdown, and a decision from another device.
        var now = 1_000L
        val ticking = ApprovalViewModel(request, { _, _ -> error("not called") }, scope) { now }
        now = 1_119
        ticking.tick()
        assertEquals(1L, (ticking.state.value as ApprovalUiState.Deciding).secondsLeft)
        now = 1_121
        ticking.tick()
        assertEquals(ApprovalUiState.Closed(ApprovalMessage.TimedOut), ticking.state.value)
        val elsewhere = vm(1_000) { _, _ -> error("not called") }
        elsewhere.onDecidedElsewhere(SessionStatus.ACCEPTED)
        assertEquals(ApprovalUiState.Closed(ApprovalMessage.AnsweredElsewhere), elsewhere.state.value)

        // Entry mode needs a code.
        val entry = ApprovalViewModel(request.copy(presenceMode = PresenceMode.ENTRY, options = emptyList()), { _, _ -> accepted }, scope) { 1_000 }
        assertNull(entry.submit(ApprovalAction.EnterCode("  ")))
        assertEquals(ApprovalMessage.CodeMissing, (entry.state.value as ApprovalUiState.Deciding).error)
    }

    @Test
    fun `sealed store encrypts, binds values to names and reports tampering`() {
        val backend = MemoryBackend()
        val key = KeyGenerator.getInstance("AES").apply { init(256) }.generateKey()
        val store = SealedSecureStore(backend, AesGcmSealer { key })
        store.set("account/acc_1", "{\"id\":\"acc_1\"}".toByteArray())
        assertArrayEquals("{\"id\":\"acc_1\"}".toByteArray(), store.get("account/acc_1"))
        assertTrue(!String(backend.read("account/acc_1")!!, Charsets.ISO_8859_1).contains("acc_1"), "stored in clear")
        assertEquals(listOf("account/acc_1"), store.listKeys("account/"))
        assertNull(store.get("account/none"))

        backend.write("account/acc_2", backend.read("account/acc_1")!!)
        assertThrows(AuthException.Platform::class.java) { store.get("account/acc_2") }
        val tampered = backend.read("account/acc_1")!!.also { it[it.size - 1] = (it[it.size - 1].toInt() xor 1).toByte() }
        backend.write("account/acc_1", tampered)
        assertThrows(AuthException.Platform::class.java) { store.get("account/acc_1") }
        store.delete("account/acc_1")
        assertNull(store.get("account/acc_1"))
    }
}
