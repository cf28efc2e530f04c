import Foundation
import Hummingbird
import Logging

/// Turns every error into problem+json: an `AppError` as it is, Hummingbird's own errors mapped onto problems, and
/// anything unexpected into a logged, generic `500`. Inside `CorrelationMiddleware`, so problems carry the id too.
struct ProblemMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return Self.problemResponse(for: error, request: request, context: context)
        }
    }

    static func problemResponse(for error: any Error, request: Request, context: Context) -> Response {
        let problem: AppError
        switch error {
        case let error where AppError.answering(error) != nil:
            problem = AppError.answering(error) ?? .internalError
        case let error as HTTPError:
            problem = AppError.from(error)
        default:
            context.logger.error("Unexpected error", metadata: ["error": "\(String(reflecting: error))", "path": "\(request.uri.path)"])
            problem = .internalError
        }
        return (try? problem.response(from: request, context: context)) ?? Response(status: .internalServerError)
    }
}
