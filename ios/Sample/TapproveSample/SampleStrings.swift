import Foundation

/// Every text the sample shows, from its string catalog (Localizable.xcstrings, English and
/// German), checked like the package's (`cargo xtask test ios`).
enum L {
    private static func text(_ key: String) -> String {
        NSLocalizedString(key, comment: "")
    }

    private static func format(_ key: String, _ args: CVarArg...) -> String {
        String(format: text(key), locale: .current, arguments: args)
    }

    static var appTitle: String { text("app.title") }
    static func near(_ place: String) -> String { format("approval.near", place) }
    static func ip(_ address: String) -> String { format("approval.ip", address) }
    static func expiresIn(_ time: String) -> String { format("approval.expires_in", time) }
    static var promptChoose: String { text("approval.prompt.choose") }
    static var promptEntry: String { text("approval.prompt.entry") }
    static var approve: String { text("approval.approve") }
    static var deny: String { text("approval.deny") }
    static var notMe: String { text("approval.not_me") }
    static var showCode: String { text("approval.display.show_code") }
    static var displayCodeLabel: String { text("approval.display.code_label") }
    static var thisWasntMe: String { text("approval.display.not_me") }
    static var uvNotice: String { text("approval.uv_notice") }
    static var close: String { text("approval.close") }
    static var codePlaceholder: String { text("approval.code_placeholder") }
    static func codeDigits(_ n: Int) -> String { String.localizedStringWithFormat(text("approval.code_digits"), n) }
    static var approved: String { text("approval.outcome.approved") }
    static var wrongNumber: String { text("approval.outcome.wrong_number") }
    static var fraudReported: String { text("approval.outcome.fraud_reported") }
    static var denied: String { text("approval.outcome.denied") }
    static var uvCancelled: String { text("approval.uv_cancelled") }
    static func revoked(_ user: String) -> String { format("approval.revoked", user) }
    static func revoked(_ user: String, on date: String) -> String { format("approval.revoked_on", user, date) }
    static var requestsTitle: String { text("requests.title") }
    static var requestsNone: String { text("requests.none") }
    static var requestsPending: String { text("requests.pending") }
    static var requestsEnded: String { text("requests.ended") }
    static var pairSection: String { text("pair.section") }
    static var userName: String { text("pair.user_name") }
    static var codeHint: String { text("pair.code_hint") }
    static var pair: String { text("pair.pair") }
    static var pairing: String { text("pair.pairing") }
    static var accounts: String { text("pair.accounts") }
    static func removedBy(_ project: String, on date: String) -> String { format("pair.removed_by", project, date) }
    static var forget: String { text("pair.forget") }
    static var needsRepair: String { text("pair.needs_repair") }
    static var needsRepairHint: String { text("pair.needs_repair_hint") }
    static func pairingWith(_ user: String, _ server: String) -> String { format("pair.pairing_with", user, server) }
    static func paired(_ user: String, _ project: String) -> String { format("pair.paired", user, project) }
}
