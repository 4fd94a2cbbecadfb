import Foundation

/// APNs device tokens for the SDK.
///
/// Call `UIApplication.shared.registerForRemoteNotifications()` on every launch (tokens change
/// after restores and reinstalls) and pass the token from
/// `application(_:didRegisterForRemoteNotificationsWithDeviceToken:)` to ``register(_:with:)``.
public enum APNsToken {
    /// The token as lowercase hex, the form APNs and the Tapprove service use.
    public static func hex(_ token: Data) -> String {
        token.map { String(format: "%02x", $0) }.joined()
    }

    /// The push registration for `token`. Development builds get sandbox tokens.
    public static func registration(_ token: Data, sandbox: Bool = APNsToken.isSandbox) -> PushRegistration {
        PushRegistration(platform: .apns, token: hex(token), environment: sandbox ? .sandbox : .production)
    }

    /// Whether this build talks to the APNs sandbox (debug builds).
    public static var isSandbox: Bool {
        #if DEBUG
        return true
        #else
        return false
        #endif
    }

    /// Sends the token for every paired account; a no-op without accounts. Errors are returned,
    /// not thrown, so it can be fired from the app delegate.
    @discardableResult
    public static func register(_ token: Data, with authenticator: Authenticator) async -> AuthError? {
        do {
            if try authenticator.accounts().isEmpty { return nil }
            try await withCancelToken { cancel in try await authenticator.updatePushToken(push: registration(token), cancel: cancel) }
            return nil
        } catch let error as AuthError {
            return error
        } catch {
            return AuthError.Internal(detail: "\(error)")
        }
    }
}
