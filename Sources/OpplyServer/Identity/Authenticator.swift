import Foundation
import Hummingbird
import Logging

/// Checks a `Bearer` access token when one is sent and puts its customer in the context.
/// Routes that need a customer run in `CustomerContext`, whose initializer answers `401` without one.
struct Authenticator: RouterMiddleware {
    typealias Context = AppRequestContext
    let identity: IdentityService

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else { return try await next(request, context) }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw AppError.unauthorized("Authorization header must be 'Bearer <token>'.")
        }
        var context = context
        context.customer = try await identity.authenticate(bearer: String(parts[1]).trimmingCharacters(in: .whitespaces))
        context.logger[metadataKey: "customer_id"] = .string(context.customer?.id.uuidString.lowercased() ?? "")
        return try await next(request, context)
    }
}
