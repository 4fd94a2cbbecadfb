package dev.tapprove.jvmtest

import com.sun.net.httpserver.HttpServer
import dev.tapprove.AuthException
import dev.tapprove.Clock
import dev.tapprove.DeviceSigner
import dev.tapprove.KeyProtection
import dev.tapprove.LogLevel
import dev.tapprove.Logger
import dev.tapprove.SecureStore
import dev.tapprove.common.AesGcmSealer
import dev.tapprove.common.JcaSigner
import dev.tapprove.common.KeyProvider
import dev.tapprove.common.MemoryBackend
import dev.tapprove.common.SealedSecureStore
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import java.io.File
import java.net.InetSocketAddress
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.security.KeyPair
import java.security.KeyPairGenerator
import java.security.PrivateKey
import java.security.PublicKey
import java.security.SecureRandom
import java.security.spec.ECGenParameterSpec
import java.time.Duration
import java.util.Base64
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import javax.crypto.KeyGenerator

/** Paths handed over by Maven (see pom.xml). */
object Env {
    val root: File = File(System.getProperty("tapprove.root") ?: "../..").canonicalFile
    val bin: File = File(System.getProperty("tapprove.bin") ?: File(root, "target/debug/tapprove").path)
    val vectors: File = File(root, "tests/vectors")
}

/** Software P-256 keys via java.security (what a KeystoreSigner does with hardware keys). */
class SoftwareKeyProvider : KeyProvider {
    val pairs = ConcurrentHashMap<String, KeyPair>()

    override fun generate(alias: String): PublicKey {
        val gen = KeyPairGenerator.getInstance("EC")
        gen.initialize(ECGenParameterSpec("secp256r1"))
        val pair = gen.generateKeyPair()
        pairs[alias] = pair
        return pair.public
    }

    override fun privateKey(alias: String): PrivateKey? = pairs[alias]?.private

    override fun publicKey(alias: String): PublicKey? = pairs[alias]?.public

    override fun delete(alias: String) {
        pairs.remove(alias)
    }
}

/** Counts the calls Rust makes into a Kotlin signer. */
class CountingSigner(private val inner: DeviceSigner) : DeviceSigner {
    val creates = AtomicInteger()
    val signs = AtomicInteger()
    val deletes = AtomicInteger()

    override fun createKey(alias: String): ByteArray = inner.createKey(alias).also { creates.incrementAndGet() }

    override fun publicKey(alias: String): ByteArray? = inner.publicKey(alias)

    override fun sign(alias: String, message: ByteArray): ByteArray = inner.sign(alias, message).also { signs.incrementAndGet() }

    override fun deleteKey(alias: String) {
        deletes.incrementAndGet()
        inner.deleteKey(alias)
    }

    override fun keyProtection(): KeyProtection = inner.keyProtection()
}

/** Counts the calls Rust makes into a Kotlin store. */
class CountingStore(private val inner: SecureStore) : SecureStore {
    val gets = AtomicInteger()
    val sets = AtomicInteger()

    override fun get(key: String): ByteArray? = inner.get(key).also { gets.incrementAndGet() }

    override fun set(key: String, value: ByteArray) {
        sets.incrementAndGet()
        inner.set(key, value)
    }

    override fun delete(key: String) = inner.delete(key)

    override fun listKeys(prefix: String): List<String> = inner.listKeys(prefix)
}

/** A Kotlin store whose every call throws a plain (non-SDK) exception, like a broken keychain. */
class ThrowingStore : SecureStore {
    override fun get(key: String): ByteArray? = throw IllegalStateException("keystore is locked")
    override fun set(key: String, value: ByteArray) = throw IllegalStateException("keystore is locked")
    override fun delete(key: String) = throw IllegalStateException("keystore is locked")
    override fun listKeys(prefix: String): List<String> = throw IllegalStateException("keystore is locked")
}

/** A Kotlin signer that fails like missing secure hardware. */
class ThrowingSigner : DeviceSigner {
    override fun createKey(alias: String): ByteArray = throw AuthException.Platform("secure hardware unavailable")
    override fun publicKey(alias: String): ByteArray? = throw AuthException.Platform("secure hardware unavailable")
    override fun sign(alias: String, message: ByteArray): ByteArray = throw AuthException.Platform("secure hardware unavailable")
    override fun deleteKey(alias: String) = throw AuthException.Platform("secure hardware unavailable")
    override fun keyProtection(): KeyProtection = throw AuthException.Platform("secure hardware unavailable")
}

/** A clock the test sets. */
class FixedClock(@Volatile var now: Long) : Clock {
    override fun nowUnix(): Long = now
}

/** Collects the SDK's log lines. */
class CollectingLogger : Logger {
    val lines = CopyOnWriteArrayList<String>()

    override fun log(level: LogLevel, target: String, message: String) {
        lines.add("$level $target $message")
    }
}

/** A sealed store over memory and a fresh software AES key, plus a counting wrapper. */
fun newStore(): Pair<CountingStore, MemoryBackend> {
    val backend = MemoryBackend()
    val key = KeyGenerator.getInstance("AES").apply { init(256) }.generateKey()
    return CountingStore(SealedSecureStore(backend, AesGcmSealer { key })) to backend
}

fun newSigner(): Pair<CountingSigner, SoftwareKeyProvider> {
    val keys = SoftwareKeyProvider()
    return CountingSigner(JcaSigner(keys)) to keys
}

fun parseJson(text: String): JsonObject = Json.parseToJsonElement(text).jsonObject

fun JsonObject.str(name: String): String? = this[name]?.jsonPrimitive?.let { if (it.isString) it.content else null }

/**
 * The relying party's trust webhook (docs/PROTOCOL.md §8): a JDK HttpServer on loopback that
 * accepts a pairing when Basic auth matches and the code is the one the "site" issued.
 */
class TrustWebhook : AutoCloseable {
    private val server: HttpServer = HttpServer.create(InetSocketAddress("127.0.0.1", 0), 0)
    private val codes = ConcurrentHashMap<String, String>()
    val calls = AtomicInteger()

    @Volatile var username: String = ""

    @Volatile var password: String = ""

    init {
        server.createContext("/users/trust") { ex ->
            calls.incrementAndGet()
            val body = ex.requestBody.readBytes().toString(Charsets.UTF_8)
            val expectedAuth = "Basic " + Base64.getEncoder().encodeToString("$username:$password".toByteArray())
            val json = runCatching { parseJson(body) }.getOrNull()
            val user = json?.str("user")
            val code = json?.str("challenge")
            val ok = ex.requestHeaders.getFirst("Authorization") == expectedAuth &&
                ex.requestMethod == "POST" && user != null && code != null && codes.remove(user, code)
            val status = if (ok) 200 else 403
            ex.sendResponseHeaders(status, -1)
            ex.close()
        }
        server.start()
    }

    /** The site issued [code] to [user] (accepted once). */
    fun issue(user: String, code: String) {
        codes[user] = code
    }

    val url: String get() = "http://127.0.0.1:${server.address.port}/users/trust"

    override fun close() = server.stop(0)
}

/** A real `tapprove serve` process on a free loopback port, with one project. */
class TapproveService private constructor(
    private val process: Process,
    private val dir: File,
    val url: String,
    val apiKey: String,
    val sdkKey: String,
    val projectId: String,
    private val stderr: StringBuffer,
    private val database: String,
    private val env: Map<String, String>,
) : AutoCloseable {
    private val http: HttpClient = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()

    /** POST /v1/push/sessions for [user]; returns the JSON answer. */
    fun createSession(user: String, presence: String = "choose"): JsonObject {
        val body = """{"user":${JsonPrimitive(user)},"notification":{"title":"Log in to JVM Bank?","body":"Someone is signing in."},"context":{"app":"JVM Bank","ip":"203.0.113.7","location":"Lyon, FR","user_agent":"Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"},"presence":"$presence"}"""
        val (status, json) = rp("POST", "/v1/push/sessions", body)
        check(status == 201) { "create session: $status $json" }
        return json
    }

    /** GET /v1/push/sessions/{id}. */
    fun session(id: String): JsonObject {
        val (status, json) = rp("GET", "/v1/push/sessions/$id", null)
        check(status == 200) { "get session: $status $json" }
        return json
    }

    /** An RP call; returns status and JSON body. */
    fun rp(method: String, path: String, body: String?): Pair<Int, JsonObject> {
        val req = HttpRequest.newBuilder(URI.create(url + path))
            .timeout(Duration.ofSeconds(30))
            .header("X-API-Key", apiKey)
            .header("Content-Type", "application/json")
            .method(method, body?.let { HttpRequest.BodyPublishers.ofString(it) } ?: HttpRequest.BodyPublishers.noBody())
            .build()
        val resp = http.send(req, HttpResponse.BodyHandlers.ofString())
        val json = if (resp.body().isBlank()) JsonObject(emptyMap()) else parseJson(resp.body())
        return resp.statusCode() to json
    }

    /**
     * Runs `tapprove admin ARGS --database <this service's database>` (e.g. `project set-policy
     * --project ID --policy nist-aal2`); returns its stdout, fails with its stderr.
     */
    fun admin(vararg args: String): String {
        val p = ProcessBuilder(listOf(Env.bin.path, "admin") + args + listOf("--database", database))
            .apply { environment().putAll(env) }
            .start()
        val out = p.inputStream.readBytes().toString(Charsets.UTF_8)
        val err = p.errorStream.readBytes().toString(Charsets.UTF_8)
        check(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0) { "tapprove admin ${args.joinToString(" ")} failed: $err" }
        return out
    }

    /** What the service printed on stderr (for failure messages). */
    fun log(): String = stderr.toString()

    override fun close() {
        process.destroy()
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly()
        dir.deleteRecursively()
    }

    companion object {
        /** Reads a child's output until it ends (the stream closes when the process is stopped). */
        private fun drain(read: () -> Unit) =
            Thread { runCatching(read) }.apply { isDaemon = true }.start()

        /**
         * Creates a project whose trust webhook is [webhook] (with the presence [policy] when
         * given, e.g. `nist-aal2`), then starts the service, with [configToml] as its `--config`
         * file when given (e.g. a `[push.fcm]` section).
         */
        fun start(webhook: TrustWebhook, configToml: String? = null, policy: String? = null): TapproveService {
            check(Env.bin.canExecute()) {
                "${Env.bin} is missing: build it with `cargo build -p tapprove-cli --bin tapprove` (cargo xtask does this)"
            }
            val dir = Files.createTempDirectory("tapprove-jvm").toFile()
            val seal = ByteArray(32).also { SecureRandom().nextBytes(it) }
            val env = mapOf(
                "TAPPROVE_SEAL_KEY" to Base64.getEncoder().encodeToString(seal),
                "TAPPROVE_LOG" to "info",
            )
            val db = "sqlite://${dir.absolutePath}/tapprove.db?mode=rwc"
            val create = ProcessBuilder(
                Env.bin.path, "admin", "project", "create", "--name", "JVM Bank",
                "--trust-url", webhook.url, "--json", "--database", db,
                *(policy?.let { arrayOf("--policy", it) } ?: emptyArray()),
            ).apply { environment().putAll(env); redirectErrorStream(false) }.start()
            val out = create.inputStream.readBytes().toString(Charsets.UTF_8)
            val err = create.errorStream.readBytes().toString(Charsets.UTF_8)
            check(create.waitFor(60, TimeUnit.SECONDS) && create.exitValue() == 0) { "admin project create failed: $err" }
            val creds = parseJson(out)
            webhook.username = creds.str("webhook_username")!!
            webhook.password = creds.str("webhook_password")!!

            val config = configToml?.let { File(dir, "tapprove.toml").apply { writeText(it) } }
            val args = listOf(Env.bin.path, "serve", "--listen", "127.0.0.1:0", "--database", db) +
                (config?.let { listOf("--config", it.path) } ?: emptyList())
            val process = ProcessBuilder(args)
                .apply { environment().putAll(env) }
                .start()
            val stderr = StringBuffer()
            drain { process.errorStream.bufferedReader().forEachLine { stderr.append(it).append('\n') } }
            val stdout = process.inputStream.bufferedReader()
            val first = stdout.readLine() ?: error("tapprove serve exited: $stderr")
            drain { stdout.forEachLine { } }
            val url = Regex("http://[0-9.]+:[0-9]+").find(first)?.value ?: error("no URL in: $first")
            return TapproveService(
                process, dir, url,
                apiKey = creds.str("api_key")!!,
                sdkKey = creds.str("sdk_key")!!,
                projectId = creds.str("project_id")!!,
                stderr = stderr,
                database = db,
                env = env,
            )
        }
    }
}
