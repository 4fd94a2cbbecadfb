package dev.tapprove.common

import dev.tapprove.AuthException
import dev.tapprove.AuthenticatorInterface
import dev.tapprove.LoginRequest
import dev.tapprove.PresenceMode
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch

/** Gets a code-to-phone request's code; the [AuthenticatorInterface] is one (see [codeShowerOf]). */
fun interface CodeShower {
    /** The code of [requestId] (verifying the user first when asked); throws [AuthException]. */
    suspend fun showCode(requestId: String): String
}

/** Adapts the SDK's authenticator. */
fun codeShowerOf(auth: AuthenticatorInterface): CodeShower = CodeShower { id -> auth.showCode(id) }

/** What the approval screen shows of a code-to-phone request's code. */
sealed interface DisplayCodeState {
    /** Not asked yet: the screen offers "Show the code" (it asks for the user's identity). */
    data object Hidden : DisplayCodeState

    /** Being fetched (the identity prompt may be up). */
    data object Revealing : DisplayCodeState

    /** The code to type at the login, shown with "This wasn't me". */
    data class Shown(val code: String) : DisplayCodeState

    /** Could not show it (identity not confirmed, request over…); the user may try again. */
    data class Failed(val error: AuthException) : DisplayCodeState
}

/**
 * The code part of the approval screen for a `display` request (code to phone,
 * docs/PROTOCOL.md §7a): the code appears only in the unlocked app, after [reveal], which runs
 * the SDK's `showCode` (user verification when the policy asks, and the signed "code shown"
 * the service waits for under `nist-aal2`). The screen's actions are Deny and "This wasn't me"
 * ([ApprovalAction.forScreen]); approving is typing the code at the login. Plain Kotlin.
 */
class DisplayCodeModel(
    private val request: LoginRequest,
    private val shower: CodeShower,
    private val scope: CoroutineScope,
) {
    init {
        require(request.presenceMode == PresenceMode.DISPLAY) { "not a code-to-phone request" }
    }

    private val _state = MutableStateFlow<DisplayCodeState>(DisplayCodeState.Hidden)

    /** The current state. */
    val state: StateFlow<DisplayCodeState> = _state.asStateFlow()

    /** Asks for the code (again after a failure); null while one is already shown or coming. */
    fun reveal(): Job? {
        val s = _state.value
        if (s is DisplayCodeState.Shown || s is DisplayCodeState.Revealing) return null
        _state.value = DisplayCodeState.Revealing
        return scope.launch {
            _state.value = try {
                DisplayCodeState.Shown(shower.showCode(request.id))
            } catch (e: AuthException) {
                DisplayCodeState.Failed(e)
            }
        }
    }
}
