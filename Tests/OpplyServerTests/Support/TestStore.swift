import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SQLKit
import Synchronization
import Testing

@testable import OpplyServer

/// The stores every database test runs on: SQLite always, PostgreSQL when `TEST_POSTGRES_URL` is set.
enum TestStore: String, CustomTestStringConvertible, Sendable {
    case sqlite
    case postgres

    static let postgresURL = ProcessInfo.processInfo.environment["TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
    static let all: [TestStore] = postgresURL == nil ? [.sqlite] : [.sqlite, .postgres]
    var testDescription: String { rawValue }

    /// A fresh, empty database for one test, and how to throw it away.
    func makeDatabaseURL() async throws -> (DatabaseURL, @Sendable () async -> Void) {
        switch self {
        case .sqlite:
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("opply-test-\(UUID().uuidString).sqlite").path
            return (
                .sqliteFile(path: path),
                {
                    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
                }
            )
        case .postgres:
            guard let url = Self.postgresURL, case .postgres(let admin) = try DatabaseURL(parsing: url) else {
                throw ConfigError("TEST_POSTGRES_URL is not a postgres:// URL")
            }
            let name = "opply_test_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16))"
            try await Self.onAdmin(admin) { sql in try await sql.raw("CREATE DATABASE \(unsafeRaw: name)").run() }
            var address = admin
            address.database = name
            return (
                .postgres(address),
                {
                    try? await Self.onAdmin(admin) { sql in
                        try await sql.raw("DROP DATABASE IF EXISTS \(unsafeRaw: name) WITH (FORCE)").run()
                    }
                }
            )
        }
    }

    private static func onAdmin(_ admin: DatabaseURL.PostgresAddress, _ body: (any SQLDatabase) async throws -> Void) async throws {
        let store = await PostgresStore.open(
            address: admin, maxConnections: 1, acquireTimeout: .seconds(30), logger: Logger(label: "test-admin"))
        do {
            try await store.read(body)
            await store.close()
        } catch {
            await store.close()
            throw error
        }
    }
}

/// A configuration for tests: fast bcrypt, short background intervals, no demo data.
func testConfig(_ url: DatabaseURL) -> AppConfig {
    var config = AppConfig()
    config.environment = .test
    config.databaseURL = url
    config.bcryptCost = 4
    config.databasePoolSize = 8  // many shops run at once against one server (max_connections); requests queue for one
    // 50 racing writes queue for SQLite's one writer on a loaded machine; the outage tests set their own.
    config.databaseAcquireTimeout = .seconds(60)
    config.databaseProbeTimeout = .seconds(10)  // a ping that waits behind the whole suite is slow, not gone
    config.backgroundInterval = .milliseconds(200)
    config.catalogCacheTTL = .zero  // tests of the cache set their own
    // Every test client is one address registering many customers at once; the tests of these limits set their own.
    config.addressAttempts = 1_000_000
    config.passwordQueue = 10_000

    return config
}

/// A clock tests can move forward.
final class TestClock: Sendable {
    private let offset = Mutex<TimeInterval>(0)
    var clock: WallClock { WallClock { [self] in Date() + self.offset.withLock { $0 } } }
    func advance(by seconds: TimeInterval) { offset.withLock { $0 += seconds } }
}

/// Opens a shop on a fresh database of `store`, runs `body` against its router (or a live server on a free port,
/// with `setup: .live`), then throws the database away. On PostgreSQL, `body` starts once the catalog listener's
/// `LISTEN` has taken effect (it drops the cache then, which would otherwise race a test's cache hits).
func withShop(
    _ store: TestStore,
    setup: TestingSetup = .router,
    clock: TestClock = TestClock(),
    configure: (inout AppConfig) -> Void = { _ in },
    _ body: @Sendable (any TestClientProtocol, Shop) async throws -> Void
) async throws {
    let (url, drop) = try await store.makeDatabaseURL()
    var config = testConfig(url)
    configure(&config)
    var logger = Logger(label: "test")
    logger.logLevel = .warning
    do {
        let shop = try await Shop.open(config, logger: logger, clock: clock.clock)
        try await buildApplication(shop: shop).test(setup) { client in
            if store == .postgres {
                let listening = try await eventually { shop.catalog.cache.generation > 0 }
                #expect(listening, "the catalog listener never started listening")
            }
            try await body(client, shop)
        }
    } catch {
        await drop()
        throw error
    }
    await drop()
}

/// Polls `condition` every 20 ms until it holds or `deadline` passes (generous: CI machines can be slow);
/// returns whether it held.
func eventually(within deadline: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws -> Bool {
    let end = ContinuousClock.now + deadline
    while ContinuousClock.now < end {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

/// Runs blocking work (a raw socket, `pg_ctl`) on a Dispatch thread, not on one of the few threads Swift's async
/// tasks share, so it cannot stall the other tests.
func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        // A queue of its own gets a thread of its own: the global queue has as many as cores, which a few blocked
        // sockets would take.
        DispatchQueue(label: "off-the-pool").async { continuation.resume(with: Result { try work() }) }
    }
}

extension Inventory {
    /// Takes `quantity` units of one product as an order line does (from its reservation when `reserved`).
    func take(_ product: UUID, _ quantity: Int, reserved: Bool = false, on sql: any SQLDatabase) async throws -> Bool {
        let line = OrderLine(product: product, quantity: quantity, field: "test", reserved: reserved)
        return try taken(line, returned: try await sql.raw(taking(line, while: CatalogStore.live)).all().count == 1)
    }
}
