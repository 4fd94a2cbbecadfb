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

/** What the pair screen shows. */
sealed interface PairingUiState {
    /** The form. [error] is the last failure, for the user. */
    data class Form(val error: String? = null) : PairingUiState

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
            _state.value = PairingUiState.Form("Enter your user name and the pairing code the website shows.")
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
            PairingUiState.Form(e.userMessage())
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
                PairingUiState.Form(e.userMessage())
            }
        }
    }
}
