import SwiftUI
import Tapprove

/// Approval screen: who is signing in, a countdown, the three numbers (or a code field) and
/// Deny / Not me.
struct ApprovalView: View {
    let request: LoginRequest
    let dismiss: () -> Void
    @State private var code = ""
    @State private var status = ""
    @State private var sending = false
    /// Code to phone: the code, once `showCode` gave it (after Face ID when the policy asks).
    @State private var displayCode: String?
    @State private var now = Date()
    private let timer = Timer.publish(every: 1, on: .main, in: .common).autoconnect()

    private var secondsLeft: Int64 { max(0, request.expiresAt - Int64(now.timeIntervalSince1970)) }

    var body: some View {
        VStack(spacing: 16) {
            Text(request.title).font(.title2).bold()
            Text(request.body)
            VStack(alignment: .leading, spacing: 4) {
                if let app = request.context.app { Label(app, systemImage: "app") }
                if let location = request.context.location { Label(L.near(location), systemImage: "location") }
                if let ip = request.context.ip { Label(L.ip(ip), systemImage: "network") }
                // The service's signed browser and system names, never the raw user agent.
                if let browser = request.context.localizedBrowser { Label(browser, systemImage: "safari") }
            }
            .font(.subheadline)
            Text(L.expiresIn("\(secondsLeft / 60):\(String(format: "%02d", secondsLeft % 60))"))
                .monospacedDigit()
            switch request.presenceMode {
            case .choose:
                Text(L.promptChoose)
                HStack(spacing: 12) {
                    ForEach(request.options, id: \.self) { option in
                        Button(option) { send(.approve(presenceAnswer: option)) }
                            .font(.largeTitle)
                            .buttonStyle(.borderedProminent)
                    }
                }
            case .entry:
                Text(L.promptEntry)
                TextField(codePlaceholder, text: $code)
                    .keyboardType(.numberPad)
                    .textContentType(.oneTimeCode)
                    .textFieldStyle(.roundedBorder)
                    .onChange(of: code) { typed in
                        // Digits only, never longer than the service's code (it says how long).
                        let digits = typed.filter(\.isNumber)
                        let max = request.codeLength.map(Int.init) ?? digits.count
                        code = String(digits.prefix(max))
                    }
                Button(L.approve) { send(.approve(presenceAnswer: code)) }
                    .buttonStyle(.borderedProminent)
                    .disabled(!codeComplete)
            case .none:
                Button(L.approve) { send(.approve(presenceAnswer: nil)) }
                    .buttonStyle(.borderedProminent)
            case .display:
                if let displayCode {
                    Text(L.displayCodeLabel)
                    Text(displayCode).font(.largeTitle).monospacedDigit()
                } else {
                    Button(L.showCode) { revealCode() }
                        .buttonStyle(.borderedProminent)
                }
            }
            HStack {
                Button(L.deny) { send(.deny(reason: .cancelled)) }
                Button(request.presenceMode == .display ? L.thisWasntMe : L.notMe, role: .destructive) {
                    send(.deny(reason: .notMe))
                }
            }
            if request.userVerification == .required {
                Label(L.uvNotice, systemImage: "faceid")
                    .font(.footnote)
            }
            if !status.isEmpty { Text(status).multilineTextAlignment(.center) }
            Button(L.close, action: dismiss)
        }
        .padding()
        .disabled(sending)
        .onReceive(timer) { now = $0 }
    }

    private var codePlaceholder: String {
        request.codeLength.map { L.codeDigits(Int($0)) } ?? L.codePlaceholder
    }

    private var codeComplete: Bool {
        guard let length = request.codeLength else { return !code.isEmpty }
        return code.count == Int(length)
    }

    /// Code to phone: the SDK verifies the user when asked and tells the service the code was
    /// shown (under nist-aal2 it refuses the typed code before that).
    private func revealCode() {
        sending = true
        Task { @MainActor in
            defer { sending = false }
            do {
                let auth = try SampleConfig.authenticator()
                displayCode = try await withCancelToken { token in
                    try await auth.showCode(requestId: request.id, cancel: token)
                }
            } catch AuthError.UserVerification(.cancelled, _) {
                status = L.uvCancelled
            } catch let error as AuthError {
                status = error.localizedMessage
            } catch {
                status = "\(error)"
            }
        }
    }

    private func send(_ decision: Decision) {
        sending = true
        Task { @MainActor in
            defer { sending = false }
            do {
                let auth = try SampleConfig.authenticator()
                let outcome = try await withCancelToken { token in
                    try await auth.respond(requestId: request.id, decision: decision, cancel: token)
                }
                switch (outcome.status, outcome.reason) {
                case (.accepted, _): status = L.approved
                case (_, .wrongNumber?): status = L.wrongNumber
                case (_, .fraudReported?): status = L.fraudReported
                default: status = L.denied
                }
            } catch AuthError.UserVerification(.cancelled, _) {
                // Nothing was sent: the request is still open.
                status = L.uvCancelled
            } catch AuthError.Revoked(_, let revokedAt, _) {
                status = revokedAt.map {
                    L.revoked(request.user, on: Date(timeIntervalSince1970: TimeInterval($0)).formatted(date: .abbreviated, time: .shortened))
                } ?? L.revoked(request.user)
            } catch let error as AuthError {
                status = error.localizedMessage
            } catch {
                status = "\(error)"
            }
        }
    }
}
