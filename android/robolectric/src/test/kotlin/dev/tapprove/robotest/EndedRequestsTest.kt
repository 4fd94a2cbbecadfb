package dev.tapprove.robotest

import dev.tapprove.AuthException
import dev.tapprove.ClosedReason
import dev.tapprove.Decision
import dev.tapprove.LoginRequest
import dev.tapprove.RequestListener
import dev.tapprove.SessionStatus
import dev.tapprove.android.Tapprove
import dev.tapprove.android.Texts
import dev.tapprove.common.ApprovalAction
import dev.tapprove.common.EndedHow
import dev.tapprove.common.EndedReport
import dev.tapprove.common.RequestListItem
import dev.tapprove.common.RequestListModel
import dev.tapprove.common.requestSourceOf
import dev.tapprove.common.responderOf
import dev.tapprove.jvmtest.str
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.annotation.Config
import java.util.TimeZone
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit

/**
 * The request list with a request that ended before anyone answered (the attacker restarted
 * the login): listed as over, in German, with "This wasn't me" as its only action; approving it
 * is refused on the phone; reporting it keeps the sign-in's outcome.
 */
@RunWith(RobolectricTestRunner::class)
@Config(qualifiers = "de")
class EndedRequestsTest : GlueTest() {
    @Test
    fun `a superseded request is listed as ended with only This wasn't me and reporting it keeps the outcome`() {
        val user = World.user("ended")
        pair(user, "fcm-$user")
        val auth = Tapprove.authenticator
        val requests = LinkedBlockingQueue<LoginRequest>()
        val decided = LinkedBlockingQueue<Pair<String, SessionStatus>>()
        val handle = auth.listen(null, object : RequestListener {
            override fun onRequest(request: LoginRequest) { requests.add(request) }
            override fun onDecided(requestId: String, status: SessionStatus) { decided.add(requestId to status) }
            override fun onError(error: AuthException) {}
            override fun onClosed() {}
        })
        val first: String
        val second: String
        try {
            first = login(user, "fcm-$user", "choose").first.str("id")!!
            awaitMatching(requests, "the first login") { it.id == first }
            // The attacker starts the login again before the user answers: the first one ends.
            second = login(user, "fcm-$user", "choose").first.str("id")!!
            val end = awaitMatching(decided, "the first login's end") { it.first == first }
            assertEquals(SessionStatus.CANCELED, end.second)
        } finally {
            handle.cancel()
        }

        val model = RequestListModel(requestSourceOf(auth), responderOf(auth), CoroutineScope(Dispatchers.IO))
        runBlocking { model.refresh() }
        val items = model.state.value.items
        assertTrue("the newer login is pending: $items", items.any { it is RequestListItem.Pending && it.request.id == second })
        val ended = items.filterIsInstance<RequestListItem.Ended>().single { it.request.id == first }
        assertEquals(listOf<ApprovalAction>(ApprovalAction.NotMe), ended.actions)
        assertEquals(EndedHow.REPLACED_OR_CANCELED, ended.how)
        val line = Texts.ended(app, ended)
        assertTrue(line, line.startsWith("Beendet, bevor Sie geantwortet haben: Eine neuere Anmeldung hat sie ersetzt"))
        assertTrue(line, line.contains(Texts.dateTime(app, ended.ended.endedAt)))
        assertEquals("Das war ich nicht", Texts.reportEndedLabel(app))

        // Approving it is refused on the phone, whatever number is picked.
        val refused = runCatching {
            runBlocking { auth.respond(first, Decision.Approve(ended.request.options.first())) }
        }.exceptionOrNull()
        assertTrue("$refused", refused is AuthException.RequestClosed && refused.reason == ClosedReason.ENDED)

        runBlocking { model.report(ended).join() }
        val report = model.state.value.report
        assertTrue("$report", report is EndedReport.Reported)
        assertEquals(
            "Als nicht Sie gemeldet. Die Anmeldung bleibt beendet, und weitere Anmeldeanfragen für Ihr Konto werden angehalten.",
            Texts.endedReport(app, report!!),
        )
        assertEquals("the outcome stays", "canceled" to "superseded", status(first))
        assertTrue(model.state.value.items.none { it.request.id == first })
    }

    private fun <T> awaitMatching(queue: LinkedBlockingQueue<T>, what: String, match: (T) -> Boolean): T {
        while (true) {
            val next = queue.poll(20, TimeUnit.SECONDS)
            assertNotNull("$what never arrived", next)
            if (match(next!!)) return next
        }
    }

    @Test
    fun `the removal message says when, in the user's language`() {
        val zone = TimeZone.getDefault()
        TimeZone.setDefault(TimeZone.getTimeZone("UTC"))
        try {
            // 7 December 2026, 00:00 UTC.
            val at = 1_796_601_600L
            val date = Texts.dateTime(app, at)
            assertTrue(date, date.contains("07.12.2026") && date.contains("00:00"))
            val text = Texts.error(app, AuthException.Revoked("acc_1", at, "revoked"))
            assertEquals(
                "Am $date hat die Website oder ein Administrator dieses Gerät von Ihrem Konto entfernt. " +
                    "Entfernen Sie das Konto hier und koppeln Sie es neu, wenn Sie es noch brauchen.",
                text,
            )
            // Without a date, the plain message.
            assertTrue(Texts.error(app, AuthException.Revoked("acc_1", null, "revoked")).startsWith("Die Website"))
        } finally {
            TimeZone.setDefault(zone)
        }
    }
}
