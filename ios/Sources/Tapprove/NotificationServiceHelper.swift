import Foundation
import UserNotifications

/// Push payloads as the core reads them.
public enum PushPayload {
    /// The APNs `userInfo` as JSON for ``Authenticator/handlePush(payloadJson:)``.
    public static func json(from userInfo: [AnyHashable: Any]) -> String? {
        var object: [String: Any] = [:]
        for (key, value) in userInfo {
            if let key = key as? String { object[key] = value }
        }
        guard JSONSerialization.isValidJSONObject(object),
              let data = try? JSONSerialization.data(withJSONObject: object) else { return nil }
        return String(data: data, encoding: .utf8)
    }
}

/// The body of a Notification Service Extension: verifies the payload with the core (offline,
/// signature checked against the pinned service key, reading accounts from the shared keychain
/// access group) and rewrites the notification with the verified text and context. A payload
/// that does not verify is replaced by a neutral text; one that is not Tapprove's is untouched.
/// A sealed payload (docs/PROTOCOL.md §11) arrives with the generic "Login request" alert: the
/// core opens it with the account's push key from the same keychain group, still offline.
///
/// ```swift
/// final class NotificationService: UNNotificationServiceExtension {
///     private let helper = NotificationServiceHelper(makeAuthenticator: { try MyApp.makeAuthenticator() })
///     override func didReceive(_ request: UNNotificationRequest,
///                              withContentHandler contentHandler: @escaping (UNNotificationContent) -> Void) {
///         helper.didReceive(request, withContentHandler: contentHandler)
///     }
///     override func serviceExtensionTimeWillExpire() { helper.timeWillExpire() }
/// }
/// ```
public final class NotificationServiceHelper {
    private let makeAuthenticator: () throws -> Authenticator
    private var contentHandler: ((UNNotificationContent) -> Void)?
    private var bestAttempt: UNMutableNotificationContent?

    /// `makeAuthenticator` builds the SDK with a ``KeychainSecureStore`` in the app group's
    /// keychain access group and a ``SecureEnclaveSigner`` (the extension never signs).
    public init(makeAuthenticator: @escaping () throws -> Authenticator) {
        self.makeAuthenticator = makeAuthenticator
    }

    /// Verifies and rewrites the notification, then calls `contentHandler` once.
    public func didReceive(_ request: UNNotificationRequest, withContentHandler contentHandler: @escaping (UNNotificationContent) -> Void) {
        self.contentHandler = contentHandler
        guard let content = request.content.mutableCopy() as? UNMutableNotificationContent else {
            contentHandler(request.content)
            return
        }
        bestAttempt = content
        guard let json = PushPayload.json(from: content.userInfo) else {
            finish(content)
            return
        }
        do {
            let auth = try makeAuthenticator()
            if let login = try auth.handlePush(payloadJson: json) {
                Self.rewrite(content, for: login)
            }
        } catch let error as AuthError {
            content.title = Strings.notShown
            content.body = error.localizedMessage
            content.categoryIdentifier = ""
        } catch {
            content.title = Strings.notShown
            content.body = Strings.openAppForPending
            content.categoryIdentifier = ""
        }
        finish(content)
    }

    /// Delivers the best content so far when the system is about to kill the extension.
    public func timeWillExpire() {
        if let content = bestAttempt { finish(content) }
    }

    private func finish(_ content: UNNotificationContent) {
        contentHandler?(content)
        contentHandler = nil
    }

    /// The verified title, the context and what to do, and the category for the actions.
    static func rewrite(_ content: UNMutableNotificationContent, for request: LoginRequest) {
        content.title = request.title
        let context = [request.context.app,
                       request.context.location.map(Strings.near),
                       request.context.ip.map(Strings.ip),
                       Strings.browser(request.context)].compactMap { $0 }
        let prompt: String
        switch request.presenceMode {
        case .choose: prompt = Strings.promptChoose
        case .entry: prompt = request.codeLength.map { Strings.promptEntry(digits: Int($0)) } ?? Strings.promptEntry
        case .none: prompt = Strings.promptNone
        // The code itself is never in a notification: only the unlocked app shows it.
        case .display: prompt = Strings.promptDisplay
        }
        content.body = ([request.body] + context + [prompt]).joined(separator: "\n")
        content.categoryIdentifier = NotificationCategories.category(for: request)
        content.interruptionLevel = .timeSensitive
        content.threadIdentifier = request.accountId
    }
}
