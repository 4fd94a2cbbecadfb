import Foundation
import UserNotifications

/// The notification categories of login requests and the answers their actions send.
///
/// The service sends `"category": "TAPPROVE_LOGIN"` (docs/PROTOCOL.md §11). Number matching
/// happens in the app (tapping the notification); the notification's actions are Deny and
/// Not me, plus Approve for requests without a code (category `TAPPROVE_LOGIN_NONE`, set by the
/// Notification Service Extension).
public enum NotificationCategories {
    public static let login = "TAPPROVE_LOGIN"
    public static let loginNoCode = "TAPPROVE_LOGIN_NONE"
    public static let approveAction = "TAPPROVE_APPROVE"
    public static let denyAction = "TAPPROVE_DENY"
    public static let notMeAction = "TAPPROVE_NOT_ME"

    /// Registers both categories. Call once at launch, before notifications arrive.
    public static func register(center: UNUserNotificationCenter = .current()) {
        let deny = UNNotificationAction(identifier: denyAction, title: "Deny", options: [.authenticationRequired])
        let notMe = UNNotificationAction(identifier: notMeAction, title: "Not me", options: [.destructive, .authenticationRequired])
        let approve = UNNotificationAction(identifier: approveAction, title: "Approve", options: [.authenticationRequired])
        let withCode = UNNotificationCategory(identifier: login, actions: [deny, notMe], intentIdentifiers: [], options: [])
        let noCode = UNNotificationCategory(identifier: loginNoCode, actions: [approve, deny, notMe], intentIdentifiers: [], options: [])
        center.setNotificationCategories([withCode, noCode])
    }

    /// The decision a notification action stands for, or nil (the default tap opens the app).
    public static func decision(forAction identifier: String) -> Decision? {
        switch identifier {
        case approveAction: return .approve(presenceAnswer: nil)
        case denyAction: return .deny(reason: .cancelled)
        case notMeAction: return .deny(reason: .notMe)
        default: return nil
        }
    }

    /// Answers from a notification action; call from
    /// `userNotificationCenter(_:didReceive:withCompletionHandler:)`. Returns the request to show
    /// when the user tapped the notification itself (open the approval screen for it).
    public static func handle(_ response: UNNotificationResponse, with authenticator: Authenticator) async -> LoginRequest? {
        guard let json = PushPayload.json(from: response.notification.request.content.userInfo),
              let request = try? authenticator.handlePush(payloadJson: json) else { return nil }
        guard let decision = decision(forAction: response.actionIdentifier) else { return request }
        _ = try? await authenticator.respond(requestId: request.id, decision: decision)
        return nil
    }
}
