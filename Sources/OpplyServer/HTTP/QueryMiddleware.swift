import Foundation
import Hummingbird

/// Normalizes the query string before any route reads it: `+` is a space, and a NUL character is refused.
struct QueryMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let request = Self.decodingPlusAsSpace(request)
        if let problem = Self.nulProblem(in: request) { throw AppError.validation([problem]) }
        return try await next(request, context)
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
}
