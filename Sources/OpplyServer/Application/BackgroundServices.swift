import ServiceLifecycle

/// What runs in the background of one instance, besides answering requests, in the order it starts (services stop
/// in reverse, so the databases close last):
/// - the database pools (`DatabaseService`), which only close at shutdown;
/// - the readiness probe of the primary (`DatabaseProbe`, for `/health/ready`);
/// - on PostgreSQL, the catalog listener (`CatalogListener`: other instances' catalog changes drop this cache);
/// - the fulfilment worker (`DeliveryWorker`: outbox to webhook deliveries, with retries);
/// - the cart sweeper (`CartService.sweep`: releases expired reservations), every `backgroundInterval` (2 s);
/// - the janitor, every minute: expired idempotency keys, refresh tokens and back-office sessions.
/// Each is safe on many instances at once; none stops the server when a round fails.
extension Shop {
    var services: [any Service] {
        var services: [any Service] = [DatabaseService(database: database)]
        if let replica { services.append(DatabaseService(database: replica.replica)) }
        services.append(probe)
        if let postgres = database as? PostgresStore {
            services.append(
                CatalogListener(client: postgres.client, cache: catalog.cache, replica: replica, instance: instance, logger: logger))
        }
        return services + [
            DeliveryWorker(
                endpoints: webhooks.endpoints, queue: webhooks.queue, guardrail: webhooks.guardrail, clock: clock, metrics: metrics,
                logger: logger,
                schedule: config.webhookRetrySchedule, timeout: config.webhookTimeout,
                interval: min(config.backgroundInterval, .seconds(1)), configured: configuredWebhook
            ),
            Janitor(every: config.backgroundInterval, logger: logger) { [cart] in
                try await cart.sweep()
            },
            Janitor(every: .seconds(60), logger: logger) { [idempotency, identity, clock] in
                try await idempotency.deleteExpired()
                try await identity.store.deleteExpiredRefreshTokens(before: clock.now)
                try await identity.deleteEndedSessions()
            },
        ]
    }

    /// The endpoint `WEBHOOK_URL` and `WEBHOOK_SECRET` configure, if they do.
    private var configuredWebhook: WebhookEndpoint? {
        guard let url = config.webhookURL, let secret = config.webhookSecret.flatMap(WebhookSecret.init(text:)) else { return nil }
        return webhooks.configuredEndpoint(url: url, secret: secret)
    }
}
