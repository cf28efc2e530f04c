import Foundation
import HTTPTypes
import Hummingbird
import Logging

extension HTTPField.Name {
    static let correlationID = Self("Correlation-ID")!
}

/// The outermost middleware: gives every request a correlation id (echoed or generated) that every log line of the
/// request carries and its response returns.
struct CorrelationMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let correlationID = Self.correlationID(from: request.headers[.correlationID])
        context.correlationID = correlationID
        context.logger[metadataKey: "correlation_id"] = .string(correlationID)
        var response = try await next(request, context)
        response.headers[.correlationID] = correlationID
        return response
    }

    /// Echoes a UUID or 32-hex id from the client; anything else is replaced so logs stay clean.
    static func correlationID(from header: String?) -> String {
        if let header {
            if header.count == 36, UUID(uuidString: header) != nil { return header }
            if header.count == 32, header.allSatisfy(\.isHexDigit) { return header }
        }
        return UUID().uuidString.lowercased()
    }
}
