import SwiftUI
import Tapprove

/// The request list: pending requests (tap one to answer it), then the ones that ended before
/// anyone answered, shown as over with one action, "This wasn't me" (the service takes it for
/// 10 minutes after the end; the core keeps them in the Keychain, so a relaunch still lists them).
struct RequestListView: View {
    @EnvironmentObject var model: SampleModel
    @State private var pending: [LoginRequest] = []
    @State private var ended: [EndedRequest] = []
    @State private var status = ""

    var body: some View {
        List {
            if pending.isEmpty && ended.isEmpty { Text(L.requestsNone) }
            if !pending.isEmpty {
                Section(L.requestsPending) {
                    ForEach(pending) { request in
                        Button(request.title) { model.show(request) }
                    }
                }
            }
            if !ended.isEmpty {
                Section(L.requestsEnded) {
                    ForEach(ended, id: \.request.id) { item in
                        VStack(alignment: .leading, spacing: 4) {
                            Text(item.request.title).bold()
                            if let browser = item.request.context.localizedBrowser {
                                Text(browser).font(.subheadline)
                            }
                            Text(item.localizedEnd).font(.footnote)
                            // The only action: an ended request is never approvable.
                            Button(EndedRequest.reportActionTitle, role: .destructive) { report(item) }
                        }
                    }
                }
            }
            if !status.isEmpty { Text(status) }
        }
        .navigationTitle(L.requestsTitle)
        .task { await refresh() }
        .refreshable { await refresh() }
    }

    private func refresh() async {
        guard let auth = try? SampleConfig.authenticator() else { return }
        ended = auth.endedRequests(accountId: nil)
        pending = (try? await withCancelToken { token in try await auth.pending(accountId: nil, cancel: token) }) ?? []
    }

    private func report(_ item: EndedRequest) {
        Task { @MainActor in
            do {
                let auth = try SampleConfig.authenticator()
                _ = try await withCancelToken { token in
                    try await auth.respond(requestId: item.request.id, decision: .deny(reason: .notMe), cancel: token)
                }
                status = EndedRequest.reportedMessage
            } catch let error as AuthError {
                status = error.localizedMessage
            } catch {
                status = "\(error)"
            }
            await refresh()
        }
    }
}
