import Foundation
public import Logging
import NIOCore

/// Everything one server instance runs on: the stores and each area's service, wired once from `AppConfig`.
/// `serve`, the CLI tools and the tests all build the same `Shop`.
public struct Shop: Sendable {
    public let config: AppConfig
    public let database: any Database
    /// Routes catalog reads to the read replica, when one is configured.
    let replica: ReplicaRouter?
    let clock: WallClock
    let logger: Logger
    /// Names this instance in catalog-change signals, so it can skip its own (it dropped its cache at the write).
    let instance = UUID()
    let identity: IdentityService
    let inventory: Inventory
    let catalog: CatalogService
    let orders: OrderService
    let idempotency: IdempotencyStore
    let cart: CartService
    let desk: OrderDesk
    let webhooks: WebhookService
    let audit: AuditTrail
    let metrics: ShopMetrics
    /// Whether the primary answers, probed in the background for `/health/ready`.
    let probe: DatabaseProbe
    /// The back office's templates and assets, loaded (and checked) before the server starts.
    let views: Views
    /// `/docs/`: the API reference rendered from the bundled `openapi.yaml` at start.
    let reference: ByteBuffer

    /// Opens (and migrates) the configured database and wires the areas.
    public static func open(_ config: AppConfig, logger: Logger, clock: WallClock = WallClock()) async throws -> Shop {
        let database = try await openDatabase(
            config.databaseURL, poolSize: config.databasePoolSize, acquireTimeout: config.databaseAcquireTimeout, logger: logger)
        let metrics = ShopMetrics()
        var replica: ReplicaRouter?
        do {
            try await Migrations.migrate(database, logger: logger)
            if let replicaURL = config.replicaURL {
                let store = try await openDatabase(
                    replicaURL, poolSize: config.databasePoolSize, acquireTimeout: config.databaseAcquireTimeout, logger: logger)
                replica = ReplicaRouter(
                    primary: database, replica: store, timeout: config.replicaTimeout, rest: config.replicaRest, metrics: metrics,
                    logger: logger)
            }
            return try await Shop(config: config, database: database, replica: replica, metrics: metrics, clock: clock, logger: logger)
        } catch {
            await replica?.replica.close()
            await database.close()
            throw error
        }
    }

    private init(config: AppConfig, database: any Database, replica: ReplicaRouter?, metrics: ShopMetrics, clock: WallClock, logger: Logger)
        async throws
    {
        self.config = config
        self.metrics = metrics
        self.database = database
        self.replica = replica
        self.clock = clock
        self.logger = logger
        self.probe = DatabaseProbe(database, role: "primary", timeout: config.databaseProbeTimeout, logger: logger)
        self.views = try await Views.load()
        self.reference = ByteBuffer(
            string: ReferencePage(reference: try APIReference.bundled.get(), stylesheet: views.stylesheet.path, icon: views.icon.path).html)
        let inventory = Inventory(clock: clock)
        let customers = CustomerStore(database: database)
        let paging: any CatalogPaging =
            switch database.engine {
            case .postgres: PostgresPages()
            case .sqlite: PortablePages()
            }
        let products = CatalogStore(primary: database, reader: replica ?? PrimarySource(database: database), paging: paging)
        let orderStore = OrderStore(database: database)
        let outbox = Outbox()
        let steps = OrderSteps(store: orderStore, inventory: inventory, prices: products, outbox: outbox, clock: clock)
        let single: any OrderPlacement =
            switch database.engine {
            case .postgres:
                PostgresPlacement(steps: steps, turns: ProductTurns(perProduct: 4, patience: config.databaseAcquireTimeout))
            case .sqlite: PortablePlacement(steps: steps)
            }
        let placement: any OrderPlacement =
            config.orderBatchSize == 1
            ? single
            : BatchedPlacement(
                steps: steps, single: single, locksRows: database.engine == .postgres, batchSize: config.orderBatchSize,
                queueBound: config.orderQueue, writers: database.engine == .postgres ? config.orderWriters : 1)
        let orders = OrderService(
            store: orderStore, inventory: inventory, outbox: outbox, clock: clock, maxQuantity: config.maxOrderQuantity,
            placement: placement, metrics: metrics)
        let cart = CartService(
            store: CartStore(database: database), inventory: inventory, orders: orders, prices: products, lock: customers, clock: clock,
            ttl: config.cartTTL, maxHold: config.cartMaxHold, maxQuantity: config.maxOrderQuantity
        )
        let identity = IdentityService(
            store: customers,
            passwords: Passwords(cost: config.bcryptCost, queueLimit: config.passwordQueue),
            tokens: await TokenSigner(secret: config.jwtSecret, accessTTL: config.accessTokenTTL, refreshTTL: config.refreshTokenTTL),
            throttle: LoginThrottle(limit: config.loginAttempts, window: config.loginWindow, addressLimit: config.addressAttempts),
            clock: clock,
            carts: cart
        )
        let catalog = CatalogService(
            store: products,
            inventory: inventory,
            cache: CatalogCache(ttl: config.catalogCacheTTL, capacity: config.catalogCacheSize, clock: clock, metrics: metrics),
            clock: clock,
            cursors: CursorSigner(secret: config.jwtSecret),
            carts: cart,
            announcer: CatalogAnnouncer(database: database, replica: replica, instance: instance, logger: logger)
        )
        self.identity = identity
        self.inventory = inventory
        self.catalog = catalog
        self.orders = orders
        self.cart = cart
        self.idempotency = IdempotencyStore(database: database, clock: clock)
        self.audit = AuditTrail(database: database)
        self.desk = OrderDesk(orders: orders, identity: identity)
        self.webhooks = WebhookService(
            endpoints: WebhookEndpointStore(database: database),
            queue: DeliveryQueue(database: database, endpoints: WebhookEndpointStore(database: database)),
            guardrail: WebhookURLGuard(
                allowHTTP: config.webhookAllowHTTP, allowPrivate: config.webhookAllowPrivate,
                resolve: config.webhookResolve ?? WebhookURLGuard.systemResolve,
                internalAddress: config.webhookIsInternal ?? WebhookURLGuard.isInternal(_:)),
            clock: clock
        )
    }

    static func openDatabase(_ url: DatabaseURL, poolSize: Int, acquireTimeout: Duration, logger: Logger) async throws -> any Database {
        switch url {
        case .sqliteFile(let path): try await SQLiteStore.open(path: path, acquireTimeout: acquireTimeout, logger: logger)
        case .sqliteMemory: try await SQLiteStore.open(path: nil, acquireTimeout: acquireTimeout, logger: logger)
        case .postgres(let address):
            await PostgresStore.open(address: address, maxConnections: poolSize, acquireTimeout: acquireTimeout, logger: logger)
        }
    }

    /// Closes the stores; for CLI tools that never start the services.
    public func close() async {
        await replica?.replica.close()
        await database.close()
    }

    /// Creates a customer from the command line (or the demo seed); staff when asked.
    public func createUser(username: String, email: String, password: String, staff: Bool) async throws -> Customer {
        try await identity.register(.init(username: username, email: email, password: password, password2: password), staff: staff)
    }

    /// On an empty database: an `admin` staff account with a random password (returned, to be printed once)
    /// and a demo catalog. Nil when the database already has customers.
    public func seedDemoIfEmpty(products: Int = 200) async throws -> String? {
        guard try await identity.store.isEmpty() else { return nil }
        let password = randomToken(bytes: 12)
        _ = try await createUser(username: "admin", email: "admin@example.com", password: password, staff: true)
        try await seedCatalog(products: products)
        return password
    }
}
