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
    @State private var now = Date()
    private let timer = Timer.publish(every: 1, on: .main, in: .common).autoconnect()

    private var secondsLeft: Int64 { max(0, request.expiresAt - Int64(now.timeIntervalSince1970)) }

    var body: some View {
        VStack(spacing: 16) {
            Text(request.title).font(.title2).bold()
            Text(request.body)
            VStack(alignment: .leading, spacing: 4) {
                if let app = request.context.app { Label(app, systemImage: "app") }
                if let location = request.context.location { Label("Near \(location)", systemImage: "location") }
                if let ip = request.context.ip { Label("IP \(ip)", systemImage: "network") }
            }
            .font(.subheadline)
            Text("Expires in \(secondsLeft / 60):\(String(format: "%02d", secondsLeft % 60))")
                .monospacedDigit()
            switch request.presenceMode {
            case .choose:
                Text("Tap the number shown on the login page")
                HStack(spacing: 12) {
                    ForEach(request.options, id: \.self) { option in
                        Button(option) { send(.approve(presenceAnswer: option)) }
                            .font(.largeTitle)
                            .buttonStyle(.borderedProminent)
                    }
                }
            case .entry:
                TextField("Code from the login page", text: $code)
                    .keyboardType(.numberPad)
                    .textFieldStyle(.roundedBorder)
                Button("Approve") { send(.approve(presenceAnswer: code)) }
                    .buttonStyle(.borderedProminent)
                    .disabled(code.isEmpty)
            case .none:
                Button("Approve") { send(.approve(presenceAnswer: nil)) }
                    .buttonStyle(.borderedProminent)
            }
            HStack {
                Button("Deny") { send(.deny(reason: .cancelled)) }
                Button("Not me", role: .destructive) { send(.deny(reason: .notMe)) }
            }
            if !status.isEmpty { Text(status).multilineTextAlignment(.center) }
            Button("Close", action: dismiss)
        }
        .padding()
        .disabled(sending)
        .onReceive(timer) { now = $0 }
    }

    private func send(_ decision: Decision) {
        sending = true
        Task { @MainActor in
            defer { sending = false }
            do {
                let outcome = try await SampleConfig.authenticator().respond(requestId: request.id, decision: decision)
                switch (outcome.status, outcome.reason) {
                case (.accepted, _): status = "Approved. You can go back to the website."
                case (_, .wrongNumber?): status = "That was not the number on the login page; the login was blocked."
                case (_, .fraudReported?): status = "Reported. The login was blocked; consider changing your password."
                default: status = "Login denied."
                }
            } catch let error as AuthError {
                status = error.userMessage()
            } catch {
                status = "\(error)"
            }
        }
    }
}
