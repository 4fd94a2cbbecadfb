package dev.tapprove.robotest

import android.Manifest
import android.app.Notification
import android.app.NotificationManager
import android.content.Context
import android.content.Intent
import android.os.Looper
import com.sun.net.httpserver.HttpExchange
import com.sun.net.httpserver.HttpsConfigurator
import com.sun.net.httpserver.HttpsServer
import com.google.crypto.tink.apps.fixed_webpush.WebPushHybridDecrypt
import dev.tapprove.ServiceConfig
import dev.tapprove.android.Tapprove
import dev.tapprove.android.unifiedpush.TapproveUnifiedPushService
import dev.tapprove.common.JcaSigner
import dev.tapprove.common.MemoryBackend
import dev.tapprove.common.SealedSecureStore
import dev.tapprove.common.AesGcmSealer
import dev.tapprove.jvmtest.SoftwareKeyProvider
import dev.tapprove.jvmtest.TapproveService
import dev.tapprove.jvmtest.TrustWebhook
import dev.tapprove.jvmtest.str
import kotlinx.coroutines.Job
import kotlinx.coroutines.joinAll
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import org.unifiedpush.android.connector.FailedReason
import org.unifiedpush.android.connector.MessagingReceiver
import org.unifiedpush.android.connector.UnifiedPush
import org.unifiedpush.android.connector.data.PublicKeySet
import org.unifiedpush.android.connector.data.PushEndpoint
import org.unifiedpush.android.connector.data.PushMessage
import org.unifiedpush.android.connector.keys.KeyManager
import java.io.File
import java.math.BigInteger
import java.net.InetSocketAddress
import java.nio.file.Files
import java.security.KeyPair
import java.security.KeyPairGenerator
import java.security.KeyStore
import java.security.SecureRandom
import java.security.interfaces.ECPrivateKey
import java.security.interfaces.ECPublicKey
import java.security.spec.ECGenParameterSpec
import java.util.Base64
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import javax.crypto.KeyGenerator
import javax.net.ssl.KeyManagerFactory
import javax.net.ssl.SSLContext

// The UnifiedPush intents between distributor and connector (the connector keeps its constants
// internal): https://unifiedpush.org/spec/android/
private const val ACTION_REGISTER = "org.unifiedpush.android.distributor.REGISTER"
private const val ACTION_NEW_ENDPOINT = "org.unifiedpush.android.connector.NEW_ENDPOINT"
private const val ACTION_MESSAGE = "org.unifiedpush.android.connector.MESSAGE"
private const val EXTRA_TOKEN = "token"
private const val EXTRA_ENDPOINT = "endpoint"
private const val EXTRA_BYTES_MESSAGE = "bytesMessage"
private const val EXTRA_MESSAGE_ID = "id"

private fun b64url(bytes: ByteArray) = Base64.getUrlEncoder().withoutPadding().encodeToString(bytes)

/** The uncompressed SEC1 point of a P-256 public key (what `p256dh` and VAPID `k` carry). */
private fun uncompressed(key: ECPublicKey): ByteArray {
    fun fixed(n: BigInteger) = n.toByteArray().let { b -> ByteArray(32 - minOf(32, b.size)) + b.takeLast(32).toByteArray() }
    return byteArrayOf(4) + fixed(key.w.affineX) + fixed(key.w.affineY)
}

/**
 * A distributor's push server (RFC 8030) on loopback over HTTPS (a keytool certificate the
 * service trusts through `push.ca_file`): `POST /push/<id>` must carry `TTL`, `Urgency: high`,
 * `Content-Encoding: aes128gcm` and a VAPID `Authorization` whose key is [vapidKey] (403
 * otherwise, as a distributor binding the subscription to it); the body is at most 4096 bytes
 * (413). Accepted bodies are queued, as the distributor would hand them to the phone.
 */
class FakePushServer(dir: File, private val vapidKey: String) : AutoCloseable {
    val caFile = File(dir, "push-ca.pem")
    private val server: HttpsServer
    private val bodies = LinkedBlockingQueue<Pair<String, ByteArray>>()
    val refusals = java.util.concurrent.CopyOnWriteArrayList<String>()

    init {
        val keystore = File(dir, "push.p12")
        fun keytool(vararg args: String) {
            val p = ProcessBuilder(listOf("keytool") + args).redirectErrorStream(true).start()
            val out = p.inputStream.readBytes().toString(Charsets.UTF_8)
            check(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0) { "keytool ${args.toList()}: $out" }
        }
        keytool("-genkeypair", "-alias", "push", "-keyalg", "EC", "-groupname", "secp256r1", "-sigalg", "SHA256withECDSA",
            "-dname", "CN=127.0.0.1", "-ext", "SAN=ip:127.0.0.1", "-validity", "2",
            "-keystore", keystore.path, "-storetype", "PKCS12", "-storepass", "changeit", "-keypass", "changeit")
        keytool("-exportcert", "-rfc", "-alias", "push", "-keystore", keystore.path, "-storepass", "changeit", "-file", caFile.path)
        val ks = KeyStore.getInstance("PKCS12").apply { keystore.inputStream().use { load(it, "changeit".toCharArray()) } }
        val kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm()).apply { init(ks, "changeit".toCharArray()) }
        val tls = SSLContext.getInstance("TLS").apply { init(kmf.keyManagers, null, null) }
        server = HttpsServer.create(InetSocketAddress("127.0.0.1", 0), 0)
        server.httpsConfigurator = HttpsConfigurator(tls)
        server.createContext("/push/") { ex -> try { push(ex) } finally { ex.close() } }
        server.start()
    }

    fun endpoint(id: String) = "https://127.0.0.1:${server.address.port}/push/$id"

    private fun refuse(ex: HttpExchange, status: Int, why: String) {
        refusals.add("$status $why")
        ex.sendResponseHeaders(status, -1)
    }

    private fun push(ex: HttpExchange) {
        val h = ex.requestHeaders
        val auth = h.getFirst("Authorization") ?: ""
        val body = ex.requestBody.readBytes()
        when {
            ex.requestMethod != "POST" -> refuse(ex, 405, ex.requestMethod)
            !auth.startsWith("vapid t=") || !auth.endsWith(",k=$vapidKey") -> refuse(ex, 403, "VAPID key: $auth")
            h.getFirst("TTL")?.toLongOrNull()?.let { it >= 0 } != true -> refuse(ex, 400, "TTL")
            h.getFirst("Urgency") != "high" -> refuse(ex, 400, "Urgency")
            h.getFirst("Content-Encoding") != "aes128gcm" -> refuse(ex, 400, "Content-Encoding")
            body.size > 4096 -> refuse(ex, 413, "${body.size} bytes")
            else -> {
                bodies.add(ex.requestURI.path.removePrefix("/push/") to body)
                ex.sendResponseHeaders(201, -1)
            }
        }
    }

    /** The next message pushed to `/push/<id>`. */
    fun next(id: String): ByteArray {
        val (to, body) = bodies.poll(20, TimeUnit.SECONDS) ?: error("no push arrived; refused: $refusals")
        assertEquals(id, to)
        return body
    }

    override fun close() = server.stop(0)
}

/**
 * The connector's keys in the JCA instead of AndroidKeyStore: Robolectric has no AndroidKeyStore
 * provider, so this test gives the connector this key manager (its [KeyManager] seam) in place
 * of `DefaultKeyManager`. Decryption is the connector's own Tink path (`WebPushHybridDecrypt`,
 * RFC 8291), as on a phone.
 */
object JcaKeyManager : KeyManager {
    private class Keys(val pair: KeyPair, val auth: ByteArray)
    private val keys = ConcurrentHashMap<String, Keys>()

    override fun generate(instance: String) {
        val pair = KeyPairGenerator.getInstance("EC").apply { initialize(ECGenParameterSpec("secp256r1")) }.generateKeyPair()
        keys[instance] = Keys(pair, ByteArray(16).also { SecureRandom().nextBytes(it) })
    }

    override fun getPublicKeySet(instance: String): PublicKeySet? = keys[instance]?.let {
        PublicKeySet(b64url(uncompressed(it.pair.public as ECPublicKey)), b64url(it.auth))
    }

    override fun exists(instance: String) = keys.containsKey(instance)

    override fun delete(instance: String) {
        keys.remove(instance)
    }

    override fun decrypt(instance: String, sealed: ByteArray): ByteArray? {
        val k = keys[instance] ?: return null
        return WebPushHybridDecrypt.Builder()
            .withAuthSecret(k.auth)
            .withRecipientPublicKey(k.pair.public as ECPublicKey)
            .withRecipientPrivateKey(k.pair.private as ECPrivateKey)
            .build()
            .decrypt(sealed, null)
    }
}

/**
 * The connector's message receiver with [JcaKeyManager]: it looks up the registration by token,
 * decrypts, and forwards to the app's [TapproveUnifiedPushService], as the connector's own
 * receiver does on a phone.
 */
class JcaMessagingReceiver : MessagingReceiver() {
    override fun getKeyManager(context: Context): KeyManager = JcaKeyManager

    private fun service() = Robolectric.buildService(TapproveUnifiedPushService::class.java).create().get()

    override fun onNewEndpoint(context: Context, endpoint: PushEndpoint, instance: String) = service().onNewEndpoint(endpoint, instance)

    override fun onMessage(context: Context, message: PushMessage, instance: String) = service().onMessage(message, instance)

    override fun onRegistrationFailed(context: Context, reason: FailedReason, instance: String) = error("registration failed: $reason")

    override fun onUnregistered(context: Context, instance: String) = service().onUnregistered(instance)
}

@RunWith(RobolectricTestRunner::class)
class UnifiedPushTest {
    private val app get() = RuntimeEnvironment.getApplication()

    private fun awaitGlue() = runBlocking { Tapprove.scope.coroutineContext[Job]!!.children.toList().joinAll() }

    @Test
    fun `the service's Web Push message is decrypted by the connector and approved from the notification`() {
        val dir = Files.createTempDirectory("tapprove-webpush").toFile()
        // The VAPID key made as docs/PUSH.md says.
        val vapidPem = File(dir, "vapid.pem")
        val gen = ProcessBuilder("sh", "-c", "openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out '${vapidPem.path}'")
            .redirectErrorStream(true).start()
        check(gen.waitFor(30, TimeUnit.SECONDS) && gen.exitValue() == 0) { gen.inputStream.readBytes().toString(Charsets.UTF_8) }
        val pub = ProcessBuilder("sh", "-c", "openssl ec -in '${vapidPem.path}' -pubout -outform DER 2>/dev/null | tail -c 65").start()
        val vapidKey = b64url(pub.inputStream.readBytes())
        check(pub.waitFor(30, TimeUnit.SECONDS) && vapidKey.length == 87) { "VAPID public key: $vapidKey" }

        val webhook = TrustWebhook()
        val push = FakePushServer(dir, vapidKey)
        val service = TapproveService.start(
            webhook,
            """
            [push]
            ca_file = "${push.caFile.path}"

            [push.retry]
            max_attempts = 2
            initial_backoff_ms = 20
            max_backoff_ms = 100

            [push.webpush]
            vapid_key_path = "${vapidPem.path}"
            subject = "mailto:ops@example.com"
            allow_addresses = ["127.0.0.0/8"]
            """.trimIndent() + "\n",
        )
        try {
            shadowOf(app).grantPermissions(Manifest.permission.POST_NOTIFICATIONS)
            val sealKey = KeyGenerator.getInstance("AES").apply { init(256) }.generateKey()
            val keys = SoftwareKeyProvider()
            Tapprove.configure(app, ServiceConfig(service.url, service.sdkKey, "Robolectric GrapheneOS"),
                { SealedSecureStore(MemoryBackend(), AesGcmSealer { sealKey }) }, { JcaSigner(keys) })
            val user = "robo-unifiedpush"
            webhook.issue(user, "pair-up")
            val account = runBlocking { Tapprove.authenticator.pair(user, "pair-up", null) }
            // The account carries the service's VAPID key from the pairing answer.
            assertEquals(vapidKey, account.vapidPublicKey)

            // The app registers with the user's distributor, with the service's VAPID key; the
            // distributor gets the connector's REGISTER broadcast and answers with an endpoint.
            UnifiedPush.saveDistributor(app, "org.example.distributor")
            UnifiedPush.register(app, "default", null, account.vapidPublicKey!!, JcaKeyManager)
            shadowOf(Looper.getMainLooper()).idle()
            val register = shadowOf(app).broadcastIntents.lastOrNull { it.action == ACTION_REGISTER }
            assertNotNull("the connector asked the distributor to register", register)
            val token = register!!.getStringExtra(EXTRA_TOKEN)!!
            val receiver = JcaMessagingReceiver()
            receiver.onReceive(app, Intent(ACTION_NEW_ENDPOINT).putExtra(EXTRA_TOKEN, token).putExtra(EXTRA_ENDPOINT, push.endpoint("dev1")))
            shadowOf(Looper.getMainLooper()).idle()
            awaitGlue()

            // The site starts a login; the service pushes it, encrypted, to the endpoint.
            val session = service.createSession(user)
            val body = push.next("dev1")
            assertTrue("the distributor sees no login details", !String(body, Charsets.ISO_8859_1).contains("JVM Bank"))
            // The distributor hands the bytes to the connector, which decrypts them (Tink).
            receiver.onReceive(app, Intent(ACTION_MESSAGE).putExtra(EXTRA_TOKEN, token)
                .putExtra(EXTRA_BYTES_MESSAGE, body).putExtra(EXTRA_MESSAGE_ID, "m1"))
            shadowOf(Looper.getMainLooper()).idle()

            val shown = shadowOf(app.getSystemService(NotificationManager::class.java)).allNotifications
            assertEquals("one login notification: $shown", 1, shown.size)
            val n = shown[0]
            assertEquals("Log in to JVM Bank?", n.extras.getCharSequence(Notification.EXTRA_TITLE)?.toString())
            val code = session.str("presence_code")!!
            n.actions.first { it.title == code }.actionIntent.send(app, 0, null)
            shadowOf(Looper.getMainLooper()).idle()
            awaitGlue()
            val s = service.session(session.str("id")!!)
            assertEquals("accepted" to "approved", s.str("status") to s.str("reason"))
        } finally {
            service.close()
            push.close()
            webhook.close()
            dir.deleteRecursively()
        }
    }
}
