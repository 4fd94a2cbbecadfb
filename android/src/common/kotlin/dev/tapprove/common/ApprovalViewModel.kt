package dev.tapprove.common

import dev.tapprove.AuthException
import dev.tapprove.AuthenticatorInterface
import dev.tapprove.Decision
import dev.tapprove.LoginRequest
import dev.tapprove.PresenceMode
import dev.tapprove.RespondOutcome
import dev.tapprove.SessionReason
import dev.tapprove.SessionStatus
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch

/** Sends a decision; the [AuthenticatorInterface] is one (see [responderOf]). */
fun interface Responder {
    /** Answers [requestId]; throws [AuthException] on failure. */
    suspend fun respond(requestId: String, decision: Decision): RespondOutcome
}

/** Adapts the SDK's authenticator. */
fun responderOf(auth: AuthenticatorInterface): Responder = Responder { id, d -> auth.respond(id, d) }

/** What the approval screen shows. */
sealed interface ApprovalUiState {
    /** Waiting for the user. [error] is the last failure to show (then the user can retry). */
    data class Deciding(
        val request: LoginRequest,
        val presentation: RequestPresentation,
        val secondsLeft: Long,
        val error: String? = null,
    ) : ApprovalUiState

    /** The answer is on its way. */
    data class Sending(val request: LoginRequest, val action: ApprovalAction) : ApprovalUiState

    /** The service decided; [approved] is true when the login goes through. */
    data class Done(val approved: Boolean, val message: String, val outcome: RespondOutcome) : ApprovalUiState

    /** The request can no longer be answered (expired, answered elsewhere, account gone). */
    data class Closed(val message: String) : ApprovalUiState
}

/**
 * State of the approval screen for one login request. Plain Kotlin (no Android): the Android
 * ViewModel wraps it with `viewModelScope`, the tests drive it directly.
 *
 * @param now Unix seconds; injectable for tests.
 */
class ApprovalViewModel(
    private val request: LoginRequest,
    private val responder: Responder,
    private val scope: CoroutineScope,
    private val now: () -> Long = { System.currentTimeMillis() / 1000 },
) {
    private val presentation = RequestPresentation.of(request)
    private val _state = MutableStateFlow<ApprovalUiState>(deciding(null))

    /** The current state. */
    val state: StateFlow<ApprovalUiState> = _state.asStateFlow()

    /** The actions to show (entry mode adds a code field). */
    val actions: List<ApprovalAction> = ApprovalAction.forScreen(request)

    private fun secondsLeft() = request.expiresAt - now()

    private fun deciding(error: String?) =
        ApprovalUiState.Deciding(request, presentation, secondsLeft().coerceAtLeast(0), error)

    /** Call every second while shown: updates the countdown, closes the screen on expiry. */
    fun tick() {
        val s = _state.value
        if (s !is ApprovalUiState.Deciding) return
        _state.value = if (secondsLeft() <= 0) {
            ApprovalUiState.Closed("This login request has expired. Start the login again on the website.")
        } else {
            s.copy(secondsLeft = secondsLeft())
        }
    }

    /** The request was decided elsewhere (another device, canceled by the site, expired). */
    fun onDecidedElsewhere(status: SessionStatus) {
        if (_state.value is ApprovalUiState.Done) return
        _state.value = ApprovalUiState.Closed(
            when (status) {
                SessionStatus.ACCEPTED, SessionStatus.REJECTED -> "This login request was answered on another device."
                SessionStatus.EXPIRED -> "This login request has expired."
                else -> "This login request was canceled."
            },
        )
    }

    /**
     * Sends [action]. Local mistakes (no code typed) and retryable failures return to
     * [ApprovalUiState.Deciding] with an error; a request that is over becomes
     * [ApprovalUiState.Closed].
     */
    fun submit(action: ApprovalAction): Job? {
        val current = _state.value
        if (current !is ApprovalUiState.Deciding) return null
        if (action is ApprovalAction.EnterCode && action.code.isBlank()) {
            _state.value = current.copy(error = "Type the code shown on the login page.")
            return null
        }
        if (request.presenceMode == PresenceMode.CHOOSE && action is ApprovalAction.Choose && action.option !in request.options) {
            _state.value = current.copy(error = "Pick one of the numbers shown.")
            return null
        }
        _state.value = ApprovalUiState.Sending(request, action)
        return scope.launch {
            _state.value = try {
                val outcome = responder.respond(request.id, action.toDecision())
                ApprovalUiState.Done(outcome.status == SessionStatus.ACCEPTED, outcomeMessage(outcome), outcome)
            } catch (e: AuthException) {
                when {
                    // Nothing was sent: a wrong input, a cancelled or impossible identity check
                    // (Deny and Not me still work), a network hiccup. The request stays open.
                    e is AuthException.InvalidInput || e is AuthException.UserVerification || e.isRetryable() ->
                        deciding(e.userMessage())
                    else -> ApprovalUiState.Closed(e.userMessage())
                }
            }
        }
    }

    companion object {
        /** What to tell the user after the service decided. */
        fun outcomeMessage(outcome: RespondOutcome): String = when {
            outcome.status == SessionStatus.ACCEPTED -> "Approved. You can go back to the website."
            outcome.reason == SessionReason.WRONG_NUMBER ->
                "That was not the number on the login page, so the login was blocked. Start the login again."
            outcome.reason == SessionReason.FRAUD_REPORTED ->
                "Thanks for reporting it. The login was blocked; consider changing your password."
            outcome.reason == SessionReason.USER_DENIED -> "Login denied."
            else -> "This login request is over."
        }
    }
}
