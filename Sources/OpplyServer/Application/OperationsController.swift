import Foundation
import HTTPTypes
import Hummingbird
import Synchronization

/// Health checks, metrics and the contract document, for load balancers, operators and client developers.
struct OperationsController: Sendable {
    let shop: Shop

    private struct Health: Encodable {
        let status: String
        let database: String
        var replica: String?
        var replicaFallbacks: Int?
    }

    /// The OpenAPI document, read once from the bundle.
    static let openAPIDocument: ByteBuffer? = Bundle.module.url(forResource: "openapi", withExtension: "yaml")
        .flatMap { try? Data(contentsOf: $0) }
        .map { ByteBuffer(bytes: $0) }

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("health/live", use: live)
        router.get("health/ready", use: ready)
        router.get("metrics", use: metrics)
        router.get("openapi.yaml", use: openAPI)
    }

    @Sendable func live(_ request: Request, context: AppRequestContext) async throws -> Response {
        try Response.json(Health(status: "ok", database: "not checked"))
    }

    @Sendable func ready(_ request: Request, context: AppRequestContext) async throws -> Response {
        // The background probe's last answer: a health check never waits for a dead server's connection.
        guard shop.probe.isAnswering else {
            var error = AppError(.serviceUnavailable, code: "not_ready", title: "Not ready", detail: "The database does not answer.")
            error.headers[.retryAfter] = "1"
            throw error
        }
        var health = Health(status: "ok", database: "ok")
        if let replica = shop.replica {
            health.replica = await replica.replicaAnswers() ? "ok" : "unavailable"
            health.replicaFallbacks = replica.fallbacks.load(ordering: .relaxed)
        }
        return try Response.json(health)
    }

    @Sendable func metrics(_ request: Request, context: AppRequestContext) async throws -> Response {
        var databases: [(role: String, database: any Database)] = [("primary", shop.database)]
        if let replica = shop.replica { databases.append(("replica", replica.replica)) }
        let body = ByteBuffer(bytes: shop.metrics.render(databases: databases))
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"], body: .init(byteBuffer: body))
    }

    @Sendable func openAPI(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let document = Self.openAPIDocument else { throw AppError.notFound }
        return Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: document))
    }
}
