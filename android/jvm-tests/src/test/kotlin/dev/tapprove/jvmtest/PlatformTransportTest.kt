package dev.tapprove.jvmtest

import dev.tapprove.AuthException
import dev.tapprove.Authenticator
import dev.tapprove.Decision
import dev.tapprove.HttpRequest
import dev.tapprove.HttpResponse
import dev.tapprove.HttpTransport
import dev.tapprove.ServiceConfig
import dev.tapprove.SessionStatus
import dev.tapprove.common.HttpUrlConnectionTransport
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.Timeout
import java.net.HttpURLConnection
import java.net.ServerSocket
import java.net.URL
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.TimeUnit

/**
 * The platform HTTP transport (android/src/common HttpUrlConnectionTransport, plain
 * HttpURLConnection) carrying every device API call to a REAL `tapprove serve`: pairing, the
 * pending list and the answer go through Kotlin's HTTP stack, with the request proof made in
 * Rust.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class PlatformTransportTest {
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

    /** Records what Rust asked the platform stack to send, and what came back. */
    private class Recording(private val inner: HttpTransport) : HttpTransport {
        val calls = CopyOnWriteArrayList<String>()
        val headerNames = CopyOnWriteArrayList<Set<String>>()

        override fun send(request: HttpRequest): HttpResponse {
            calls.add("${request.method} ${URL(request.url).path}")
            headerNames.add(request.headers.map { it.name.lowercase() }.toSet())
            return inner.send(request)
        }
    }

    private fun authenticator(transport: HttpTransport): Authenticator {
        val (store, _) = newStore()
        val (signer, _) = newSigner()
        val config = ServiceConfig(service.url, service.sdkKey, "JVM transport device")
        return Authenticator.withTransport(config, store, signer, transport)
    }

    @Test
    fun `pair, poll and approve through HttpURLConnection, and the site sees accepted`() {
        val opened = CopyOnWriteArrayList<String>()
        val transport = Recording(
            HttpUrlConnectionTransport { url ->
                opened.add(url.path)
                url.openConnection() as HttpURLConnection
            },
        )
        val auth = authenticator(transport)
        webhook.issue("carol", "CARO-LCOD")
        val account = runBlocking { auth.pair("carol", "CARO-LCOD", null) }
        assertEquals("carol", account.user)

        val session = service.createSession("carol")
        val id = session.str("id")!!
        val code = session.str("presence_code")!!
        val request = runBlocking { auth.pending(null) }.single { it.id == id }
        assertTrue(code in request.options)
        val outcome = runBlocking { auth.respond(id, Decision.Approve(code)) }
        assertEquals(SessionStatus.ACCEPTED, outcome.status)
        assertEquals("accepted", service.session(id).str("status"))

        assertEquals(
            listOf("POST /v1/device/pair", "GET /v1/device/pending", "POST /v1/device/answers"),
            transport.calls.toList(),
        )
        assertEquals(transport.calls.map { it.substringAfter(' ') }, opened.toList(), "HttpURLConnection opened each call")
        // The proof was made in Rust and handed over as a finished header.
        assertTrue("authorization" in transport.headerNames[1], "pending carried a request proof")
        assertFalse("authorization" in transport.headerNames[0], "pairing authenticates with the SDK key")
        assertTrue("x-tapprove-sdk-key" in transport.headerNames[0])

        // An error status (read from HttpURLConnection's errorStream) is the service's answer,
        // typed as usual, not a transport failure.
        val rejected = assertThrows(AuthException.PairingRejected::class.java) {
            runBlocking { auth.pair("carol", "WRON-GCOD", null) }
        }
        assertTrue(rejected.message!!.isNotEmpty())
        assertEquals("POST /v1/device/pair", transport.calls.last())
    }

    @Test
    fun `an unreachable service through the platform stack is a network error`() {
        val dead = ServerSocket(0).use { it.localPort }
        val transport = HttpUrlConnectionTransport { url ->
            URL("http", "127.0.0.1", dead, url.file).openConnection() as HttpURLConnection
        }
        val auth = authenticator(transport)
        webhook.issue("dave", "DAVE-CODE")
        val error = assertThrows(AuthException.Network::class.java) {
            runBlocking { auth.pair("dave", "DAVE-CODE", null) }
        }
        assertTrue(error.message!!.contains("127.0.0.1"), error.message)
        assertTrue(auth.accounts().isEmpty())
    }
}
