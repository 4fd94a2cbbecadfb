import Foundation

/// ``HttpTransport`` over `URLSession`: the SDK's device API calls then follow the system's
/// proxy settings, configuration-profile CAs and VPN (per-app VPN, on-demand rules), which the
/// built-in Rust client ignores. Pass it to `Authenticator.withTransport(...)`.
///
/// Only bytes pass through here: the SDK builds and signs each request in Rust (the request
/// proof is already in the `Authorization` header) and reads each response itself. Redirects
/// are not followed (a redirect would break the proof); an HTTP error status is a normal
/// response; only a failed exchange throws. `send` blocks its caller, which is always one of
/// the SDK's background threads.
public final class URLSessionTransport: NSObject, HttpTransport, URLSessionTaskDelegate, @unchecked Sendable {
    private var session: URLSession!

    /// - Parameter configuration: `.ephemeral` by default (no cookies, no cache on disk).
    public init(configuration: URLSessionConfiguration = .ephemeral) {
        super.init()
        configuration.urlCache = nil
        configuration.httpCookieStorage = nil
        session = URLSession(configuration: configuration, delegate: self, delegateQueue: nil)
    }

    /// One exchange's outcome, handed from the completion handler to the waiting thread.
    private final class Outcome: @unchecked Sendable {
        var result: Result<HttpResponse, Error> = .failure(AuthError.Network(detail: "no answer"))
    }

    public func send(request: HttpRequest) throws -> HttpResponse {
        guard let url = URL(string: request.url) else {
            throw AuthError.Network(detail: "not a URL: \(request.url)")
        }
        var urlRequest = URLRequest(url: url)
        urlRequest.httpMethod = request.method
        urlRequest.timeoutInterval = TimeInterval(request.timeoutMs) / 1000
        urlRequest.cachePolicy = .reloadIgnoringLocalCacheData
        for header in request.headers {
            urlRequest.addValue(header.value, forHTTPHeaderField: header.name)
        }
        if !request.body.isEmpty {
            urlRequest.httpBody = request.body
        }
        let host = url.host ?? request.url
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        let task = session.dataTask(with: urlRequest) { data, response, error in
            defer { done.signal() }
            if let error {
                outcome.result = .failure(AuthError.Network(detail: "could not reach \(host): \(error.localizedDescription)"))
                return
            }
            guard let http = response as? HTTPURLResponse else {
                outcome.result = .failure(AuthError.Network(detail: "\(host) did not answer over HTTP"))
                return
            }
            var headers: [HttpHeader] = []
            for (name, value) in http.allHeaderFields {
                if let name = name as? String {
                    headers.append(HttpHeader(name: name, value: "\(value)"))
                }
            }
            outcome.result = .success(HttpResponse(
                status: UInt16(clamping: http.statusCode),
                headers: headers,
                body: data ?? Data()
            ))
        }
        task.resume()
        done.wait()
        return try outcome.result.get()
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
