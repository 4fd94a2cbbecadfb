import Tapprove
import UserNotifications

/// The sample's Notification Service Extension: verifies login requests before they are shown
/// and rewrites their text. It shares the keychain access group with the app.
final class NotificationService: UNNotificationServiceExtension {
    private let helper = NotificationServiceHelper(makeAuthenticator: { try SampleExtensionConfig.authenticator() })

    override func didReceive(_ request: UNNotificationRequest,
                             withContentHandler contentHandler: @escaping (UNNotificationContent) -> Void) {
        helper.didReceive(request, withContentHandler: contentHandler)
    }

    override func serviceExtensionTimeWillExpire() {
        helper.timeWillExpire()
    }
}

enum SampleExtensionConfig {
    static func authenticator() throws -> Authenticator {
        try TapproveSDK.configure(serverURL: "https://auth.example.com", sdkKey: "tap_sdk_REPLACE_WITH_YOUR_KEY_",
                                  accessGroup: "TEAMID.dev.tapprove.sample")
    }
}
