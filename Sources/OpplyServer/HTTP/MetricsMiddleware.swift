import Hummingbird
import Prometheus

/// Counts and times every request by route pattern, method and status, and counts stock conflicts. It sits inside
/// `ProblemMiddleware` to see errors as thrown, and records the status their problem answer will have.
struct MetricsMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let metrics: ShopMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let record = { (status: HTTPResponse.Status) in
            metrics.request(
                route: context.endpointPath ?? "NotFound", method: request.method.rawValue, status: status.code,
                duration: ContinuousClock.now - started)
        }
        do {
            let response = try await next(request, context)
            record(response.status)
            return response
        } catch {
            if let error = error as? AppError, error.isInsufficientStock { metrics.reservationConflicts.increment() }
            record(AppError.answering(error)?.status ?? (error as? any HTTPResponseError)?.status ?? .internalServerError)
            throw error
        }
    }
}
