import Foundation

/// The event stream (`listen`) over `URLSession.bytes(for:)`, for the same reasons as
/// ``URLSessionTransport`` (system proxies, profile CAs, VPN rules; the phone build has no TLS
/// of its own): the body reaches the SDK piece by piece as the service writes it, and stopping
/// `listen` cancels the `URLSession` task. Pass it as `streaming` to
/// `Authenticator.withTransport(...)`.
///
/// The SDK calls `openStream` and `read` on its own background threads and blocks there, so the
/// async `URLSession` API runs in a `Task` and hands its bytes over through a lock.
public final class URLSessionStreamTransport: NSObject, HttpStreamTransport, URLSessionTaskDelegate, @unchecked Sendable {
    private var session: URLSession!

    /// - Parameter configuration: `.ephemeral` by default (no cookies, no cache on disk).
    public init(configuration: URLSessionConfiguration = .ephemeral) {
        super.init()
        configuration.urlCache = nil
        configuration.httpCookieStorage = nil
        session = URLSession(configuration: configuration, delegate: self, delegateQueue: nil)
    }

    public func openStream(request: HttpRequest) throws -> HttpBodyStream {
        guard let url = URL(string: request.url) else {
            throw AuthError.Network(detail: "not a URL: \(request.url)")
        }
        var urlRequest = URLRequest(url: url)
        urlRequest.httpMethod = request.method
        // URLSession's timeout is the longest wait for the next bytes: the service sends a
        // keep-alive comment well within it.
        urlRequest.timeoutInterval = TimeInterval(request.timeoutMs) / 1000
        urlRequest.cachePolicy = .reloadIgnoringLocalCacheData
        for header in request.headers {
            urlRequest.addValue(header.value, forHTTPHeaderField: header.name)
        }
        if !request.body.isEmpty {
            urlRequest.httpBody = request.body
        }
        let body = URLSessionBodyStream(host: url.host ?? request.url)
        body.start(session: session, request: urlRequest)
        try body.waitForHead()
        return body
    }

    /// No redirects: the request proof names the path it was made for.
    public func urlSession(
        _ session: URLSession,
        task: URLSessionTask,
        willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest,
        completionHandler: @escaping (URLRequest?) -> Void
    ) {
        completionHandler(nil)
    }
}

/// One open response: its head, then its body in the pieces that have arrived.
final class URLSessionBodyStream: HttpBodyStream, @unchecked Sendable {
    private let host: String
    private let condition = NSCondition()
    private var head: HTTPURLResponse?
    private var pending = Data()
    private var finished = false
    private var failure: Error?
    private var task: Task<Void, Never>?

    init(host: String) {
        self.host = host
    }

    func start(session: URLSession, request: URLRequest) {
        task = Task { [self] in
            do {
                let (bytes, response) = try await session.bytes(for: request)
                guard let http = response as? HTTPURLResponse else {
                    throw AuthError.Network(detail: "\(host) did not answer over HTTP")
                }
                update { head = http }
                // Handed over byte by byte as they arrive: the stream is a few small events.
                for try await byte in bytes {
                    update { pending.append(byte) }
                }
                update { finished = true }
            } catch {
                let broke = error as? AuthError ?? AuthError.Network(detail: "the event stream from \(host) broke: \(error.localizedDescription)")
                update {
                    // After cancel() the stream is simply over: the cancellation is no failure.
                    if !finished { failure = broke }
                    finished = true
                }
            }
        }
    }

    private func update(_ change: () -> Void) {
        condition.lock()
        change()
        condition.broadcast()
        condition.unlock()
    }

    /// Blocks until the response head is there, or throws why it never came.
    func waitForHead() throws {
        condition.lock()
        defer { condition.unlock() }
        while head == nil && !finished {
            condition.wait()
        }
        if head == nil {
            throw failure ?? AuthError.Network(detail: "could not reach \(host)")
        }
    }

    func status() throws -> UInt16 {
        condition.lock()
        defer { condition.unlock() }
        return UInt16(clamping: head?.statusCode ?? 0)
    }

    func headers() throws -> [HttpHeader] {
        condition.lock()
        defer { condition.unlock() }
        var out: [HttpHeader] = []
        for (name, value) in head?.allHeaderFields ?? [:] {
            if let name = name as? String {
                out.append(HttpHeader(name: name, value: "\(value)"))
            }
        }
        return out
    }

    /// The bytes that arrived since the last call (waiting for some); nil at the end.
    func read() throws -> Data? {
        condition.lock()
        defer { condition.unlock() }
        while pending.isEmpty && !finished {
            condition.wait()
        }
        if !pending.isEmpty {
            let piece = pending
            pending = Data()
            return piece
        }
        if let failure {
            throw failure
        }
        return nil
    }

    /// From another thread: a blocked `read` returns nil at once and the URLSession task is
    /// cancelled (cancelling the `Task` cancels the `bytes(for:)` download).
    func cancel() throws {
        update {
            finished = true
            failure = nil
            pending = Data()
        }
        task?.cancel()
    }
}
