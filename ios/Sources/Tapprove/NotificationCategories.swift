import Foundation
import UserNotifications

/// The notification categories of login requests and the answers their actions send.
///
/// The service sends `"category": "TAPPROVE_LOGIN"` (docs/PROTOCOL.md §11); the Notification
/// Service Extension sets the category for the request's presence mode and whether approving
/// needs user verification:
/// - `TAPPROVE_LOGIN` (choose a number, with or without verification): Deny and Not me; the
///   number is picked in the app (tapping the notification), where the options can be shown;
/// - `TAPPROVE_LOGIN_ENTRY` (type the code): a text-input action "Type code" that answers from
///   the notification (the code typed on the lock screen), plus Deny and Not me;
/// - `TAPPROVE_LOGIN_NONE` (no code): Approve, Deny and Not me;
/// - `TAPPROVE_LOGIN_ENTRY_VERIFY` and `TAPPROVE_LOGIN_NONE_VERIFY`: the same, for a request that
///   needs user verification (every typed-code request under `nist-aal2`): the approving action
///   opens the app (`.foreground`), because Face ID cannot be shown to an action that runs in
///   the background; the app then runs the ``UserVerifier`` before the answer is signed.
///
/// Every action requires the device to be unlocked (`.authenticationRequired`). No action drops
/// an answer silently: one that cannot be sent posts a notification saying why.
public enum NotificationCategories {
    public static let login = "TAPPROVE_LOGIN"
    public static let loginEntry = "TAPPROVE_LOGIN_ENTRY"
    public static let loginNoCode = "TAPPROVE_LOGIN_NONE"
    public static let loginEntryVerify = "TAPPROVE_LOGIN_ENTRY_VERIFY"
    public static let loginNoCodeVerify = "TAPPROVE_LOGIN_NONE_VERIFY"
    public static let approveAction = "TAPPROVE_APPROVE"
    public static let typeCodeAction = "TAPPROVE_TYPE_CODE"
    public static let denyAction = "TAPPROVE_DENY"
    public static let notMeAction = "TAPPROVE_NOT_ME"

    /// The five categories. Register them once at launch, before notifications arrive.
    public static func all() -> Set<UNNotificationCategory> {
        let deny = UNNotificationAction(identifier: denyAction, title: Strings.deny, options: [.authenticationRequired])
        let notMe = UNNotificationAction(identifier: notMeAction, title: Strings.notMe, options: [.destructive, .authenticationRequired])
        func approve(_ options: UNNotificationActionOptions) -> UNNotificationAction {
            UNNotificationAction(identifier: approveAction, title: Strings.approve, options: options)
        }
        func typeCode(_ options: UNNotificationActionOptions) -> UNNotificationAction {
            UNTextInputNotificationAction(identifier: typeCodeAction, title: Strings.typeCode,
                                          options: options,
                                          textInputButtonTitle: Strings.approve,
                                          textInputPlaceholder: Strings.codePlaceholder)
        }
        let background: UNNotificationActionOptions = [.authenticationRequired]
        let verified: UNNotificationActionOptions = [.authenticationRequired, .foreground]
        return [
            UNNotificationCategory(identifier: login, actions: [deny, notMe], intentIdentifiers: [], options: []),
            UNNotificationCategory(identifier: loginEntry, actions: [typeCode(background), deny, notMe], intentIdentifiers: [], options: []),
            UNNotificationCategory(identifier: loginNoCode, actions: [approve(background), deny, notMe], intentIdentifiers: [], options: []),
            UNNotificationCategory(identifier: loginEntryVerify, actions: [typeCode(verified), deny, notMe], intentIdentifiers: [], options: []),
            UNNotificationCategory(identifier: loginNoCodeVerify, actions: [approve(verified), deny, notMe], intentIdentifiers: [], options: []),
        ]
    }

    /// Registers ``all()``. Call once at launch, before notifications arrive.
    public static func register(center: UNUserNotificationCenter = .current()) {
        center.setNotificationCategories(all())
    }

    /// The category for a verified request: one whose approving action opens the app when the
    /// request needs user verification.
    public static func category(for request: LoginRequest) -> String {
        let verify = request.userVerification != nil
        switch request.presenceMode {
        case .choose: return login
        case .entry: return verify ? loginEntryVerify : loginEntry
        case .none: return verify ? loginNoCodeVerify : loginNoCode
        // Code to phone: approving is typing the code at the login; the app shows it.
        case .display: return login
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
    /// device): the approval screen then says why. An answer that was not sent also posts a
    /// notification with the reason, since a background action has no screen to show it on.
    public static func handle(_ response: UNNotificationResponse, with authenticator: Authenticator,
                              center: UNUserNotificationCenter = .current()) async -> LoginRequest? {
        guard let json = PushPayload.json(from: response.notification.request.content.userInfo),
              let request = try? authenticator.handlePush(payloadJson: json) else { return nil }
        let typed = (response as? UNTextInputNotificationResponse)?.userText
        guard let decision = decision(forAction: response.actionIdentifier, typedText: typed) else {
            if response.actionIdentifier == typeCodeAction {
                await postResult(Strings.noCodeTyped, for: request, center: center)
            }
            return request
        }
        do {
            _ = try await withCancelToken { token in
                try await authenticator.respond(requestId: request.id, decision: decision, cancel: token)
            }
            return nil
        } catch let error as AuthError {
            await postResult(error.localizedMessage, for: request, center: center)
            return request
        } catch {
            await postResult(Strings.answerNotSent, for: request, center: center)
            return request
        }
    }

    /// Replaces the request's notification by one saying why its answer was not sent; tapping
    /// it opens the app (no actions, so nothing on it can be mistaken for an answer).
    static func postResult(_ message: String, for request: LoginRequest, center: UNUserNotificationCenter) async {
        let content = UNMutableNotificationContent()
        content.title = Strings.loginRequest
        content.body = message
        content.threadIdentifier = request.accountId
        let note = UNNotificationRequest(identifier: "tapprove-result-\(request.id)", content: content, trigger: nil)
        try? await center.add(note)
    }
}
