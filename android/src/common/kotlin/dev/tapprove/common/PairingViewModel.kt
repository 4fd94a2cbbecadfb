package dev.tapprove.common

import dev.tapprove.Account
import dev.tapprove.AuthException
import dev.tapprove.AuthenticatorInterface
import dev.tapprove.PushRegistration
import dev.tapprove.describeEnrollmentUri
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch

/** Why the pair screen is back at its form; the shells render it in the user's language. */
sealed interface PairingProblem {
    /** The user name or the pairing code was left empty. */
    data object MissingInput : PairingProblem

    /** The SDK refused or failed (its typed error, with its own message). */
    data class Failed(val error: AuthException) : PairingProblem
}

/** What the pair screen shows. */
sealed interface PairingUiState {
    /** The form. [error] is the last failure, for the user (Texts.pairingProblem on Android). */
    data class Form(val error: PairingProblem? = null) : PairingUiState

    /** A scanned QR code, waiting for confirmation ("Pair alice with auth.example.com?"). */
    data class Confirm(val uri: String, val user: String, val server: String) : PairingUiState

    /** Pairing in progress. */
    data object Pairing : PairingUiState

    /** Paired. */
    data class Paired(val account: Account) : PairingUiState
}

/**
 * State of the pair screen: user name + pairing code, or a scanned enrollment QR code.
 * Plain Kotlin (no Android).
 *
 * @param push the current push registration (FCM token), if already known.
 */
class PairingViewModel(
    private val auth: AuthenticatorInterface,
    private val scope: CoroutineScope,
    private val push: () -> PushRegistration? = { null },
) {
    private val _state = MutableStateFlow<PairingUiState>(PairingUiState.Form())

    /** The current state. */
    val state: StateFlow<PairingUiState> = _state.asStateFlow()

    /** Pairs with the configured service using what the site shows. */
    fun submitCode(user: String, code: String): Job? {
        val u = user.trim()
        val c = code.trim()
        if (u.isEmpty() || c.isEmpty()) {
            _state.value = PairingUiState.Form(PairingProblem.MissingInput)
            return null
        }
        return run { auth.pair(u, c, push()) }
    }

    /** A QR code was scanned: check it and ask for confirmation (no network). */
    fun scanned(uri: String) {
        _state.value = try {
            val info = describeEnrollmentUri(uri)
            PairingUiState.Confirm(uri, info.user, info.serverUrl)
        } catch (e: AuthException) {
            PairingUiState.Form(PairingProblem.Failed(e))
        }
    }

    /** The user confirmed a scanned code. */
    fun confirm(): Job? {
        val s = _state.value as? PairingUiState.Confirm ?: return null
        return run { auth.pairUri(s.uri, push()) }
    }

    /** Back to the form. */
    fun cancel() {
        _state.value = PairingUiState.Form()
    }

    private fun run(block: suspend () -> Account): Job {
        _state.value = PairingUiState.Pairing
        return scope.launch {
            _state.value = try {
                PairingUiState.Paired(block())
            } catch (e: AuthException) {
                PairingUiState.Form(PairingProblem.Failed(e))
            }
        }
    }
}
