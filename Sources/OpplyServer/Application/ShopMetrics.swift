import Prometheus
import Synchronization

/// What `/metrics` serves, in Prometheus text format: requests by route, method and status with latency
/// histograms, orders placed, stock reservation conflicts, catalog cache hits and misses, replica fallbacks, and
/// database connections in use. One registry per `Shop`, no global bootstrap, so tests can build many shops.
final class ShopMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let ordersPlaced: Counter
    let reservationConflicts: Counter
    let cacheHits: Counter
    let cacheMisses: Counter
    let replicaFallbacks: Counter
    let replicaLagging: Counter
    let webhookOldestPending: Gauge
    enum DeliveryOutcome: String { case delivered, retried, dead }
    private static let latencyBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2_500), .seconds(5),
    ]

    init() {
        ordersPlaced = registry.makeCounter(descriptor: Self.name("orders_placed", "total", "Orders placed (direct and cart checkouts)."))
        reservationConflicts = registry.makeCounter(
            descriptor: Self.name(
                "stock_conflicts", "total", "Orders and cart changes refused with insufficient_stock."))
        cacheHits = registry.makeCounter(descriptor: Self.name("catalog_cache_hits", "total", "Catalog answers served from memory."))
        cacheMisses = registry.makeCounter(
            descriptor: Self.name("catalog_cache_misses", "total", "Catalog answers built from the database."))
        let fallbacks = Self.name("replica_fallbacks", "total", "Catalog reads served by the primary instead of the replica, by reason.")
        replicaFallbacks = registry.makeCounter(descriptor: fallbacks, labels: [("reason", "unavailable")])
        replicaLagging = registry.makeCounter(descriptor: fallbacks, labels: [("reason", "lagging")])
        webhookOldestPending = registry.makeGauge(
            descriptor: Self.name(
                "webhook_oldest_pending", "seconds", "Age of the oldest event still waiting for delivery to an enabled endpoint."))
    }

    /// Counts one webhook delivery attempt's outcome: delivered, failed and retried later, or dead.
    func webhookDeliveries(_ outcome: DeliveryOutcome) -> Counter {
        registry.makeCounter(
            descriptor: Self.name("webhook_deliveries", "total", "Webhook delivery attempts by outcome."),
            labels: [("outcome", outcome.rawValue)])
    }

    /// Counts one answered request and its latency; `route` is the matched route pattern, never the raw path.
    func request(route: String, method: String, status: Int, duration: Duration) {
        let labels = [("route", route), ("method", method), ("status", String(status))]
        registry.makeCounter(descriptor: Self.name("http_requests", "total", "HTTP requests answered."), labels: labels).increment()
        registry.makeDurationHistogram(
            descriptor: Self.name("http_request_duration", "seconds", "HTTP request latency."),
            labels: labels, buckets: Self.latencyBuckets
        ).record(duration)
    }

    /// The exposition, with the connection gauges read at scrape time.
    func render(databases: [(role: String, database: any Database)]) -> [UInt8] {
        for (role, database) in databases {
            registry.makeGauge(
                descriptor: Self.name("database_connections_in_use", "", "Database connections running a query or transaction now."),
                labels: [("role", role)]
            ).set(Double(database.connectionsInUse))
        }
        return registry.emitToBuffer()
    }

    private static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "opply", metricName: metric, unitName: unit, helpText: help)
    }
}

/// Counts connections in use for `/metrics`.
final class ConnectionsInUse: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .relaxed) }

    func enter() { count.add(1, ordering: .relaxed) }
    func leave() { count.subtract(1, ordering: .relaxed) }
}
