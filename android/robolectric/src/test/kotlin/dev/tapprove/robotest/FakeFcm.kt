package dev.tapprove.robotest

import com.sun.net.httpserver.HttpExchange
import com.sun.net.httpserver.HttpServer
import dev.tapprove.jvmtest.parseJson
import dev.tapprove.jvmtest.str
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.buildJsonObject
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import kotlinx.serialization.json.put
import java.io.File
import java.net.InetSocketAddress
import java.net.URLDecoder
import java.security.KeyPair
import java.security.KeyPairGenerator
import java.security.Signature
import java.util.Base64
import java.util.UUID
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit

/** One message the service sent through FCM: the device token and the data map. */
data class FcmMessage(val token: String, val data: Map<String, String>)

/**
 * Google's side of FCM HTTP v1 on loopback (Google is out of reach here), enforcing the documented
 * contract the service must follow: the OAuth2 token endpoint accepts only a JWT-bearer grant
 * whose RS256 assertion is signed by the service-account key, with `iss` = the account's
 * `client_email`, the firebase.messaging scope, `aud` = the token URI and at most an hour of
 * life; `POST /v1/projects/{project}/messages:send` accepts only the access token it issued, for
 * this project, with a string-valued `data` map and high Android priority. Anything else gets
 * Google's error shape. Accepted messages are queued for the test to deliver to the app.
 */
class FakeFcm : AutoCloseable {
    private val server: HttpServer = HttpServer.create(InetSocketAddress("127.0.0.1", 0), 0)
    private val key: KeyPair = KeyPairGenerator.getInstance("RSA").apply { initialize(2048) }.generateKeyPair()
    private val accessToken = "ya29.fake-" + UUID.randomUUID()
    private val messages = LinkedBlockingQueue<FcmMessage>()
    val projectId = "tapprove-robolectric"
    val clientEmail = "fcm-sender@$projectId.iam.gserviceaccount.com"
    private val keyId = "k" + UUID.randomUUID().toString().replace("-", "")

    /** Every refusal, for failure messages. */
    val refusals = java.util.concurrent.CopyOnWriteArrayList<String>()

    init {
        server.createContext("/token") { ex -> try { token(ex) } finally { ex.close() } }
        server.createContext("/v1/projects/") { ex -> try { send(ex) } finally { ex.close() } }
        server.start()
    }

    val base: String get() = "http://127.0.0.1:${server.address.port}"
    private val tokenUri get() = "$base/token"

    /** The service-account key file, as Google issues it, written to [dir]. */
    fun writeServiceAccount(dir: File): File {
        val pem = "-----BEGIN PRIVATE KEY-----\n" +
            Base64.getMimeEncoder(64, "\n".toByteArray()).encodeToString(key.private.encoded) +
            "\n-----END PRIVATE KEY-----\n"
        val json = buildJsonObject {
            put("type", "service_account")
            put("project_id", projectId)
            put("private_key_id", keyId)
            put("private_key", pem)
            put("client_email", clientEmail)
            put("token_uri", tokenUri)
        }
        return File(dir, "fcm-service-account.json").apply { writeText(json.toString()) }
    }

    /** The `[push.fcm]` section of the service's configuration pointing here. */
    fun configToml(dir: File): String =
        "[push.fcm]\nservice_account_path = ${JsonPrimitive(writeServiceAccount(dir).path)}\n" +
            "host = ${JsonPrimitive(base)}\ntoken_uri = ${JsonPrimitive(tokenUri)}\n"

    /** The next message sent to [deviceToken] (others are dropped), or fails after [seconds]. */
    fun next(deviceToken: String, seconds: Long = 20): FcmMessage {
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds)
        while (true) {
            val left = deadline - System.nanoTime()
            val m = messages.poll(left.coerceAtLeast(0), TimeUnit.NANOSECONDS)
                ?: error("no FCM message for $deviceToken within $seconds s; refusals: $refusals")
            if (m.token == deviceToken) return m
        }
    }

    private fun token(ex: HttpExchange) {
        if (ex.requestMethod != "POST" || ex.requestHeaders.getFirst("Content-Type")?.startsWith("application/x-www-form-urlencoded") != true) {
            return oauthError(ex, "invalid_request", "POST a form")
        }
        val form = ex.requestBody.readBytes().toString(Charsets.UTF_8).split('&').associate {
            val (k, v) = it.split('=', limit = 2).let { p -> p[0] to p.getOrElse(1) { "" } }
            URLDecoder.decode(k, Charsets.UTF_8) to URLDecoder.decode(v, Charsets.UTF_8)
        }
        if (form["grant_type"] != "urn:ietf:params:oauth:grant-type:jwt-bearer") {
            return oauthError(ex, "unsupported_grant_type", "grant_type")
        }
        val why = assertionProblem(form["assertion"].orEmpty())
        if (why != null) return oauthError(ex, "invalid_grant", why)
        respond(ex, 200, """{"access_token":"$accessToken","expires_in":3599,"token_type":"Bearer"}""")
    }

    /** Why a service-account assertion is not acceptable, or null. */
    private fun assertionProblem(jwt: String): String? {
        val parts = jwt.split('.')
        if (parts.size != 3) return "not a JWS"
        val dec = Base64.getUrlDecoder()
        val header = runCatching { parseJson(dec.decode(parts[0]).toString(Charsets.UTF_8)) }.getOrNull() ?: return "bad header"
        val claims = runCatching { parseJson(dec.decode(parts[1]).toString(Charsets.UTF_8)) }.getOrNull() ?: return "bad claims"
        if (header.str("alg") != "RS256") return "alg must be RS256"
        header.str("kid")?.let { if (it != keyId) return "unknown kid" }
        val ok = Signature.getInstance("SHA256withRSA").run {
            initVerify(key.public)
            update("${parts[0]}.${parts[1]}".toByteArray())
            runCatching { verify(dec.decode(parts[2])) }.getOrDefault(false)
        }
        if (!ok) return "signature does not verify with the service-account key"
        if (claims.str("iss") != clientEmail) return "iss"
        if (claims.str("aud") != tokenUri) return "aud"
        if (claims.str("scope")?.split(' ')?.contains("https://www.googleapis.com/auth/firebase.messaging") != true) return "scope"
        val iat = claims["iat"]?.jsonPrimitive?.content?.toLongOrNull() ?: return "iat"
        val exp = claims["exp"]?.jsonPrimitive?.content?.toLongOrNull() ?: return "exp"
        val now = System.currentTimeMillis() / 1000
        if (exp <= now || exp - iat > 3600 || iat > now + 60) return "lifetime"
        return null
    }

    private fun send(ex: HttpExchange) {
        if (ex.requestMethod != "POST" || ex.requestURI.path != "/v1/projects/$projectId/messages:send") {
            return fcmError(ex, 404, "NOT_FOUND", "unknown path ${ex.requestURI.path}")
        }
        if (ex.requestHeaders.getFirst("Authorization") != "Bearer $accessToken") {
            return fcmError(ex, 401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        }
        val body = runCatching { parseJson(ex.requestBody.readBytes().toString(Charsets.UTF_8)) }.getOrNull()
        val message = body?.get("message") as? JsonObject ?: return fcmError(ex, 400, "INVALID_ARGUMENT", "no message")
        val token = message.str("token") ?: return fcmError(ex, 400, "INVALID_ARGUMENT", "no token")
        val data = (message["data"] as? JsonObject)?.mapValues { (_, v) -> (v as? JsonPrimitive)?.takeIf { it.isString }?.content }
        if (data == null || data.values.any { it == null }) return fcmError(ex, 400, "INVALID_ARGUMENT", "data values must be strings")
        val android = message["android"]?.jsonObject
        if (android?.str("priority") != "high") return fcmError(ex, 400, "INVALID_ARGUMENT", "a login prompt must be high priority")
        @Suppress("UNCHECKED_CAST")
        messages.add(FcmMessage(token, data as Map<String, String>))
        respond(ex, 200, """{"name":"projects/$projectId/messages/${UUID.randomUUID()}"}""")
    }

    private fun oauthError(ex: HttpExchange, error: String, description: String) {
        refusals.add("token: $error $description")
        respond(ex, 400, """{"error":"$error","error_description":${JsonPrimitive(description)}}""")
    }

    private fun fcmError(ex: HttpExchange, code: Int, status: String, text: String) {
        refusals.add("send: $code $status $text")
        respond(ex, code, """{"error":{"code":$code,"message":${JsonPrimitive(text)},"status":"$status"}}""")
    }

    private fun respond(ex: HttpExchange, status: Int, json: String) {
        val bytes = json.toByteArray()
        ex.responseHeaders.add("Content-Type", "application/json; charset=UTF-8")
        ex.sendResponseHeaders(status, bytes.size.toLong())
        ex.responseBody.write(bytes)
    }

    override fun close() = server.stop(0)
}
