import Foundation
public import HTTPTypes
public import Hummingbird

/// One problem with one field or item of a request, as listed in a problem's `errors`.
public struct FieldProblem: Codable, Sendable, Equatable {
    public let field: String
    public let message: String
    public init(_ field: String, _ message: String) {
        self.field = field
        self.message = message
    }
}

/// Every error a client can cause, rendered as RFC 9457 problem details (`application/problem+json`).
///
/// `code` is the stable machine-readable string clients switch on; `errors` names fields or items.
public struct AppError: Error, HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    public let code: String
    public let title: String
    public let detail: String?
    public var errors: [FieldProblem] = []
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, code: String, title: String, detail: String? = nil, errors: [FieldProblem] = []) {
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.errors = errors
    }

    public static func validation(_ errors: [FieldProblem], detail: String? = nil) -> AppError {
        AppError(
            .badRequest, code: "invalid_request", title: "Invalid request",
            detail: detail ?? errors.first.map { "\($0.field): \($0.message)" }, errors: errors)
    }
    public static func validation(field: String, _ message: String) -> AppError {
        validation([FieldProblem(field, message)])
    }
    public static func badRequest(code: String, _ detail: String) -> AppError {
        AppError(.badRequest, code: code, title: "Bad request", detail: detail)
    }
    public static func unauthorized(_ detail: String = "Authentication credentials were missing or invalid.") -> AppError {
        var error = AppError(.unauthorized, code: "not_authenticated", title: "Not authenticated", detail: detail)
        error.headers[.wwwAuthenticate] = "Bearer"
        return error
    }
    public static let forbidden = AppError(
        .forbidden, code: "permission_denied", title: "Permission denied", detail: "You do not have permission to perform this action.")
    public static let notFound = AppError(.notFound, code: "not_found", title: "Not found", detail: "No such resource.")
    public static func conflict(code: String, _ detail: String, errors: [FieldProblem] = []) -> AppError {
        AppError(.conflict, code: code, title: "Conflict", detail: detail, errors: errors)
    }
    /// Fewer units are available than a cart line or an order line asks for; `errors` names each short line.
    /// The one error for it, so the metric of stock conflicts can count it by type.
    public static func insufficientStock(_ detail: String, errors: [FieldProblem]) -> AppError {
        AppError(.conflict, code: insufficientStockCode, title: "Insufficient stock", detail: detail, errors: errors)
    }
    private static let insufficientStockCode = "insufficient_stock"
    /// Whether this is `insufficientStock` (a stock conflict, counted by `/metrics`).
    public var isInsufficientStock: Bool { code == Self.insufficientStockCode }
    public static func tooManyRequests(retryAfter seconds: Int) -> AppError {
        var error = AppError(
            .tooManyRequests, code: "throttled", title: "Too many requests",
            detail: "Too many failed attempts; retry in \(seconds) seconds.")
        error.headers[.retryAfter] = String(seconds)
        return error
    }
    /// Too much work of this kind is waiting (password hashing under a flood of logins): nothing was done; retry soon.
    public static func busy(retryAfter seconds: Int) -> AppError {
        var error = AppError(
            .serviceUnavailable, code: "busy", title: "Service busy", detail: "The server is busy; retry in \(seconds) seconds.")
        error.headers[.retryAfter] = String(seconds)
        return error
    }
    /// The database cannot be reached right now (no connection within the acquire timeout, a lost connection, a
    /// locked or read-only SQLite file): nothing was changed unless a retry says so, and a retry soon may succeed.
    /// The problem an error is answered with, when it is one the shop knows: an `AppError` as it is, the database out
    /// of reach (`DatabaseUnavailable`, from the stores) as `503`. Nil for anything else (a `500`).
    static func answering(_ error: any Error) -> AppError? {
        switch error {
        case let error as AppError: error
        case is DatabaseUnavailable: .databaseUnavailable()
        default: nil
        }
    }

    public static func databaseUnavailable(retryAfter seconds: Int = 2) -> AppError {
        var error = AppError(
            .serviceUnavailable, code: "database_unavailable", title: "Service unavailable",
            detail: "The database is unavailable; retry in \(seconds) seconds (with the same Idempotency-Key for orders).")
        error.headers[.retryAfter] = String(seconds)
        return error
    }
    public static func payloadTooLarge(limit: Int = 1 << 20) -> AppError {
        let size = limit >= 1 << 20 ? "\(limit >> 20) MiB" : "\(limit >> 10) KiB"
        return AppError(
            .contentTooLarge, code: "payload_too_large", title: "Payload too large", detail: "This request's body is limited to \(size).")
    }
    public static let unsupportedMediaType = AppError(
        .unsupportedMediaType, code: "unsupported_media_type", title: "Unsupported media type",
        detail: "Request bodies must be JSON: send Content-Type: application/json.")
    public static let internalError = AppError(
        .internalServerError, code: "internal_error", title: "Internal server error",
        detail: "Something went wrong on our side; it has been logged.")

    /// Maps Hummingbird's own errors (unknown route, unsupported method, body too large) onto problems.
    static func from(_ error: HTTPError) -> AppError {
        switch error.status {
        case .notFound: .notFound
        case .contentTooLarge: .payloadTooLarge()
        case .methodNotAllowed: AppError(.methodNotAllowed, code: "method_not_allowed", title: "Method not allowed")
        case .unauthorized: .unauthorized()
        default: AppError(error.status, code: "http_\(error.status.code)", title: error.status.reasonPhrase, detail: error.body)
        }
    }

    private struct Body: Encodable {
        let type: String
        let title: String
        let status: Int
        let detail: String?
        let code: String
        let errors: [FieldProblem]?
    }

    /// The problem+json document.
    func body() throws -> Data {
        try JSONCoding.encoder.encode(
            Body(
                type: "https://errors.opply.dev/\(code.replacingOccurrences(of: "_", with: "-"))",
                title: title, status: status.code, detail: detail, code: code,
                errors: errors.isEmpty ? nil : errors
            ))
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = headers
        headers[.contentType] = "application/problem+json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try body())))
    }
}
