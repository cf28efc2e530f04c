import Foundation
import HTTPTypes
import Hummingbird
import Logging

extension HTTPField.Name {
    static let correlationID = Self("Correlation-ID")!
}

/// The outermost middleware: gives every request a correlation id (echoed or generated) that every log line
/// carries, and turns every error into problem+json; an unexpected one becomes a logged, generic `500`.
struct RequestMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let metrics: ShopMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let request = Self.decodingPlusAsSpace(request)
        var context = context
        let correlationID = Self.correlationID(from: request.headers[.correlationID])
        context.correlationID = correlationID
        context.logger[metadataKey: "correlation_id"] = .string(correlationID)
        let started = ContinuousClock.now
        var response: Response
        do {
            if let problem = Self.nulProblem(in: request) { throw AppError.validation([problem]) }
            response = try await next(request, context)
        } catch {
            if let error = error as? AppError, error.code == "insufficient_stock" { metrics.reservationConflicts.increment() }
            response = Self.problemResponse(for: error, request: request, context: context)
        }
        response.headers[.correlationID] = correlationID
        metrics.request(route: context.endpointPath ?? "NotFound", method: request.method.rawValue, status: response.status.code,
                        duration: ContinuousClock.now - started)
        return response
    }

    static func problemResponse(for error: any Error, request: Request, context: Context) -> Response {
        let problem: AppError
        switch error {
        case let error as AppError:
            problem = error
        case let error as HTTPError:
            problem = AppError.from(error)
        default:
            context.logger.error("Unexpected error", metadata: ["error": "\(String(reflecting: error))", "path": "\(request.uri.path)"])
            problem = .internalError
        }
        return (try? problem.response(from: request, context: context)) ?? Response(status: .internalServerError)
    }

    /// The request with every `+` in its query string spelled `%20`: HTML forms, Django and every URL encoder of the
    /// form kind send a space as `+`, but Hummingbird's `uri.queryParameters` only percent-decodes. Rewriting the
    /// query once here means every parameter reader (and the NUL check) agrees; a literal plus arrives as `%2B`.
    static func decodingPlusAsSpace(_ request: Request) -> Request {
        guard let path = request.head.path, let mark = path.firstIndex(of: "?"), path[mark...].contains("+") else { return request }
        var head = request.head
        head.path = String(path[...mark]) + path[path.index(after: mark)...].replacingOccurrences(of: "+", with: "%20")
        return Request(head: head, body: request.body)
    }

    /// A NUL character in the path or query (`%00`): PostgreSQL text cannot hold one and SQLite would cut the text
    /// there, so it is refused before any route sees it.
    static func nulProblem(in request: Request) -> FieldProblem? {
        let uri = request.uri
        guard uri.description.contains("%00") else { return nil }
        let parameter = uri.queryParameters.first { $0.key.contains("\u{0}") || $0.value.contains("\u{0}") }.map { String($0.key) }
        return FieldProblem(parameter ?? "path", "Must not contain NUL characters.")
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
