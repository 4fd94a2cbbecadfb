package dev.tapprove.common

import dev.tapprove.AuthException
import dev.tapprove.AuthenticatorInterface
import dev.tapprove.Decision
import dev.tapprove.LoginRequest
import dev.tapprove.PresenceMode
import dev.tapprove.RespondOutcome
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

/** What the approval screen tells the user; the shells render it in the user's language (Texts.message on Android). */
sealed interface ApprovalMessage {
    /** The request ran out of time while shown: start the login again on the website. */
    data object TimedOut : ApprovalMessage

    /** Approved or denied on another device. */
    data object AnsweredElsewhere : ApprovalMessage

    /** It expired before this device answered. */
    data object Expired : ApprovalMessage

    /** The site canceled it. */
    data object Canceled : ApprovalMessage

    /** Entry mode, and no code was typed. */
    data object CodeMissing : ApprovalMessage

    /** Choose mode, and the answer is none of the numbers shown. */
    data object NotAnOption : ApprovalMessage

    /** The service decided (approved, wrong number, fraud reported, denied, or over). */
    data class Decided(val outcome: RespondOutcome) : ApprovalMessage

    /** The SDK refused or failed (its typed error, with its own message). */
    data class Failed(val error: AuthException) : ApprovalMessage
}

/** What the approval screen shows. */
sealed interface ApprovalUiState {
    /** Waiting for the user. [error] is the last failure to show (then the user can retry). */
    data class Deciding(
        val request: LoginRequest,
        val secondsLeft: Long,
        val error: ApprovalMessage? = null,
    ) : ApprovalUiState

    /** The answer is on its way. */
    data class Sending(val request: LoginRequest, val action: ApprovalAction) : ApprovalUiState

    /** The service decided; [approved] is true when the login goes through. */
    data class Done(val approved: Boolean, val message: ApprovalMessage.Decided) : ApprovalUiState

    /** The request can no longer be answered (expired, answered elsewhere, account gone). */
    data class Closed(val message: ApprovalMessage) : ApprovalUiState
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
    private val _state = MutableStateFlow<ApprovalUiState>(deciding(null))

    /** The current state. */
    val state: StateFlow<ApprovalUiState> = _state.asStateFlow()

    /** The actions to show (entry mode adds a code field). */
    val actions: List<ApprovalAction> = ApprovalAction.forScreen(request)

    private fun secondsLeft() = request.expiresAt - now()

    private fun deciding(error: ApprovalMessage?) =
        ApprovalUiState.Deciding(request, secondsLeft().coerceAtLeast(0), error)

    /** Call every second while shown: updates the countdown, closes the screen on expiry. */
    fun tick() {
        val s = _state.value
        if (s !is ApprovalUiState.Deciding) return
        _state.value = if (secondsLeft() <= 0) {
            ApprovalUiState.Closed(ApprovalMessage.TimedOut)
        } else {
            s.copy(secondsLeft = secondsLeft())
        }
    }

    /** The request was decided elsewhere (another device, canceled by the site, expired). */
    fun onDecidedElsewhere(status: SessionStatus) {
        if (_state.value is ApprovalUiState.Done) return
        _state.value = ApprovalUiState.Closed(
            when (status) {
                SessionStatus.ACCEPTED, SessionStatus.REJECTED -> ApprovalMessage.AnsweredElsewhere
                SessionStatus.EXPIRED -> ApprovalMessage.Expired
                else -> ApprovalMessage.Canceled
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
            _state.value = current.copy(error = ApprovalMessage.CodeMissing)
            return null
        }
        if (request.presenceMode == PresenceMode.CHOOSE && action is ApprovalAction.Choose && action.option !in request.options) {
            _state.value = current.copy(error = ApprovalMessage.NotAnOption)
            return null
        }
        _state.value = ApprovalUiState.Sending(request, action)
        return scope.launch {
            _state.value = try {
                val outcome = responder.respond(request.id, action.toDecision())
                ApprovalUiState.Done(outcome.status == SessionStatus.ACCEPTED, ApprovalMessage.Decided(outcome))
            } catch (e: AuthException) {
                when {
                    // Nothing was sent: a wrong input, a cancelled or impossible identity check
                    // (Deny and Not me still work), a network hiccup. The request stays open.
                    e is AuthException.InvalidInput || e is AuthException.UserVerification || e.isRetryable() ->
                        deciding(ApprovalMessage.Failed(e))
                    else -> ApprovalUiState.Closed(ApprovalMessage.Failed(e))
                }
            }
        }
    }
}
