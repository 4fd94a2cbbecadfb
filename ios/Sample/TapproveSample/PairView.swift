import SwiftUI
import Tapprove

/// Pair screen: the user name and pairing code from the website, or a `tapprove://pair` link
/// (the QR code, scanned with the Camera app, opens the app with it).
struct PairView: View {
    @EnvironmentObject var model: SampleModel
    @State private var user = ""
    @State private var code = ""
    @State private var status = ""
    @State private var busy = false
    @State private var accounts: [Account] = []
    @State private var broken: [AccountNeedingRepair] = []

    var body: some View {
        Form {
            Section(L.pairSection) {
                TextField(L.userName, text: $user)
                    .textInputAutocapitalization(.never)
                    .autocorrectionDisabled()
                TextField(L.codeHint, text: $code)
                    .textInputAutocapitalization(.characters)
                Button(busy ? L.pairing : L.pair) { Task { await pair() } }
                    .disabled(busy || user.isEmpty || code.isEmpty)
                if !status.isEmpty { Text(status).font(.footnote) }
            }
            if !broken.isEmpty {
                // Records that did not come back readable (a restored backup): pair again.
                Section(L.needsRepair) {
                    ForEach(broken, id: \.accountId) { account in
                        VStack(alignment: .leading) {
                            Text(account.accountId).font(.headline)
                            Text(L.needsRepairHint).font(.footnote)
                            Button(L.forget, role: .destructive) { forgetBroken(account.accountId) }
                        }
                    }
                }
            }
            Section(L.accounts) {
                ForEach(accounts, id: \.id) { account in
                    VStack(alignment: .leading) {
                        Text(account.user).font(.headline)
                        Text(account.projectName).font(.subheadline)
                        if let revokedAt = account.revokedAt {
                            // Kept so the user learns what happened; it is never used again.
                            Text(L.removedBy(account.projectName, on: Date(timeIntervalSince1970: TimeInterval(revokedAt)).formatted(date: .abbreviated, time: .shortened)))
                                .font(.footnote)
                                .foregroundStyle(.red)
                            Button(L.forget, role: .destructive) { Task { await forget(account) } }
                        }
                    }
                }
            }
        }
        .navigationTitle(L.appTitle)
        .onOpenURL { url in Task { await pair(uri: url.absoluteString) } }
        .onAppear(perform: reload)
    }

    private var push: PushRegistration? { model.pushToken.map { APNsToken.registration($0) } }

    private func reload() {
        accounts = (try? SampleConfig.authenticator().accounts()) ?? []
        broken = (try? SampleConfig.authenticator().accountsNeedingRepair()) ?? []
    }

    private func forgetBroken(_ accountId: String) {
        do {
            try SampleConfig.authenticator().forgetAccount(accountId: accountId)
        } catch let error as AuthError {
            status = error.localizedMessage
        } catch {
            status = "\(error)"
        }
        reload()
    }

    private func forget(_ account: Account) async {
        do {
            let auth = try SampleConfig.authenticator()
            try await withCancelToken { token in try await auth.unpair(accountId: account.id, cancel: token) }
        } catch let error as AuthError {
            status = error.localizedMessage
        } catch {
            status = "\(error)"
        }
        reload()
    }

    private func pair(uri: String? = nil) async {
        busy = true
        defer { busy = false; reload() }
        do {
            let auth = try SampleConfig.authenticator()
            let account: Account
            if let uri {
                let info = try describeEnrollmentUri(uri: uri)
                status = L.pairingWith(info.user, info.serverUrl)
                account = try await withCancelToken { token in try await auth.pairUri(uri: uri, push: push, cancel: token) }
            } else {
                let name = user.trimmingCharacters(in: .whitespaces)
                let pairingCode = code.trimmingCharacters(in: .whitespaces)
                account = try await withCancelToken { token in
                    try await auth.pair(user: name, pairingCode: pairingCode, push: push, cancel: token)
                }
            }
            status = L.paired(account.user, account.projectName)
            code = ""
        } catch let error as AuthError {
            status = error.localizedMessage
        } catch {
            status = "\(error)"
        }
    }
}
