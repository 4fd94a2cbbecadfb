import Foundation

/// Makes Swift `Task` cancellation reach the core. uniffi's generated async functions do not
/// observe it (the future runs on), so every async call of this package goes through
/// ``withCancelToken(_:)``: a cancelled task cancels the call's ``CancelToken``, which ends it at
/// once with `AuthError.Cancelled` and stops its network work.
///
/// ```swift
/// let outcome = try await withCancelToken { token in
///     try await auth.respond(requestId: id, decision: decision, cancel: token)
/// }
/// ```
public func withCancelToken<T>(_ call: (CancelToken) async throws -> T) async throws -> T {
    let token = CancelToken()
    return try await withTaskCancellationHandler {
        try await call(token)
    } onCancel: {
        token.cancel()
    }
}
