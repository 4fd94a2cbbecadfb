import Foundation
import LocalAuthentication

/// The ``UserVerifier`` of iOS: `LAContext.evaluatePolicy`, asked by the core before it signs an
/// approval whose request (or the app) wants user verification (docs/CORE.md "User
/// verification"). The core calls it on a background thread and waits: the system shows its own
/// Face ID / Touch ID / passcode sheet, so nothing here touches the UI.
///
/// `.deviceOwnerAuthentication` (the default) accepts biometrics or the passcode; iOS does not
/// say which one the user gave, so the result claims `.deviceCredential` (true of both: the
/// passcode always stands behind biometrics). `.deviceOwnerAuthenticationWithBiometrics` has no
/// passcode fallback and claims `.biometric`.
public final class LocalAuthenticationVerifier: UserVerifier {
    private let policy: LAPolicy

    public init(policy: LAPolicy = .deviceOwnerAuthentication) {
        self.policy = policy
    }

    public func verify(reason: String) throws -> VerifyResult {
        let context = LAContext()
        if policy == .deviceOwnerAuthenticationWithBiometrics { context.localizedFallbackTitle = "" }
        var canError: NSError?
        guard context.canEvaluatePolicy(policy, error: &canError) else {
            return .unavailable
        }
        let done = DispatchSemaphore(value: 0)
        var outcome: VerifyResult = .cancelled
        var failure: Error?
        context.evaluatePolicy(policy, localizedReason: reason) { success, error in
            if success {
                outcome = .verified(method: self.policy == .deviceOwnerAuthenticationWithBiometrics ? .biometric : .deviceCredential)
            } else if let error = error as? LAError {
                switch error.code {
                case .userCancel, .appCancel, .systemCancel, .userFallback:
                    outcome = .cancelled
                case .passcodeNotSet, .biometryNotAvailable, .biometryNotEnrolled, .biometryLockout:
                    outcome = .unavailable
                default:
                    failure = error
                }
            } else {
                failure = error
            }
            done.signal()
        }
        done.wait()
        if let failure { throw AuthError.Platform(detail: "The identity check failed: \(failure.localizedDescription)") }
        return outcome
    }
}
