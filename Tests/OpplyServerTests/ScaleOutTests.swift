import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import SQLKit
import Synchronization
import Testing

@testable import OpplyServer

/// PostgreSQL with a streaming replica and several instances, as `.ci/run` starts them.
/// Serialized: one test stops the replica.
@Suite(.serialized, .enabled(if: ReplicaServer.url != nil, "TEST_POSTGRES_REPLICA_URL is not set: the replica tests were not run"))
struct ScaleOutTests {
    static let environment = ProcessInfo.processInfo.environment
    static let replicaURL = ReplicaServer.url

    /// Points the shop's replica at the same database name on the replica server.
    static func withReplica(_ config: inout AppConfig) {
        guard case .postgres(let primary) = config.databaseURL, let raw = replicaURL,
            case .postgres(var replica) = try? DatabaseURL(parsing: raw)
        else { return }
        replica.database = primary.database
        config.replicaURL = .postgres(replica)
    }

    /// The configuration of a test with the replica: `withReplica`, then the test's own `change`.
    static func withReplica(then change: @escaping (inout AppConfig) -> Void) -> (inout AppConfig) -> Void {
        { config in
            withReplica(&config)
            change(&config)
        }
    }

    /// Waits until the replica has replayed the test database's creation and migrations.
    static func waitForReplica(_ shop: Shop) async throws {
        let router = try #require(shop.replica)
        for _ in 0..<100 {
            if await router.replicaAnswers() {
                let migrated = try? await router.replica.read { try await $0.select().column("id").from("products").limit(1).all() }
                if migrated != nil { return }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("the replica never caught up")
    }

    /// Stops or starts the replica server. `system` rather than `Process`: waiting on a `Process` from async code
    /// can hang on Linux.
    static func pgCtl(_ action: String) async throws {
        try await offThePool { try blockingPgCtl(action) }
    }

    private static func blockingPgCtl(_ action: String) throws {
        guard let pgCtl = environment["TEST_PG_CTL"], let dataDir = environment["TEST_POSTGRES_REPLICA_DATADIR"] else {
            throw ConfigError("TEST_PG_CTL and TEST_POSTGRES_REPLICA_DATADIR are needed to stop the replica")
        }
        let user = environment["TEST_PG_RUNAS"] ?? "postgres"
        let log = action == "start" ? environment["TEST_POSTGRES_REPLICA_LOG"].map { " -l '\($0)'" } ?? "" : ""
        let status = system("cd / && runuser -u '\(user)' -- '\(pgCtl)' -D '\(dataDir)' -w -m fast\(log) \(action) >/dev/null 2>&1")
        guard status == 0 else { throw ConfigError("pg_ctl \(action) failed with \(status)") }
    }

    @Test func productsCreatedOnThePrimaryAreReadThroughTheReplica() async throws {
        // A long replica deadline: this test is about routing, not about a slow machine's replica being dropped.
        let configure = Self.withReplica(then: {
            $0.catalogCacheTTL = .zero
            $0.replicaTimeout = .seconds(10)
        })
        try await withShop(.postgres, configure: configure) { client, shop in
            try await Self.waitForReplica(shop)
            let staff = try await shop.staffToken(client)
            let id = try await client.createProduct("Replicated Rooibos", staff: staff)
            let router = try #require(shop.replica)
            // Until the replica replays the creation, reads go to the primary (counted as lagging, not failing);
            // wait for a list the replica itself answered with the product in it.
            let foundOnReplica = try await eventually(within: .seconds(60)) {
                let servedBefore = router.served.load(ordering: .relaxed)
                let found = try await client.send(.get, "/api/catalog/products/?search=replicated").list.contains {
                    $0["id"] as? String == id
                }
                return found && router.served.load(ordering: .relaxed) > servedBefore
            }
            #expect(foundOnReplica, "the replica served the new product")
            #expect(try await client.send(.get, "/api/catalog/products/\(id)/").status == .ok)
            let ready = try await client.send(.get, "/health/ready")
            #expect(ready.json["replica"] as? String == "ok")
        }
    }

    @Test func aStaffChangeIsNotHiddenByReplicaLag() async throws {
        try await withShop(.postgres, configure: Self.withReplica(then: { $0.catalogCacheTTL = .seconds(60) })) { client, shop in
            try await Self.waitForReplica(shop)
            let staff = try await shop.staffToken(client)
            let id = try await client.createProduct("Lagging Lemonade", price: "2.00", staff: staff)
            let replica = try #require(shop.replica)
            for _ in 0..<50 where try await client.send(.get, "/api/catalog/products/\(id)/").status != .ok {
                try await Task.sleep(for: .milliseconds(50))
            }
            _ = try await replica.replica.read { try await $0.raw("SELECT pg_wal_replay_pause()").run() }
            do {
                #expect(try await client.send(.patch, "/api/catalog/products/\(id)/", json: ["price": "2.20"], token: staff).status == .ok)
                let reply = try await client.send(.get, "/api/catalog/products/\(id)/")
                #expect(reply.json["price"] as? String == "2.20", "read from the primary while the replica is behind")
            } catch {
                _ = try? await replica.replica.read { try await $0.raw("SELECT pg_wal_replay_resume()").run() }
                throw error
            }
            _ = try await replica.replica.read { try await $0.raw("SELECT pg_wal_replay_resume()").run() }
        }
    }

    @Test func aCustomerReadsTheirOwnOrderAtOnce() async throws {
        try await withShop(.postgres, configure: Self.withReplica) { client, shop in
            try await Self.waitForReplica(shop)
            let staff = try await shop.staffToken(client)
            let product = try await client.createProduct("Fresh", quantity: 5, staff: staff)
            let (_, token) = try await client.signUp("reader")
            for _ in 0..<5 {
                let placed = try await client.send(
                    .post, "/api/orders/orders/", json: ["order_items": [["product": product, "quantity": 1]]], token: token)
                let id = try #require(placed.json["id"] as? String)
                #expect(try await client.send(.get, "/api/orders/orders/\(id)/", token: token).status == .ok)
                #expect(try await client.send(.get, "/api/orders/orders/", token: token).list.first?["id"] as? String == id)
            }
        }
    }

    @Test func catalogReadsKeepAnsweringWhenTheReplicaStops() async throws {
        // A long rest: one slow attempt, then the primary for the rest of the test.
        try await withShop(.postgres, configure: Self.withReplica(then: { $0.replicaRest = .seconds(600) })) { client, shop in
            try await Self.waitForReplica(shop)
            let staff = try await shop.staffToken(client)
            let id = try await client.createProduct("Resilient", staff: staff)
            try await Self.pgCtl("stop")
            do {
                let started = ContinuousClock.now
                for _ in 0..<5 {
                    let reply = try await client.send(.get, "/api/catalog/products/\(id)/")
                    #expect(reply.status == .ok)
                    #expect(try await client.send(.get, "/api/catalog/products/?in_stock=false").list.count == 1)
                }
                #expect(ContinuousClock.now - started < .seconds(15), "a dead replica costs one deadline, not one per read")
                #expect((shop.replica?.fallbacks.load(ordering: .relaxed) ?? 0) >= 1)
                let ready = try await client.send(.get, "/health/ready")
                #expect(ready.status == .ok)
                #expect(ready.json["replica"] as? String == "unavailable")
            } catch {
                try? await Self.pgCtl("start")
                throw error
            }
            try await Self.pgCtl("start")
        }
    }

    @Test func aStaffChangeOnOneInstanceIsSeenOnAnotherAtOnce() async throws {
        try await withShop(.postgres, configure: { $0.catalogCacheTTL = .seconds(300) }) { clientA, shopA in
            let staff = try await shopA.staffToken(clientA)
            let id = try await clientA.createProduct("Shared Cold Brew", price: "4.00", staff: staff)
            let shopB = try await Shop.open(shopA.config, logger: shopA.logger)
            try await buildApplication(shop: shopB).test(.router) { clientB in
                #expect(try await eventually { shopB.catalog.cache.generation > 0 }, "B's listener is listening")
                let cached = try await eventually {
                    let price = try await clientB.send(.get, "/api/catalog/products/\(id)/").json["price"] as? String
                    #expect(price == "4.00")
                    return shopB.catalog.cache.hits.load(ordering: .relaxed) >= 1
                }
                #expect(cached, "B serves the product from its cache")

                #expect(try await clientA.send(.patch, "/api/catalog/products/\(id)/", json: ["price": "4.50"], token: staff).status == .ok)
                let seen = try await eventually {
                    try await clientB.send(.get, "/api/catalog/products/\(id)/").json["price"] as? String == "4.50"
                }
                #expect(seen, "B dropped its cache on A's NOTIFY, long before the 300 s TTL")
            }
        }
    }
}

enum ReplicaServer {
    static let url = ProcessInfo.processInfo.environment["TEST_POSTGRES_REPLICA_URL"].flatMap { $0.isEmpty ? nil : $0 }
}

@Test func walPositionsCompareAsNumbers() {
    #expect(ReplicaRouter.walOffset("0/16B3748") == 0x16B3748)
    #expect(ReplicaRouter.walOffset("1/0")! > ReplicaRouter.walOffset("0/FFFFFFFF")!)
    #expect(ReplicaRouter.walOffset("nonsense") == nil)
}

@Test func catalogSignalsNameTheirSender() {
    let signal = CatalogListener.Signal(instance: UUID(), position: "0/16B3748")
    #expect(CatalogListener.Signal(signal.payload) == signal)
    #expect(CatalogListener.Signal("0/16B3748") == .init(instance: nil, position: "0/16B3748"), "the older payload")
    #expect(CatalogListener.Signal("") == .init(instance: nil, position: nil))
}
