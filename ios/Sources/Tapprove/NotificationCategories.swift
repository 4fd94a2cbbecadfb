import Foundation
import UserNotifications

/// The notification categories of login requests and the answers their actions send.
///
/// The service sends `"category": "TAPPROVE_LOGIN"` (docs/PROTOCOL.md §11); the Notification
/// Service Extension sets the category for the request's presence mode:
/// - `TAPPROVE_LOGIN` (choose a number): Deny and Not me; the number is picked in the app
///   (tapping the notification), where the three options can be shown;
/// - `TAPPROVE_LOGIN_ENTRY` (type the code): a text-input action "Type code" that answers from
///   the notification (the code typed on the lock screen), plus Deny and Not me;
/// - `TAPPROVE_LOGIN_NONE` (no code): Approve, Deny and Not me.
///
/// Every action requires the device to be unlocked (`.authenticationRequired`). A request that
/// asks for user verification runs the configured ``UserVerifier`` when it is approved.
public enum NotificationCategories {
    public static let login = "TAPPROVE_LOGIN"
    public static let loginEntry = "TAPPROVE_LOGIN_ENTRY"
    public static let loginNoCode = "TAPPROVE_LOGIN_NONE"
    public static let approveAction = "TAPPROVE_APPROVE"
    public static let typeCodeAction = "TAPPROVE_TYPE_CODE"
    public static let denyAction = "TAPPROVE_DENY"
    public static let notMeAction = "TAPPROVE_NOT_ME"

    /// Registers the three categories. Call once at launch, before notifications arrive.
    public static func register(center: UNUserNotificationCenter = .current()) {
        let deny = UNNotificationAction(identifier: denyAction, title: "Deny", options: [.authenticationRequired])
        let notMe = UNNotificationAction(identifier: notMeAction, title: "Not me", options: [.destructive, .authenticationRequired])
        let approve = UNNotificationAction(identifier: approveAction, title: "Approve", options: [.authenticationRequired])
        let typeCode = UNTextInputNotificationAction(identifier: typeCodeAction, title: "Type code",
                                                     options: [.authenticationRequired],
                                                     textInputButtonTitle: "Approve",
                                                     textInputPlaceholder: "Code from the login page")
        let choose = UNNotificationCategory(identifier: login, actions: [deny, notMe], intentIdentifiers: [], options: [])
        let entry = UNNotificationCategory(identifier: loginEntry, actions: [typeCode, deny, notMe], intentIdentifiers: [], options: [])
        let noCode = UNNotificationCategory(identifier: loginNoCode, actions: [approve, deny, notMe], intentIdentifiers: [], options: [])
        center.setNotificationCategories([choose, entry, noCode])
    }

    /// The category for a verified request.
    public static func category(for request: LoginRequest) -> String {
        switch request.presenceMode {
        case .choose: return login
        case .entry: return loginEntry
        case .none: return loginNoCode
        }
    }

    /// The decision a notification action stands for, or nil (the default tap opens the app).
    /// `typedText` is what the user typed into the "Type code" action.
    public static func decision(forAction identifier: String, typedText: String? = nil) -> Decision? {
        switch identifier {
        case approveAction: return .approve(presenceAnswer: nil)
        case typeCodeAction:
            let code = (typedText ?? "").filter { !$0.isWhitespace && $0 != "-" }
            return code.isEmpty ? nil : .approve(presenceAnswer: code)
        case denyAction: return .deny(reason: .cancelled)
        case notMeAction: return .deny(reason: .notMe)
        default: return nil
        }
    }

    /// Answers from a notification action; call from
    /// `userNotificationCenter(_:didReceive:withCompletionHandler:)`. Returns the request to show
    /// when the app should open it: a plain tap, an empty typed code, or an answer the core
    /// refused before sending (a cancelled identity check, a code of the wrong length, a removed
    /// device): the approval screen then says why.
    public static func handle(_ response: UNNotificationResponse, with authenticator: Authenticator) async -> LoginRequest? {
        guard let json = PushPayload.json(from: response.notification.request.content.userInfo),
              let request = try? authenticator.handlePush(payloadJson: json) else { return nil }
        let typed = (response as? UNTextInputNotificationResponse)?.userText
        guard let decision = decision(forAction: response.actionIdentifier, typedText: typed) else { return request }
        do {
            _ = try await authenticator.respond(requestId: request.id, decision: decision)
            return nil
        } catch {
            return request
        }
    }
}
