package dev.tapprove.robotest

import android.Manifest
import android.app.Notification
import android.app.NotificationManager
import android.content.Context
import android.content.Intent
import android.os.Looper
import com.google.firebase.messaging.RemoteMessage
import dev.tapprove.Account
import dev.tapprove.ServiceConfig
import dev.tapprove.android.Tapprove
import dev.tapprove.android.fcm.TapproveMessagingService
import dev.tapprove.common.AesGcmSealer
import dev.tapprove.common.JcaSigner
import dev.tapprove.common.MemoryBackend
import dev.tapprove.common.PushPayloads
import dev.tapprove.common.SealedSecureStore
import dev.tapprove.jvmtest.SoftwareKeyProvider
import dev.tapprove.jvmtest.TapproveService
import dev.tapprove.jvmtest.TrustWebhook
import dev.tapprove.jvmtest.str
import kotlinx.coroutines.Job
import kotlinx.coroutines.joinAll
import kotlinx.coroutines.runBlocking
import kotlinx.serialization.json.JsonObject
import org.junit.Assert.assertEquals
import org.junit.Before
import org.robolectric.Robolectric
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import java.nio.file.Files
import java.util.concurrent.atomic.AtomicInteger
import javax.crypto.KeyGenerator

/**
 * One service, one loopback FCM and one configured SDK per JVM. The native library is loaded
 * once per process and keeps the callback tables of the first Robolectric sandbox that
 * registered them, so each test class runs in its own JVM (surefire `reuseForks=false`, pom.xml)
 * and within a class every test uses one SDK level.
 */
internal object World {
    val webhook = TrustWebhook()
    val fcm = FakeFcm()
    val configDir = Files.createTempDirectory("tapprove-robolectric").toFile()
    // One sandbox pairs more than the default 10 devices a minute from this one address.
    val service = TapproveService.start(webhook, fcm.configToml(configDir) + "[limits]\npairings_per_minute_per_ip = 100\n")
    val backend = MemoryBackend()
    val keys = SoftwareKeyProvider()
    val sealKey = KeyGenerator.getInstance("AES").apply { init(256) }.generateKey()
    val config = ServiceConfig(service.url, service.sdkKey, "Robolectric Pixel")
    private val users = AtomicInteger()

    fun user(what: String) = "robo-$what-${users.incrementAndGet()}"

    fun sealed(backend: MemoryBackend) = SealedSecureStore(backend, AesGcmSealer { sealKey })

    init {
        Runtime.getRuntime().addShutdownHook(Thread { service.close(); fcm.close(); webhook.close(); configDir.deleteRecursively() })
        Tapprove.configure(RuntimeEnvironment.getApplication(), config, { sealed(backend) }, { JcaSigner(keys) })
    }
}

/**
 * What the Robolectric tests share: the SDK configured against [World]'s service, the app's FCM
 * service, and the steps of a login (pair, the site starts it, FCM delivers it, the user taps).
 */
abstract class GlueTest {
    /** The FCM service as an app declares it, recording the messages it leaves to the app. */
    class RecordingMessagingService : TapproveMessagingService() {
        val others = mutableListOf<RemoteMessage>()

        override fun onOtherMessage(message: RemoteMessage) {
            others.add(message)
        }
    }

    protected val app: Context get() = RuntimeEnvironment.getApplication()
    protected val notifications get() = shadowOf(app.getSystemService(NotificationManager::class.java))
    protected lateinit var fcmService: RecordingMessagingService

    @Before
    fun setUp() {
        World.service // started once
        shadowOf(RuntimeEnvironment.getApplication()).grantPermissions(Manifest.permission.POST_NOTIFICATIONS)
        // ApprovalActionReceiver comes from the library manifest the AAR ships (Robolectric reads
        // it through test_config.properties, as an app's merged manifest).
        fcmService = Robolectric.buildService(RecordingMessagingService::class.java).create().get()
    }

    protected fun pair(user: String, fcmToken: String): Account = runBlocking {
        val code = "pair-${System.nanoTime()}"
        World.webhook.issue(user, code)
        Tapprove.authenticator.pair(user, code, PushPayloads.fcmRegistration(fcmToken))
    }

    /** The site starts a login; returns the session and the FCM message the service sent. */
    protected fun login(user: String, fcmToken: String, presence: String): Pair<JsonObject, FcmMessage> {
        val session = World.service.createSession(user, presence)
        return session to World.fcm.next(fcmToken)
    }

    /** FCM hands the data message to the app's service. */
    protected fun deliver(message: FcmMessage, id: String = "0:${System.nanoTime()}") =
        fcmService.onMessageReceived(RemoteMessage.Builder("1234567890@fcm.googleapis.com").setMessageId(id).setData(message.data).build())

    protected fun onlyNotification(): Notification {
        val all = notifications.allNotifications
        assertEquals("exactly one notification: $all", 1, all.size)
        return all[0]
    }

    /** Waits for the glue's background work (answers, token updates) to finish. */
    protected fun awaitGlue() = runBlocking { Tapprove.scope.coroutineContext[Job]!!.children.toList().joinAll() }

    /** The user taps [action]; [fillIn] carries a RemoteInput answer. */
    protected fun tap(action: Notification.Action, fillIn: Intent? = null) {
        action.actionIntent.send(app, 0, fillIn)
        shadowOf(Looper.getMainLooper()).idle()
        awaitGlue()
    }

    protected fun status(sessionId: String): Pair<String?, String?> {
        val s = World.service.session(sessionId)
        return s.str("status") to s.str("reason")
    }

    protected fun text(n: Notification, key: String) = n.extras.getCharSequence(key)?.toString()
}
