package dev.tapprove.robotest

import android.Manifest
import android.app.Notification
import android.app.NotificationManager
import android.app.RemoteInput
import android.content.Context
import android.content.Intent
import android.hardware.biometrics.BiometricManager
import android.hardware.biometrics.BiometricPrompt
import android.os.Bundle
import com.google.firebase.messaging.RemoteMessage
import dev.tapprove.Account
import dev.tapprove.AuthException
import dev.tapprove.Authenticator
import dev.tapprove.ClosedReason
import dev.tapprove.Decision
import dev.tapprove.RespondOutcome
import dev.tapprove.SessionReason
import dev.tapprove.SessionStatus
import dev.tapprove.LoginContext
import dev.tapprove.LoginRequest
import dev.tapprove.PresenceMode
import dev.tapprove.UvFailure
import dev.tapprove.VerifyResult
import dev.tapprove.android.ApprovalActionReceiver
import dev.tapprove.android.ApprovalNotifications
import dev.tapprove.android.BiometricUserVerifier
import dev.tapprove.android.NotificationReadiness
import dev.tapprove.android.SharedPreferencesBackend
import dev.tapprove.android.Tapprove
import dev.tapprove.android.Texts
import dev.tapprove.android.storeBackend
import dev.tapprove.android.fcm.TapproveMessagingService
import dev.tapprove.common.AesGcmSealer
import dev.tapprove.common.ApprovalAction
import dev.tapprove.common.ApprovalMessage
import dev.tapprove.common.PairingProblem
import dev.tapprove.consumer.ConsumerMessagingService
import dev.tapprove.common.JcaSigner
import dev.tapprove.common.PushResult
import dev.tapprove.common.SealedSecureStore
import dev.tapprove.jvmtest.parseJson
import dev.tapprove.jvmtest.str
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.Robolectric
import org.robolectric.RuntimeEnvironment
import org.robolectric.annotation.Config
import org.robolectric.Shadows.shadowOf
import org.robolectric.shadow.api.Shadow
import org.robolectric.shadows.ShadowBiometricManager

/**
 * The Android glue (android/src/main) on Android 14 under Robolectric, against a REAL
 * `tapprove serve` that sends its pushes through a loopback FCM ([FakeFcm]): an FCM data
 * message goes through [TapproveMessagingService] to a framework notification, a tap on one of
 * its actions goes through the PendingIntent to [ApprovalActionReceiver] and
 * `Authenticator.respond`, and the relying party's API shows the outcome.
 *
 * Robolectric has no AndroidKeyStore provider, so the SDK runs here on the same
 * [SealedSecureStore] and [JcaSigner] code that [dev.tapprove.android.KeystoreSecureStore] and
 * [dev.tapprove.android.KeystoreSigner] wrap, with software keys instead of Keystore ones.
 */
@RunWith(RobolectricTestRunner::class)
class AndroidGlueTest : GlueTest() {

    @Test
    fun `an FCM data message becomes a notification with the context and the three choices, and the right one approves`() {
        val user = World.user("choose")
        pair(user, "fcm-$user")
        val (session, message) = login(user, "fcm-$user", "choose")
        // Sealed to the device's push key (docs/PROTOCOL.md §11): Google sees a generic alert and
        // an opaque account id, nothing about the login.
        assertEquals("the service sends only the sealed challenge, the account and a generic alert",
            setOf("tapprove_sealed", "account", "title", "body"), message.data.keys)
        assertEquals("Login request", message.data["title"])
        for (secret in listOf(user, "JVM Bank", "Lyon", "203.0.113.7", "Firefox")) {
            assertFalse("'$secret' reached the push provider: ${message.data}", message.data.values.any { it.contains(secret) })
        }

        deliver(message)
        val n = onlyNotification()
        assertEquals(ApprovalNotifications.CHANNEL_ID, n.channelId)
        val channel = app.getSystemService(NotificationManager::class.java).getNotificationChannel(ApprovalNotifications.CHANNEL_ID)
        assertEquals(NotificationManager.IMPORTANCE_HIGH, channel.importance)
        assertEquals("Log in to JVM Bank?", text(n, Notification.EXTRA_TITLE))
        assertEquals("Someone is signing in.", text(n, Notification.EXTRA_TEXT))
        val big = text(n, Notification.EXTRA_BIG_TEXT)!!
        for (line in listOf("JVM Bank", "Near Lyon, FR", "IP 203.0.113.7", "Browser: Firefox on Linux", "Account: $user", "Tap the number")) {
            assertTrue("'$line' in: $big", big.contains(line))
        }
        // The lock screen sees only that a request arrived.
        assertEquals(Notification.VISIBILITY_PRIVATE, n.visibility)
        assertFalse(text(n.publicVersion, Notification.EXTRA_TEXT)!!.contains("Lyon"))

        val code = session.str("presence_code")!!
        val labels = n.actions.map { it.title.toString() }
        assertEquals(3, labels.size)
        assertTrue("$code among $labels", code in labels)
        assertTrue("approving needs an unlocked phone", n.actions.all { it.isAuthenticationRequired })

        tap(n.actions.first { it.title == code })
        assertEquals("accepted" to "approved", status(session.str("id")!!))
        assertTrue("the notification is gone once answered", notifications.allNotifications.isEmpty())
    }

    @Test
    fun `an entry-mode request takes the typed code through a RemoteInput`() {
        val user = World.user("entry")
        pair(user, "fcm-$user")
        val (session, message) = login(user, "fcm-$user", "entry")
        deliver(message)
        val n = onlyNotification()
        assertEquals(listOf("Enter code", "Deny", "Not me"), n.actions.map { it.title.toString() })
        val enter = n.actions[0]
        assertEquals(ApprovalNotifications.REMOTE_INPUT_CODE, enter.remoteInputs.single().resultKey)
        assertTrue(enter.isAuthenticationRequired)
        assertFalse("denying works from the lock screen", n.actions[1].isAuthenticationRequired)

        val typed = Intent()
        RemoteInput.addResultsToIntent(
            enter.remoteInputs,
            typed,
            Bundle().apply { putCharSequence(ApprovalNotifications.REMOTE_INPUT_CODE, " ${session.str("presence_code")} ") },
        )
        tap(enter, typed)
        assertEquals("accepted" to "approved", status(session.str("id")!!))
    }

    @Test
    fun `a wrong typed code blocks the login and says so in the notification`() {
        val user = World.user("wrong")
        pair(user, "fcm-$user")
        val (session, message) = login(user, "fcm-$user", "entry")
        deliver(message)
        val enter = onlyNotification().actions[0]
        // A code of the right length (the core checks the form first), with its last digit changed.
        val code = session.str("presence_code")!!
        val wrong = code.dropLast(1) + (if (code.last() == '0') '1' else '0')
        val typed = Intent()
        RemoteInput.addResultsToIntent(enter.remoteInputs, typed, Bundle().apply { putCharSequence(ApprovalNotifications.REMOTE_INPUT_CODE, wrong) })
        tap(enter, typed)
        assertEquals("rejected" to "wrong_number", status(session.str("id")!!))
        val result = onlyNotification()
        assertTrue(text(result, Notification.EXTRA_TEXT)!!.contains("not the number"))
        assertEquals("a result has nothing left to tap", 0, result.actions?.size ?: 0)
    }

    @Test
    fun `a request that requires user verification is approved only on the app's screen, never without the check`() {
        val user = World.user("uv")
        pair(user, "fcm-$user")
        World.service.admin("project", "set-policy", "--project", World.service.projectId, "--policy", "nist-aal2")
        try {
            val (session, message) = login(user, "fcm-$user", "entry")
            val id = session.str("id")!!
            deliver(message)
            // The identity prompt needs the app in the foreground: no Approve or code field here.
            assertEquals(listOf("Deny", "Not me"), onlyNotification().actions.map { it.title.toString() })

            // No biometrics and no screen lock on this "phone": the check is unavailable and
            // nothing is sent.
            Shadow.extract<ShadowBiometricManager>(app.getSystemService(BiometricManager::class.java)).setCanAuthenticate(false)
            Tapprove.authenticator.setUserVerifier(BiometricUserVerifier(app))
            val refused = assertThrows(AuthException.UserVerification::class.java) {
                runBlocking { Tapprove.authenticator.respond(id, Decision.Approve(session.str("presence_code")!!)) }
            }
            assertEquals(UvFailure.UNAVAILABLE, refused.reason)
            assertEquals("sent" to null, status(id))
        } finally {
            Tapprove.authenticator.setUserVerifier(null)
            World.service.admin("project", "set-policy", "--project", World.service.projectId, "--policy", "choose")
        }
    }

    @Test
    fun `the biometric prompt's errors mean cancelled, unavailable or a failed check`() {
        for (code in listOf(BiometricPrompt.BIOMETRIC_ERROR_USER_CANCELED, BiometricPrompt.BIOMETRIC_ERROR_CANCELED, BiometricPrompt.BIOMETRIC_ERROR_TIMEOUT)) {
            assertEquals(VerifyResult.Cancelled, BiometricUserVerifier.errorResult(code, "x").getOrThrow())
        }
        for (code in listOf(BiometricPrompt.BIOMETRIC_ERROR_NO_BIOMETRICS, BiometricPrompt.BIOMETRIC_ERROR_HW_NOT_PRESENT, BiometricPrompt.BIOMETRIC_ERROR_NO_DEVICE_CREDENTIAL)) {
            assertEquals(VerifyResult.Unavailable, BiometricUserVerifier.errorResult(code, "x").getOrThrow())
        }
        val lockout = BiometricUserVerifier.errorResult(BiometricPrompt.BIOMETRIC_ERROR_LOCKOUT_PERMANENT, "Too many attempts")
        assertTrue(lockout.exceptionOrNull() is AuthException.Platform)
    }

    @Test
    fun `not me from the notification is reported as fraud`() {
        val user = World.user("notme")
        pair(user, "fcm-$user")
        // Every presence policy refuses `none`; an entry request carries Deny and Not me after
        // its code field.
        val (session, message) = login(user, "fcm-$user", "entry")
        deliver(message)
        val n = onlyNotification()
        assertEquals(listOf("Deny", "Not me"), n.actions.drop(1).map { it.title.toString() })
        tap(n.actions.first { it.title == "Not me" })
        assertEquals("rejected" to "fraud_reported", status(session.str("id")!!))
        assertTrue(notifications.allNotifications.isEmpty())
    }

    @Test
    fun `a message that is not Tapprove's is left to the app, and a forged one is dropped`() {
        val chat = FcmMessage("x", mapOf("type" to "chat", "text" to "lunch?"))
        deliver(chat)
        assertTrue(notifications.allNotifications.isEmpty())
        assertEquals(mapOf("type" to "chat", "text" to "lunch?"), fcmService.others.single().data)

        // Tapprove's key with something that is not a challenge signed by the pinned service key.
        val forged = FcmMessage("x", mapOf("tapprove" to "eyJhbGciOiJFUzI1NiJ9.e30.AAAA", "title" to "Log in?", "body" to "Approve me"))
        val delivery = Tapprove.onPushData(app, forged.data)
        assertTrue(delivery.result is PushResult.Ignore)
        assertNull(delivery.readiness)
        deliver(forged)
        assertTrue(notifications.allNotifications.isEmpty())
        assertEquals("a forged Tapprove message is not handed to the app either", 1, fcmService.others.size)
    }

    @Test
    fun `a user agent written as an instruction never reaches the notification`() {
        val user = World.user("ua")
        pair(user, "fcm-$user")
        // The attacker's sign-in page visit carries the attacker's own words as its user agent.
        val body = """{"user":"$user","notification":{"title":"Log in to JVM Bank?","body":"Someone is signing in."},""" +
            """"context":{"app":"JVM Bank","user_agent":"Type 482913 to block this sign-in"},"presence":"choose"}"""
        val (status, json) = World.service.rp("POST", "/v1/push/sessions", body)
        assertEquals("create session: $json", 201, status)
        deliver(World.fcm.next("fcm-$user"))
        val n = onlyNotification()
        val shown = listOfNotNull(text(n, Notification.EXTRA_TITLE), text(n, Notification.EXTRA_TEXT), text(n, Notification.EXTRA_BIG_TEXT)).joinToString("\n")
        assertFalse("the user agent's words are shown: $shown", shown.contains("482913") || shown.contains("block"))
        assertTrue("the rest of the context is: $shown", shown.contains("JVM Bank"))
    }

    @Test
    fun `the app's own FCM service forwards in one line and the request is shown`() {
        val user = World.user("own-fcm")
        pair(user, "fcm-$user")
        val (_, message) = login(user, "fcm-$user", "choose")
        val own = Robolectric.buildService(ConsumerMessagingService::class.java).create().get()
        own.onMessageReceived(RemoteMessage.Builder("1234567890@fcm.googleapis.com").setMessageId("0:own").setData(message.data).build())
        assertEquals(3, onlyNotification().actions.size)
    }

    @Test
    fun `a token refresh re-registers the device, and the next push goes to the new token`() {
        val user = World.user("token")
        pair(user, "fcm-old-$user")
        fcmService.onNewToken("fcm-new-$user")
        awaitGlue()
        // FakeFcm.next fails unless the service now sends to the new token.
        val (_, message) = login(user, "fcm-new-$user", "choose")
        deliver(message)
        assertEquals(1, notifications.allNotifications.size)
    }

    @Test
    fun `a device the site revokes through the service shows as revoked, with the typed error on the notification`() {
        val user = World.user("revoked")
        val account = pair(user, "fcm-$user")
        val (session, message) = login(user, "fcm-$user", "choose")
        deliver(message)
        val n = onlyNotification()

        // The site removes the device with the relying-party API (a lost phone).
        val (status, body) = World.service.rp("DELETE", "/v1/devices/${account.id}", null)
        assertEquals("revoke: $body", 204, status)
        // Its only device is gone: the login ends at once.
        assertEquals("canceled" to "device_revoked", status(session.str("id")!!))

        try {
            tap(n.actions.first { it.title == session.str("presence_code") })
            val shown = text(onlyNotification(), Notification.EXTRA_TEXT)!!
            assertTrue("says who removed the device: $shown", shown.contains("removed this device"))
            // The Kotlin API shows the account revoked (kept so the app can say so), and every
            // call for it is the typed Revoked error, not a generic not-paired one.
            val listed = Tapprove.authenticator.accounts().first { it.id == account.id }
            assertNotNull("revokedAt is set", listed.revokedAt)
            val revokedAt = listed.revokedAt!!
            assertTrue("revoked just now: $revokedAt", kotlin.math.abs(revokedAt - System.currentTimeMillis() / 1000) < 120)
            val e = assertThrows(AuthException.Revoked::class.java) { runBlocking { Tapprove.authenticator.pending(account.id) } }
            assertEquals(account.id, e.accountId)
            assertEquals(revokedAt, e.revokedAt)
        } finally {
            // Removing a revoked account is local only.
            runBlocking { Tapprove.authenticator.unpair(account.id) }
        }
        assertTrue(Tapprove.authenticator.accounts().none { it.id == account.id })
    }

    @Test
    fun `after a service key rotation the app learns the new key and the next push login still approves`() {
        val user = World.user("keyroll")
        val account = pair(user, "fcm-$user")
        val before = account.serviceKey

        // The operator rotates next to the running service; the service re-reads its keys
        // within seconds, without a restart.
        val rotation = parseJson(World.service.admin("service-key", "rotate", "--grace", "7d", "--json"))
        val newKey = rotation.str("public_key")!!
        assertTrue("a new key", newKey != before)

        // The app's next pending call carries the key update (signed by the pinned key).
        val deadline = System.nanoTime() + 20_000_000_000L
        fun pinned() = Tapprove.authenticator.accounts().first { it.id == account.id }.serviceKey
        while (pinned() != newKey) {
            assertTrue("the app did not learn the new key within 20 s:\n${World.service.log().takeLast(2000)}", System.nanoTime() < deadline)
            runBlocking { Tapprove.authenticator.pending(account.id) }
            Thread.sleep(250)
        }
        assertEquals(newKey, pinned())

        // A push signed by the new key verifies, and approving from the notification works.
        val (session, message) = login(user, "fcm-$user", "choose")
        deliver(message)
        tap(onlyNotification().actions.first { it.title == session.str("presence_code") })
        assertEquals("accepted" to "approved", status(session.str("id")!!))
        runBlocking { Tapprove.authenticator.unpair(account.id) }
    }

    @Test
    fun `without the notification permission nothing is posted and the state says why`() {
        shadowOf(RuntimeEnvironment.getApplication()).denyPermissions(Manifest.permission.POST_NOTIFICATIONS)
        assertEquals(NotificationReadiness.PERMISSION_DENIED, ApprovalNotifications.readiness(app))
        assertTrue(NotificationReadiness.PERMISSION_DENIED.message(app).contains("allow notifications"))

        val user = World.user("denied")
        pair(user, "fcm-$user")
        val (session, message) = login(user, "fcm-$user", "choose")
        val delivery = Tapprove.onPushData(app, message.data)
        assertTrue(delivery.result is PushResult.Show)
        assertEquals(NotificationReadiness.PERMISSION_DENIED, delivery.readiness)
        deliver(message)
        assertTrue(notifications.allNotifications.isEmpty())
        assertTrue(
            "the request is still there for the app's own screen",
            runBlocking { Tapprove.authenticator.pending(null) }.any { it.id == session.str("id") },
        )

        shadowOf(RuntimeEnvironment.getApplication()).grantPermissions(Manifest.permission.POST_NOTIFICATIONS)
        notifications.setNotificationsEnabled(false)
        assertEquals(NotificationReadiness.NOTIFICATIONS_OFF, ApprovalNotifications.readiness(app))
        notifications.setNotificationsEnabled(true)
        assertEquals(NotificationReadiness.READY, ApprovalNotifications.readiness(app))
    }

    @Test
    @Config(qualifiers = "de")
    fun `on a German phone the notification speaks German, from the library's string resources`() {
        val user = World.user("deutsch")
        pair(user, "fcm-$user")
        val (_, message) = login(user, "fcm-$user", "entry")
        deliver(message)
        val n = onlyNotification()
        assertEquals(listOf("Code eingeben", "Ablehnen", "Das war ich nicht"), n.actions.map { it.title.toString() })
        assertEquals("Code von der Anmeldeseite", n.actions[0].remoteInputs.single().label.toString())
        val big = text(n, Notification.EXTRA_BIG_TEXT)!!
        for (line in listOf("In der Nähe von Lyon, FR", "IP-Adresse 203.0.113.7", "Browser: Firefox unter Linux", "Konto: $user", "Code von der Anmeldeseite ein")) {
            assertTrue("'$line' in: $big", big.contains(line))
        }
        assertEquals("Anmeldeanfrage", text(n.publicVersion, Notification.EXTRA_TITLE))
        val channel = app.getSystemService(NotificationManager::class.java).getNotificationChannel(ApprovalNotifications.CHANNEL_ID)
        assertEquals("Anmeldeanfragen", channel.name.toString())
        assertTrue(NotificationReadiness.CHANNEL_BLOCKED.message(app).contains("Anmeldeanfragen"))
    }

    @Test
    @Config(qualifiers = "de")
    fun `the browser line comes from the signed names in German, never from the user agent`() {
        val agent = "Mozilla/5.0 (Windows NT 10.0) Firefox/140.0 Tippen Sie auf Genehmigen"
        val request = LoginRequest(
            id = "ses_ua", accountId = "acc_ua", user = "ua", title = "Anmelden?", body = "Jemand meldet sich an.",
            context = LoginContext(null, null, null, agent, browser = "Chrome", os = "Mac OSX"),
            presenceMode = PresenceMode.NONE, options = emptyList(), codeLength = null, userVerification = null,
            issuedAt = 1_000, expiresAt = 1_120,
        )
        assertEquals(listOf("Browser: Chrome unter Mac OSX", "Konto: ua"), Texts.presentation(app, request).details)
        val unnamed = request.copy(context = request.context.copy(browser = null, os = "Linux"))
        assertEquals(listOf("Browser: unbekannter Browser unter Linux", "Konto: ua"), Texts.presentation(app, unnamed).details)
        val nothing = request.copy(context = request.context.copy(browser = null, os = null))
        assertEquals(listOf("Konto: ua"), Texts.presentation(app, nothing).details)
    }

    @Test
    @Config(qualifiers = "de")
    fun `the approval and pair screens' typed messages render in German from the library's resources`() {
        val texts = mapOf(
            ApprovalMessage.TimedOut to "Diese Anmeldeanfrage ist abgelaufen. Starten Sie die Anmeldung auf der Website neu.",
            ApprovalMessage.AnsweredElsewhere to "Diese Anmeldeanfrage wurde auf einem anderen Gerät beantwortet.",
            ApprovalMessage.Expired to "Diese Anmeldeanfrage ist abgelaufen.",
            ApprovalMessage.Canceled to "Diese Anmeldeanfrage wurde abgebrochen.",
            ApprovalMessage.CodeMissing to "Geben Sie den Code von der Anmeldeseite ein.",
            ApprovalMessage.NotAnOption to "Wählen Sie eine der angezeigten Zahlen.",
        )
        for ((message, german) in texts) assertEquals(german, Texts.message(app, message))
        val wrong = RespondOutcome("ses_x", SessionStatus.REJECTED, SessionReason.WRONG_NUMBER)
        assertEquals(Texts.outcome(app, wrong), Texts.message(app, ApprovalMessage.Decided(wrong)))
        assertEquals(
            "Geben Sie Ihren Benutzernamen und den Kopplungscode ein, den die Website zeigt.",
            Texts.pairingProblem(app, PairingProblem.MissingInput),
        )
        val failed = AuthException.Network("could not reach the service")
        assertEquals(
            "Der Dienst ist nicht erreichbar. Prüfen Sie Ihre Verbindung und versuchen Sie es erneut.",
            Texts.pairingProblem(app, PairingProblem.Failed(failed)),
        )
        assertEquals(listOf("Code eingeben", "Bestätigen", "Ablehnen", "Das war ich nicht"),
            listOf(ApprovalAction.EnterCode(""), ApprovalAction.Approve, ApprovalAction.Deny, ApprovalAction.NotMe).map { Texts.label(app, it) })
    }

    @Test
    @Config(qualifiers = "de")
    fun `the SDK's typed errors render in German from their type, never the core's English sentence`() {
        val rejected = AuthException.PairingRejected("pairing code expired or wrong")
        assertEquals(
            "Die Website hat die Kopplung nicht angenommen: Der Code ist falsch oder abgelaufen. " +
                "Holen Sie sich einen neuen Code und versuchen Sie es erneut.",
            Texts.pairingProblem(app, PairingProblem.Failed(rejected)),
        )
        val network = AuthException.Network("connection refused: check the server URL")
        assertEquals(
            "Der Dienst ist nicht erreichbar. Prüfen Sie Ihre Verbindung und versuchen Sie es erneut.",
            Texts.message(app, ApprovalMessage.Failed(network)),
        )
        assertEquals("Zu viele Versuche. Versuchen Sie es in 1 Sekunde erneut.", Texts.error(app, AuthException.RateLimited(1uL, "slow down")))
        assertEquals("Zu viele Versuche. Versuchen Sie es in 30 Sekunden erneut.", Texts.error(app, AuthException.RateLimited(30uL, "slow down")))
        assertEquals("Zu viele Versuche. Warten Sie einen Moment und versuchen Sie es erneut.", Texts.error(app, AuthException.RateLimited(null, "slow down")))
        assertEquals("Diese Anmeldeanfrage wurde bereits beantwortet.", Texts.error(app, AuthException.RequestClosed(ClosedReason.ALREADY_ANSWERED, "answered")))
        assertEquals("Der Dienst hat einen Fehler gemeldet (503). Versuchen Sie es später erneut.", Texts.error(app, AuthException.Service(503u, "unavailable", "down")))
        // Every variant has a German text of its own, none of them the core's English detail.
        val all = listOf(
            AuthException.InvalidInput("x"), rejected, AuthException.Revoked("acct", null, "x"),
            AuthException.UserVerification(UvFailure.CANCELLED, "x"), AuthException.UserVerification(UvFailure.UNAVAILABLE, "x"),
            AuthException.UserVerification(UvFailure.FAILED, "x"), AuthException.KeyUpdateRefused("bad_signature", "x"),
            AuthException.NotPaired("x"), AuthException.UnpairedLocallyOnly("x"), network, AuthException.UpdateRequired("x"),
            AuthException.RequestClosed(ClosedReason.EXPIRED, "x"), AuthException.RequestClosed(ClosedReason.NOT_PENDING, "x"),
            AuthException.RequestClosed(ClosedReason.ENDED, "x"), AuthException.InvalidNotification("x"),
            AuthException.Cancelled("x"), AuthException.Platform("x"), AuthException.Internal("x"),
        ).map { Texts.error(app, it) }
        assertEquals("$all", all.size, all.toSet().size)
        assertTrue("$all", all.none { it == "x" || it.isBlank() })
    }

    @Test
    fun `the store lives in noBackupFilesDir and values of the SharedPreferences era move there once`() {
        val legacy = app.getSharedPreferences("tapprove-move", Context.MODE_PRIVATE)
        val old = SealedSecureStore(SharedPreferencesBackend(legacy), AesGcmSealer { World.sealKey })
        old.set("tapprove.account.a", "record-a".toByteArray())
        old.set("tapprove.account/ü b", "record-b".toByteArray())

        val backend = storeBackend(app, "tapprove-move")
        assertTrue("the SharedPreferences file (backed up) is emptied", legacy.all.isEmpty())
        val store = SealedSecureStore(backend, AesGcmSealer { World.sealKey })
        assertEquals(listOf("tapprove.account.a", "tapprove.account/ü b"), store.listKeys("tapprove.").sorted())
        assertEquals("record-b", String(store.get("tapprove.account/ü b")!!))

        val dir = java.io.File(app.noBackupFilesDir, "tapprove/tapprove-move")
        val files = dir.listFiles()!!.map { it.name }
        assertEquals("one file per value: $files", 2, files.size)
        assertTrue("under noBackupFilesDir: $dir", dir.canonicalPath.startsWith(app.noBackupFilesDir.canonicalPath))
        for (f in dir.listFiles()!!) assertFalse("sealed, not in the clear", String(f.readBytes()).contains("record"))

        store.set("tapprove.account.a", "record-a2".toByteArray())
        assertEquals("record-a2", String(SealedSecureStore(storeBackend(app, "tapprove-move"), AesGcmSealer { World.sealKey }).get("tapprove.account.a")!!))
        store.delete("tapprove.account.a")
        store.delete("tapprove.account/ü b")
        assertEquals(emptyList<String>(), store.listKeys(""))
        assertNull(store.get("tapprove.account.a"))
    }

    @Test
    fun `the Keystore store's SharedPreferences backend keeps only sealed values`() {
        val prefs = app.getSharedPreferences("tapprove-test", Context.MODE_PRIVATE)
        val store = SealedSecureStore(SharedPreferencesBackend(prefs), AesGcmSealer { World.sealKey })
        val secret = "account-record-with-sdk-key".toByteArray()
        store.set("tapprove.account.a", secret)
        store.set("other", byteArrayOf(1))
        assertEquals(String(secret), String(store.get("tapprove.account.a")!!))
        assertEquals(listOf("tapprove.account.a"), store.listKeys("tapprove."))
        val raw = prefs.getString("tapprove.account.a", null)
        assertNotNull(raw)
        assertFalse("stored sealed, not in the clear", String(android.util.Base64.decode(raw, 0)).contains("sdk-key"))
        store.delete("tapprove.account.a")
        assertNull(store.get("tapprove.account.a"))
        assertFalse(prefs.contains("tapprove.account.a"))
    }
}
