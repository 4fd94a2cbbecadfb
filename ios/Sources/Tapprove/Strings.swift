import Foundation

/// Every text the iOS shell shows to the user, from the package's string catalog
/// (Resources/Localizable.xcstrings, English and German; `cargo xtask test ios` fails on a key
/// missing from either language or on a user-facing literal elsewhere in the shell).
enum Strings {
    private static func text(_ key: String) -> String {
        NSLocalizedString(key, bundle: .module, comment: "")
    }

    private static func format(_ key: String, _ args: CVarArg...) -> String {
        String(format: text(key), locale: .current, arguments: args)
    }

    static var loginRequest: String { text("notification.login_request") }
    static var notShown: String { text("notification.not_shown") }
    static var openAppForPending: String { text("notification.open_app") }
    static var deny: String { text("action.deny") }
    static var notMe: String { text("action.not_me") }
    static var approve: String { text("action.approve") }
    static var typeCode: String { text("action.type_code") }
    static var codePlaceholder: String { text("action.code_placeholder") }
    static var noCodeTyped: String { text("result.no_code_typed") }
    static var answerNotSent: String { text("result.not_sent") }
    static var promptChoose: String { text("prompt.choose") }
    static var promptEntry: String { text("prompt.entry") }
    static var promptNone: String { text("prompt.none") }
    static var promptDisplay: String { text("prompt.display") }

    /// Entry mode with a known code length (a plural in the catalog).
    static func promptEntry(digits: Int) -> String { String.localizedStringWithFormat(text("prompt.entry_digits"), digits) }
    static func near(_ location: String) -> String { format("context.near", location) }
    static func ip(_ address: String) -> String { format("context.ip", address) }

    /// "Browser: Firefox on Linux" from the service's signed names (never the user agent, the
    /// visitor's own text); a browser it could not name reads "unknown browser"; nil when it
    /// named neither.
    static func browser(_ context: LoginContext) -> String? {
        if context.browser == nil && context.os == nil { return nil }
        let browser = context.browser ?? text("context.browser_unknown")
        let described = context.os.map { format("context.browser_on_os", browser, $0) } ?? browser
        return format("context.browser", described)
    }

    /// How and when a request ended before anyone answered, for its line in the request list.
    static func ended(_ ended: EndedRequest) -> String {
        let when = dateTime(ended.endedAt)
        return ended.status == .expired ? format("ended.expired", when) : format("ended.replaced", when)
    }

    static var reportEnded: String { text("ended.report") }
    static var endedReported: String { text("ended.reported") }

    /// Unix seconds as a date and time in the user's language and time zone.
    static func dateTime(_ unixSeconds: Int64) -> String {
        Date(timeIntervalSince1970: TimeInterval(unixSeconds)).formatted(date: .abbreviated, time: .shortened)
    }

    /// `error` in the user's language, from its type alone: the core's `userMessage()` is English
    /// and only fit for logs. No `default`, so a new error case does not compile without a text.
    static func error(_ error: AuthError) -> String {
        switch error {
        case .InvalidInput: return text("error.invalid_input")
        case .PairingRejected: return text("error.pairing_rejected")
        case .Revoked(_, let revokedAt, _):
            return revokedAt.map { format("error.revoked_on", dateTime($0)) } ?? text("error.revoked")
        case .UserVerification(let reason, _): return userVerification(reason)
        case .KeyUpdateRefused: return text("error.key_update_refused")
        case .NotPaired: return text("error.not_paired")
        case .UnpairedLocallyOnly: return text("error.unpaired_locally_only")
        case .Network: return text("error.network")
        case .RateLimited(let retryAfterSeconds, _):
            // Clamped: a service asking for more than Int seconds still reads as a number.
            return retryAfterSeconds.map {
                String.localizedStringWithFormat(text("error.rate_limited_seconds"), Int(clamping: $0))
            } ?? text("error.rate_limited")
        case .UpdateRequired: return text("error.update_required")
        case .RequestClosed(let reason, _): return requestClosed(reason)
        case .InvalidNotification: return text("error.invalid_notification")
        case .Service(let status, _, _): return format("error.service", Int(status))
        case .Cancelled: return text("error.cancelled")
        case .Platform: return text("error.platform")
        case .Internal: return text("error.internal")
        }
    }

    private static func userVerification(_ reason: UvFailure) -> String {
        switch reason {
        case .cancelled: return text("error.uv_cancelled")
        case .unavailable: return text("error.uv_unavailable")
        case .failed: return text("error.uv_failed")
        }
    }

    private static func requestClosed(_ reason: ClosedReason) -> String {
        switch reason {
        case .expired: return text("error.closed_expired")
        case .alreadyAnswered: return text("error.closed_already_answered")
        case .notPending: return text("error.closed_not_pending")
        case .ended: return text("error.closed_ended")
        }
    }
}

extension LoginContext {
    /// "Browser: Firefox on Linux" in the user's language, from the service's signed names (never
    /// the raw user agent); nil when it named neither.
    public var localizedBrowser: String? { Strings.browser(self) }
}

extension EndedRequest {
    /// How and when it ended, in the user's language ("Expired before you answered (…)").
    public var localizedEnd: String { Strings.ended(self) }

    /// Its one action, "This wasn't me" (`Decision.deny(reason: .notMe)`), in the user's language.
    public static var reportActionTitle: String { Strings.reportEnded }

    /// What to tell the user once it is reported: the sign-in stays ended, requests are paused.
    public static var reportedMessage: String { Strings.endedReported }
}

extension AuthError {
    /// What to show the user for this error, in their language (English or German, from the
    /// package's string catalog). `userMessage()` stays for logs.
    public var localizedMessage: String { Strings.error(self) }
}
