import Foundation

/// The process-wide SDK instance, with the keychain store and Secure Enclave signer. Configure
/// it once at launch (app) or on first use (Notification Service Extension) with the same
/// keychain access group, so the extension sees the app's accounts. Approvals that ask for user
/// verification go through `userVerifier` (Face ID / Touch ID / passcode by default; `nil` for
/// none: a request that requires it is then refused with `AuthError.UserVerification`).
public enum TapproveSDK {
    private static let lock = NSLock()
    private static var shared: Authenticator?

    /// Creates (once) and returns the authenticator.
    @discardableResult
    public static func configure(serverURL: String, sdkKey: String, accessGroup: String?, deviceName: String? = nil,
                                 logger: Logger? = nil,
                                 userVerifier: UserVerifier? = LocalAuthenticationVerifier()) throws -> Authenticator {
        lock.lock()
        defer { lock.unlock() }
        if let shared { return shared }
        if let logger { initLogging(level: .info, logger: logger) }
        // Device API calls and the event stream (`listen`) through URLSession: the phone build
        // has no TLS of its own, and configuration-profile CAs, proxies and VPN rules apply.
        let auth = try Authenticator.withTransport(
            config: ServiceConfig(serverUrl: serverURL, sdkKey: sdkKey, deviceName: deviceName),
            store: KeychainSecureStore(accessGroup: accessGroup),
            signer: SecureEnclaveSigner(accessGroup: accessGroup),
            transport: URLSessionTransport(),
            streaming: URLSessionStreamTransport()
        )
        auth.setUserVerifier(verifier: userVerifier)
        shared = auth
        return auth
    }

    /// The configured authenticator, or nil before ``configure(serverURL:sdkKey:accessGroup:deviceName:logger:userVerifier:)``.
    public static var authenticator: Authenticator? {
        lock.lock()
        defer { lock.unlock() }
        return shared
    }
}
