package dev.tapprove.jvmtest

import dev.tapprove.AccountImport
import dev.tapprove.AuthException
import dev.tapprove.Authenticator
import dev.tapprove.CancelToken
import dev.tapprove.Decision
import dev.tapprove.HttpBodyStream
import dev.tapprove.HttpRequest
import dev.tapprove.HttpStreamTransport
import dev.tapprove.LoginRequest
import dev.tapprove.RequestListener
import dev.tapprove.ServiceConfig
import dev.tapprove.SessionStatus
import dev.tapprove.common.HttpUrlConnectionStreamTransport
import dev.tapprove.common.HttpUrlConnectionTransport
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
import java.io.IOException
import java.net.ServerSocket
import java.net.URL
import java.util.Base64
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.CountDownLatch
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import kotlin.concurrent.thread

/**
 * The event stream through the platform's HTTP stack (the shipped
 * `HttpUrlConnectionStreamTransport`, the body read piece by piece) against a REAL
 * `tapprove serve`, and cancelling calls from Kotlin with a `CancelToken`.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class StreamingAndCancelTest {
    private lateinit var webhook: TrustWebhook
    private lateinit var service: TapproveService

    @BeforeAll
    fun start() {
        webhook = TrustWebhook()
        service = TapproveService.start(webhook)
    }

    @AfterAll
    fun stop() {
        if (::service.isInitialized) service.close()
        if (::webhook.isInitialized) webhook.close()
    }

    /** A body of the shipped transport, counting the SDK's cancels. */
    private class CountingBody(private val inner: HttpBodyStream) : HttpBodyStream by inner {
        val cancels = AtomicInteger()

        override fun cancel() {
            cancels.incrementAndGet()
            inner.cancel()
        }
    }

    /** The shipped streaming transport (android/src/common), recording what it opened. */
    private class Recording(private val inner: HttpStreamTransport = HttpUrlConnectionStreamTransport()) : HttpStreamTransport {
        val opened = CopyOnWriteArrayList<String>()
        val bodies = CopyOnWriteArrayList<CountingBody>()

        override fun openStream(request: HttpRequest): HttpBodyStream {
            opened.add("${request.method} ${URL(request.url).path}")
            return CountingBody(inner.openStream(request)).also { bodies.add(it) }
        }
    }

    @Test
    fun `listen goes through the platform stream, approves, and cancel closes the connection`() {
        val (store, _) = newStore()
        val (signer, _) = newSigner()
        val streaming = Recording()
        val auth = Authenticator.withTransport(
            ServiceConfig(service.url, service.sdkKey, "JVM streaming device"),
            store,
            signer,
            HttpUrlConnectionTransport(),
            streaming,
        )
        webhook.issue("erin", "ERIN-CODE")
        runBlocking { auth.pair("erin", "ERIN-CODE", null) }

        val requests = LinkedBlockingQueue<LoginRequest>()
        val decided = LinkedBlockingQueue<Pair<String, SessionStatus>>()
        val errors = LinkedBlockingQueue<AuthException>()
        val handle = auth.listen(null, object : RequestListener {
            override fun onRequest(request: LoginRequest) { requests.add(request) }
            override fun onDecided(requestId: String, status: SessionStatus) { decided.add(requestId to status) }
            override fun onError(error: AuthException) { errors.add(error) }
            override fun onClosed() {}
        })
        // The stream is open (its head read) before the login starts.
        for (i in 0 until 200) {
            if (streaming.bodies.isNotEmpty()) break
            Thread.sleep(25)
        }
        val session = service.createSession("erin")
        val id = session.str("id")!!
        val code = session.str("presence_code")!!
        val request = requests.poll(20, TimeUnit.SECONDS)
        assertNotNull(request, "no live request; errors: $errors; service log:\n${service.log()}")
        assertEquals(id, request!!.id)
        assertEquals(listOf("GET /v1/device/events"), streaming.opened.toList())

        val outcome = runBlocking { auth.respond(id, Decision.Approve(code)) }
        assertEquals(SessionStatus.ACCEPTED, outcome.status)
        assertEquals(id to SessionStatus.ACCEPTED, decided.poll(10, TimeUnit.SECONDS), "decided arrives on the platform stream")
        assertEquals("accepted", service.session(id).str("status"))

        handle.cancel()
        val body = streaming.bodies.first()
        for (i in 0 until 200) {
            if (body.cancels.get() > 0) break
            Thread.sleep(25)
        }
        assertTrue(body.cancels.get() > 0, "cancelling the listener cancels the platform stream")
        assertFalse(handle.isActive())
    }

    @Test
    fun `a CancelToken ends a call whose service never answers`() {
        val server = ServerSocket(0)
        val closed = CountDownLatch(1)
        thread(isDaemon = true) {
            server.accept().use { socket ->
                val input = socket.getInputStream()
                val buf = ByteArray(8192)
                input.read(buf) // the request
                // Never answer; the client closing its end ends this read.
                try {
                    while (input.read(buf) >= 0) Unit
                } catch (_: IOException) {
                }
                closed.countDown()
            }
        }
        val url = "http://127.0.0.1:${server.localPort}"
        val (store, _) = newStore()
        val (signer, _) = newSigner()
        val auth = Authenticator(ServiceConfig(url, service.sdkKey, null), store, signer)
        val spki = signer.createKey("hang-key")
        // The last 65 bytes of a P-256 SubjectPublicKeyInfo are the point.
        val point = spki.copyOfRange(spki.size - 65, spki.size)
        val account = auth.importAccount(
            AccountImport(
                "acc_hang", "prj_hang", "Hang Bank", "frank", url, service.sdkKey,
                Base64.getUrlEncoder().withoutPadding().encodeToString(point), "hang-key", 1_800_000_000,
            ),
        )
        val token = CancelToken()
        thread(isDaemon = true) {
            Thread.sleep(300)
            token.cancel()
        }
        val started = System.nanoTime()
        val error = assertThrows(AuthException.Cancelled::class.java) {
            runBlocking { auth.pending(account.id, token) }
        }
        val seconds = (System.nanoTime() - started) / 1e9
        assertTrue(seconds < 5, "cancelled after $seconds s")
        assertFalse(error.isRetryable())
        assertTrue(token.isCancelled())
        assertTrue(closed.await(5, TimeUnit.SECONDS), "the cancelled call closed its connection")
        server.close()
    }
}
