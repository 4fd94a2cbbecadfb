import XCTest
@testable import Tapprove

/// Run on an iOS simulator (xcodebuild test). The behaviour is covered by the Rust and Kotlin
/// tests; these check the Swift glue.
final class TapproveTests: XCTestCase {
    func testTokenHex() {
        XCTAssertEqual(APNsToken.hex(Data([0x00, 0xab, 0x10, 0xff])), "00ab10ff")
        let reg = APNsToken.registration(Data([1, 2]), sandbox: true)
        XCTAssertEqual(reg.platform, .apns)
        XCTAssertEqual(reg.token, "0102")
        XCTAssertEqual(reg.environment, .sandbox)
    }

    func testNotificationActionsMapToDecisions() {
        XCTAssertEqual(NotificationCategories.decision(forAction: NotificationCategories.notMeAction), .deny(reason: .notMe))
        XCTAssertEqual(NotificationCategories.decision(forAction: NotificationCategories.denyAction), .deny(reason: .cancelled))
        XCTAssertNil(NotificationCategories.decision(forAction: "com.apple.UNNotificationDefaultActionIdentifier"))
    }

    func testPayloadJSON() throws {
        let json = try XCTUnwrap(PushPayload.json(from: ["tapprove": "a.b.c", "aps": ["category": "TAPPROVE_LOGIN"]]))
        XCTAssertTrue(json.contains("\"tapprove\":\"a.b.c\""))
    }

    func testSDKVersion() {
        XCTAssertFalse(sdkVersion().isEmpty)
    }
}
