package dev.tapprove.android

import android.content.Context
import android.hardware.biometrics.BiometricManager
import android.hardware.biometrics.BiometricPrompt
import android.os.Build
import android.os.CancellationSignal
import dev.tapprove.AuthException
import dev.tapprove.UserVerifier
import dev.tapprove.UvMethod
import dev.tapprove.VerifyResult
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicReference

/**
 * The [UserVerifier] of Android: the framework's `BiometricPrompt` with
 * `BIOMETRIC_STRONG or DEVICE_CREDENTIAL` (face/fingerprint, or the screen lock's PIN, pattern
 * or password) on API 30+, biometrics or the device credential on API 29, biometrics on API 28.
 * The core calls [verify] on a background thread and waits for the answer; the prompt is
 * system UI. Android shows it only while the app is in the foreground, which is why
 * notifications of requests that ask for verification have no Approve buttons (the tap opens
 * the app's approval screen; see [ApprovalNotifications]).
 *
 * API 26–27 have no prompt a library can show without an Activity result
 * (`KeyguardManager.createConfirmDeviceCredentialIntent`): there the answer is `Unavailable`,
 * and a request that requires verification cannot be approved on that phone.
 */
class BiometricUserVerifier(
    context: Context,
    /** The prompt's title; the library's "Confirm it is you" in the user's language by default. */
    private val title: String = context.getString(R.string.tapprove_verify_title),
    private val timeoutSeconds: Long = 120,
) : UserVerifier {
    private val context = context.applicationContext

    override fun verify(reason: String): VerifyResult {
        if (Build.VERSION.SDK_INT < 28 || !canAuthenticate()) return VerifyResult.Unavailable
        val answer = AtomicReference<Result<VerifyResult>>()
        val done = CountDownLatch(1)
        val cancel = CancellationSignal()
        val callback = object : BiometricPrompt.AuthenticationCallback() {
            override fun onAuthenticationSucceeded(result: BiometricPrompt.AuthenticationResult) {
                answer.set(Result.success(VerifyResult.Verified(methodOf(result))))
                done.countDown()
            }

            override fun onAuthenticationError(errorCode: Int, errString: CharSequence) {
                answer.set(errorResult(errorCode, errString))
                done.countDown()
            }
            // onAuthenticationFailed (one rejected finger or face) keeps the prompt open.
        }
        prompt(reason).authenticate(cancel, context.mainExecutor, callback)
        if (!done.await(timeoutSeconds, TimeUnit.SECONDS)) {
            cancel.cancel()
            return VerifyResult.Cancelled
        }
        return answer.get().getOrThrow()
    }

    private fun canAuthenticate(): Boolean {
        if (Build.VERSION.SDK_INT < 29) return true // API 28: the prompt reports what is missing.
        val manager = context.getSystemService(BiometricManager::class.java) ?: return false
        val status = if (Build.VERSION.SDK_INT >= 30) manager.canAuthenticate(AUTHENTICATORS) else @Suppress("DEPRECATION") manager.canAuthenticate()
        return status == BiometricManager.BIOMETRIC_SUCCESS
    }

    private fun prompt(reason: String): BiometricPrompt {
        val builder = BiometricPrompt.Builder(context).setTitle(title).setSubtitle(reason)
        when {
            Build.VERSION.SDK_INT >= 30 -> builder.setAllowedAuthenticators(AUTHENTICATORS)
            Build.VERSION.SDK_INT == 29 -> @Suppress("DEPRECATION") builder.setDeviceCredentialAllowed(true)
            else -> builder.setNegativeButton(context.getString(R.string.tapprove_verify_cancel), context.mainExecutor) { _, _ -> }
        }
        return builder.build()
    }

    private fun methodOf(result: BiometricPrompt.AuthenticationResult): UvMethod =
        if (Build.VERSION.SDK_INT >= 30 &&
            result.authenticationType == BiometricPrompt.AUTHENTICATION_RESULT_TYPE_DEVICE_CREDENTIAL
        ) {
            UvMethod.DEVICE_CREDENTIAL
        } else if (Build.VERSION.SDK_INT == 29) {
            // API 29 does not say which one the user gave; the screen lock stands behind both.
            UvMethod.DEVICE_CREDENTIAL
        } else {
            UvMethod.BIOMETRIC
        }

    companion object {
        private const val AUTHENTICATORS =
            BiometricManager.Authenticators.BIOMETRIC_STRONG or BiometricManager.Authenticators.DEVICE_CREDENTIAL

        /** What a prompt error means for the approval (exposed for tests). */
        fun errorResult(errorCode: Int, message: CharSequence): Result<VerifyResult> = when (errorCode) {
            BiometricPrompt.BIOMETRIC_ERROR_USER_CANCELED,
            BiometricPrompt.BIOMETRIC_ERROR_CANCELED,
            BiometricPrompt.BIOMETRIC_ERROR_NEGATIVE_BUTTON,
            BiometricPrompt.BIOMETRIC_ERROR_TIMEOUT,
            -> Result.success(VerifyResult.Cancelled)
            BiometricPrompt.BIOMETRIC_ERROR_HW_UNAVAILABLE,
            BiometricPrompt.BIOMETRIC_ERROR_HW_NOT_PRESENT,
            BiometricPrompt.BIOMETRIC_ERROR_NO_BIOMETRICS,
            BiometricPrompt.BIOMETRIC_ERROR_NO_DEVICE_CREDENTIAL,
            -> Result.success(VerifyResult.Unavailable)
            // Lockout and the rest: the check failed; the core sends nothing.
            else -> Result.failure(AuthException.Platform("The identity check failed: $message (error $errorCode)."))
        }
    }
}
