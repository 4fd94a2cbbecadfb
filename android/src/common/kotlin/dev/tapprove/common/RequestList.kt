package dev.tapprove.common

import dev.tapprove.AuthException
import dev.tapprove.AuthenticatorInterface
import dev.tapprove.EndedRequest
import dev.tapprove.LoginRequest
import dev.tapprove.RespondOutcome
import dev.tapprove.SessionStatus
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch

/** One row of the request list: a request waiting for an answer, or one that ended unanswered. */
sealed interface RequestListItem {
    val request: LoginRequest

    /** What the user can do with it. */
    val actions: List<ApprovalAction>

    /** Waiting for the user: the approval screen's actions. */
    data class Pending(override val request: LoginRequest) : RequestListItem {
        override val actions: List<ApprovalAction> get() = ApprovalAction.forScreen(request)
    }

    /**
     * Over before anyone answered (a newer sign-in replaced it, the site canceled it, it
     * expired). Shown as over, never approvable: its one action is "This wasn't me", which the
     * service still takes for 10 minutes after the end (the sign-in stays as it ended; the
     * user's requests are paused and the site is told).
     */
    data class Ended(val ended: EndedRequest) : RequestListItem {
        override val request: LoginRequest get() = ended.request
        override val actions: List<ApprovalAction> get() = listOf(ApprovalAction.NotMe)

        /** How it ended, for its line in the list. */
        val how: EndedHow get() = if (ended.status == SessionStatus.EXPIRED) EndedHow.EXPIRED else EndedHow.REPLACED_OR_CANCELED
    }
}

/** How a request ended without an answer; the shells render it in the user's language. */
enum class EndedHow {
    /** A newer sign-in replaced it, or the site canceled it. */
    REPLACED_OR_CANCELED,

    /** It ran out of time. */
    EXPIRED,
}

/** Where the list comes from; the [AuthenticatorInterface] is one (see [requestSourceOf]). */
interface RequestSource {
    /** The requests waiting for an answer (from the service); throws [AuthException]. */
    suspend fun pending(): List<LoginRequest>

    /** The requests that ended unanswered in the last 10 minutes (offline). */
    fun ended(): List<EndedRequest>
}

/** Adapts the SDK's authenticator. */
fun requestSourceOf(auth: AuthenticatorInterface): RequestSource = object : RequestSource {
    override suspend fun pending() = auth.pending(null)
    override fun ended() = auth.endedRequests(null)
}

/** What reporting an ended request came to; the shells render it in the user's language. */
sealed interface EndedReport {
    /** Reported: the sign-in stays as it ended; the user's requests are paused, the site told. */
    data class Reported(val outcome: RespondOutcome) : EndedReport

    /** The SDK refused or failed (its typed error). */
    data class Failed(val error: AuthException) : EndedReport
}

/** What the request list shows. */
data class RequestListState(
    /** Pending requests first (oldest first), then the ended ones (newest first). */
    val items: List<RequestListItem> = emptyList(),
    /** The last report's result, or why the pending ones could not be read. */
    val report: EndedReport? = null,
)

/**
 * State of the request list. Plain Kotlin (no Android): the app's screen renders [state] and
 * calls [refresh] when it shows (and after a push); the tests drive it directly.
 */
class RequestListModel(
    private val source: RequestSource,
    private val responder: Responder,
    private val scope: CoroutineScope,
) {
    private val _state = MutableStateFlow(RequestListState())

    /** The current state. */
    val state: StateFlow<RequestListState> = _state.asStateFlow()

    /**
     * Reads both lists again. When the service cannot be reached the ended ones (kept on the
     * phone) are still listed, with the failure as [RequestListState.report].
     */
    suspend fun refresh() {
        val pending = try {
            Result.success(source.pending())
        } catch (e: AuthException) {
            Result.failure(e)
        }
        val items = pending.getOrDefault(emptyList()).map { RequestListItem.Pending(it) } +
            source.ended().map { RequestListItem.Ended(it) }
        _state.value = RequestListState(items, (pending.exceptionOrNull() as? AuthException)?.let { EndedReport.Failed(it) })
    }

    /** "This wasn't me" on an ended request; the list is read again afterwards. */
    fun report(item: RequestListItem.Ended): Job = scope.launch {
        val report = try {
            EndedReport.Reported(responder.respond(item.request.id, ApprovalAction.NotMe.toDecision()))
        } catch (e: AuthException) {
            EndedReport.Failed(e)
        }
        refresh()
        _state.value = _state.value.copy(report = report)
    }
}
