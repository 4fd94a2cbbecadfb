import SwiftUI
import Tapprove
import UIKit
import UserNotifications

/// Sample configuration: replace with your service and project, and an access group shared
/// with the NotificationService extension (Keychain Sharing capability).
enum SampleConfig {
    static let serverURL = "https://auth.example.com"
    static let sdkKey = "tap_sdk_REPLACE_WITH_YOUR_KEY_"
    static let accessGroup = "TEAMID.dev.tapprove.sample"

    static func authenticator() throws -> Authenticator {
        try TapproveSDK.configure(serverURL: serverURL, sdkKey: sdkKey, accessGroup: accessGroup,
                                  deviceName: UIDevice.current.name)
    }
}

/// Registers for pushes on every launch and routes notification taps and actions.
final class AppDelegate: NSObject, UIApplicationDelegate, UNUserNotificationCenterDelegate {
    let model = SampleModel()

    func application(_ application: UIApplication,
                     didFinishLaunchingWithOptions launchOptions: [UIApplication.LaunchOptionsKey: Any]? = nil) -> Bool {
        NotificationCategories.register()
        UNUserNotificationCenter.current().delegate = self
        UNUserNotificationCenter.current().requestAuthorization(options: [.alert, .sound]) { _, _ in }
        application.registerForRemoteNotifications()
        return true
    }

    func application(_ application: UIApplication, didRegisterForRemoteNotificationsWithDeviceToken deviceToken: Data) {
        model.pushToken = deviceToken
        guard let auth = try? SampleConfig.authenticator() else { return }
        Task { await APNsToken.register(deviceToken, with: auth) }
    }

    func userNotificationCenter(_ center: UNUserNotificationCenter, didReceive response: UNNotificationResponse,
                                withCompletionHandler completionHandler: @escaping () -> Void) {
        guard let auth = try? SampleConfig.authenticator() else { return completionHandler() }
        Task { @MainActor in
            if let request = await NotificationCategories.handle(response, with: auth) {
                model.show(request)
            }
            completionHandler()
        }
    }

    func userNotificationCenter(_ center: UNUserNotificationCenter, willPresent notification: UNNotification,
                                withCompletionHandler completionHandler: @escaping (UNNotificationPresentationOptions) -> Void) {
        completionHandler([.banner, .sound])
    }
}

/// App state: the request being shown, if any.
@MainActor
final class SampleModel: ObservableObject {
    @Published var current: LoginRequest?
    var pushToken: Data?

    func show(_ request: LoginRequest) { current = request }

    /// Looks for pending requests (e.g. when the app comes to the foreground).
    func refresh() async {
        guard let auth = try? SampleConfig.authenticator(),
              let pending = try? await withCancelToken({ token in try await auth.pending(accountId: nil, cancel: token) }) else { return }
        if current == nil { current = pending.first }
    }
}

@main
struct TapproveSampleApp: App {
    @UIApplicationDelegateAdaptor(AppDelegate.self) var delegate

    var body: some Scene {
        WindowGroup {
            RootView().environmentObject(delegate.model)
        }
    }
}

struct RootView: View {
    @EnvironmentObject var model: SampleModel

    var body: some View {
        NavigationStack {
            PairView()
                .toolbar { NavigationLink(L.requestsTitle) { RequestListView() } }
                .sheet(item: $model.current) { request in
                    ApprovalView(request: request) { model.current = nil }
                }
                .task { await model.refresh() }
        }
    }
}

extension LoginRequest: Identifiable {}
