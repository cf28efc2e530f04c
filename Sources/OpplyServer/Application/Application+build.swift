import Foundation
public import Hummingbird
public import Logging
import NIOCore

/// Builds the server for a configuration: the same function serves production and tests.
public func buildApplication(_ config: AppConfig, logger: Logger = Logger(label: "opply"), clock: WallClock = WallClock()) async throws
    -> some ApplicationProtocol
{
    buildApplication(shop: try await Shop.open(config, logger: logger, clock: clock))
}

/// Builds the server around an opened `Shop` (so `serve` can seed it first).
public func buildApplication(shop: Shop) -> some ApplicationProtocol {
    let limits = ConnectionLimits.Census(
        limit: shop.config.maxConnections, readTimeout: TimeAmount(shop.config.readTimeout),
        idleTimeout: TimeAmount(shop.config.idleTimeout))
    return Application(
        router: buildRouter(shop),
        server: .http1(
            configuration: .init(additionalChannelHandlers: [limits.handler()], idleTimeout: TimeAmount(shop.config.idleTimeout))),
        configuration: .init(address: .hostname(shop.config.host, port: shop.config.port), serverName: "opply"),
        services: shop.services,
        logger: shop.logger
    )
}

func buildRouter(_ shop: Shop) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    // Outermost first: the correlation id wraps everything; problems are rendered after metrics saw the error.
    router.add(middleware: CorrelationMiddleware())
    router.add(middleware: ProblemMiddleware())
    router.add(middleware: MetricsMiddleware(metrics: shop.metrics))
    router.add(middleware: QueryMiddleware())
    let links = LinkBase(publicURL: shop.config.publicURL, trustProxy: shop.config.trustProxy)
    OperationsController(shop: shop).addRoutes(to: router)
    DocsController(page: shop.reference).addRoutes(to: router)
    IdentityController(identity: shop.identity, trustProxy: shop.config.trustProxy, links: links).addRoutes(to: router)
    CatalogController(catalog: shop.catalog, identity: shop.identity, ttl: shop.config.catalogCacheTTL, links: links).addRoutes(to: router)
    CartController(cart: shop.cart, keys: IdempotentResponder(store: shop.idempotency), identity: shop.identity).addRoutes(to: router)
    OrderController(orders: shop.orders, keys: IdempotentResponder(store: shop.idempotency), identity: shop.identity, links: links)
        .addRoutes(to: router)
    OrderDeskController(desk: shop.desk, identity: shop.identity, links: links).addRoutes(to: router)
    WebhookController(webhooks: shop.webhooks, identity: shop.identity, links: links).addRoutes(to: router)
    AuditController(audit: shop.audit, identity: shop.identity, links: links).addRoutes(to: router)
    BackOffice(shop: shop).addRoutes(to: router)
    return router
}
