import Foundation
import HTTPTypes
import OpenAPIRuntime

/// Adds `Authorization: Bearer <access token>` to every request that has none,
/// with the token `token()` answers at the time (`nil`: sent without one).
///
///     let auth = BearerTokenMiddleware { await session.accessToken }
///     let client = Client(serverURL: url, transport: URLSessionTransport(), middlewares: [auth])
public struct BearerTokenMiddleware: ClientMiddleware {
    private let token: @Sendable () async throws -> String?

    public init(token: @escaping @Sendable () async throws -> String?) {
        self.token = token
    }

    public func intercept(
        _ request: HTTPRequest,
        body: HTTPBody?,
        baseURL: URL,
        operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        var request = request
        if request.headerFields[.authorization] == nil, let token = try await token() {
            request.headerFields[.authorization] = "Bearer \(token)"
        }
        return try await next(request, body, baseURL)
    }
}
