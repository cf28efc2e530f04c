import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import SQLKit
import Synchronization
import Testing

@testable import OpplyServer

/// A database that cannot be reached is answered at once (`503 database_unavailable`, `Retry-After`), never with a
/// hang or a `500`, and the shop recovers by itself when it is back.
@Suite struct OutageTests {
    @Test(arguments: TestStore.all)
    func aRequestThatGetsNoConnectionInTimeAnswers503(store: TestStore) async throws {
        // PostgreSQL: a pool of three, one held by the catalog listener's LISTEN, the others by slow transactions
        // (the background services share the pool, so it is not enough to hold one and hope they are idle).
        // SQLite: the writer held by a slow transaction.
        let holders = store == .postgres ? 2 : 1
        // A 4 s timeout (not the default 2 s), so the setup's own requests get their connections on a loaded machine.
        try await withShop(
            store,
            configure: {
                $0.databasePoolSize = 3
                $0.databaseAcquireTimeout = .seconds(4)
            }
        ) { client, shop in
            let staff = try await shop.staffToken(client)
            let product = try await client.createProduct("Patient Pu-erh", quantity: 10, staff: staff)
            let (_, token) = try await client.signUp("hasty")
            let order: [String: Any] = ["order_items": [["product": product, "quantity": 1]]]
            let holding = Counter()
            var slow: [Task<String, any Error>] = []
            for _ in 0..<holders {
                slow.append(
                    Task { [holding] in
                        try await shop.database.transaction { sql in
                            _ = try await sql.raw("SELECT 1 AS one").first()
                            holding.add()
                            try await Task.sleep(for: .seconds(12))
                            return "committed"
                        }
                    })
            }
            #expect(try await eventually { holding.value == holders }, "the slow transactions hold their connections")

            let started = ContinuousClock.now
            let refused = try await client.send(
                .post, "/api/orders/orders/", json: order, token: token, headers: [.idempotencyKey: "retry-me"])
            let waited = ContinuousClock.now - started
            #expect(refused.status == .serviceUnavailable, "\(refused.text)")
            #expect(refused.code == "database_unavailable")
            #expect(refused.headers[.contentType] == "application/problem+json")
            #expect(refused.headers[.retryAfter] != nil)
            #expect(waited < .seconds(8), "answered after the 4 s acquire timeout, not when the connection came free at 12 s (\(waited))")

            for transaction in slow { #expect(try await transaction.value == "committed", "the slow transaction ran to its end") }
            let retried = try await client.send(
                .post, "/api/orders/orders/", json: order, token: token, headers: [.idempotencyKey: "retry-me"])
            #expect(retried.status == .created, "the client's retry with the same key places the order: \(retried.text)")
            #expect(try await client.quantity(of: product) == 9)
            try await shop.expectStockInvariants()
        }
    }

    /// `pg_ctl -m fast stop` ends every backend as `pg_terminate_backend` ends one: a statement running then, or the
    /// next statement of a transaction left open, answers `503` at once, and the pool heals without a restart.
    @Test(.enabled(if: TestStore.postgresURL != nil), .timeLimit(.minutes(2)))
    func aConnectionCutMidTransactionAnswers503AtOnce() async throws {
        try await withShop(.postgres) { client, shop in
            for cut in ["while a statement runs", "between two statements"] {
                let backend = Mutex<Int?>(nil)
                let finished = Mutex(false)
                let transaction = Task {
                    defer { finished.withLock { $0 = true } }
                    try await shop.database.transaction { sql in
                        let row = try await sql.raw("SELECT pg_backend_pid() AS pid").first()
                        backend.withLock { $0 = try? row?.decode(column: "pid", as: Int.self) }
                        if cut == "while a statement runs" {
                            _ = try await sql.raw("SELECT pg_sleep(20) AS slept").first()
                        } else {
                            try await Task.sleep(for: .seconds(2))
                            _ = try await sql.raw("SELECT 1 AS one").first()
                        }
                    }
                }
                #expect(try await eventually { backend.withLock { $0 != nil } })
                let pid = try #require(backend.withLock { $0 })
                try await Task.sleep(for: .milliseconds(200))
                try await shop.database.read { sql in
                    _ = try await sql.raw("SELECT pg_terminate_backend(CAST(\(bind: pid) AS integer)) AS ended").first()
                }
                #expect(
                    try await eventually(within: .seconds(10)) { finished.withLock { $0 } }, "\(cut): answered within seconds, not hung")
                transaction.cancel()
                switch await transaction.result {
                case .success: Issue.record("\(cut): the cut transaction reported success")
                case .failure(let error) where AppError.answering(error) != nil:
                    #expect(error is DatabaseUnavailable, "\(cut): \(error)")
                    #expect(AppError.answering(error)?.code == "database_unavailable", "\(cut): \(error)")
                case .failure(let error): Issue.record("\(cut): not a 503 but \(String(reflecting: error))")
                }
            }
            // The pool replaced the cut connections: the shop answers without a restart.
            let staff = try await shop.staffToken(client)
            let product = try await client.createProduct("Resilient Rooibos", quantity: 3, staff: staff)
            let (_, token) = try await client.signUp("steady")
            let placed = try await client.send(
                .post, "/api/orders/orders/", json: ["order_items": [["product": product, "quantity": 1]]], token: token)
            #expect(placed.status == .created, "\(placed.text)")
            try await shop.expectStockInvariants()
        }
    }

    @Test func aLockedSQLiteFileAnswers503Not500() async throws {
        try await withShop(.sqlite, configure: { $0.databaseAcquireTimeout = .seconds(1) }) { client, shop in
            let staff = try await shop.staffToken(client)
            let product = try await client.createProduct("Locked Lapsang", quantity: 5, staff: staff)
            let (_, token) = try await client.signUp("locked")
            guard case .sqliteFile(let path) = shop.config.databaseURL else { throw ConfigError("not a SQLite file") }
            // Another process (an operator's sqlite3, a backup) holds the file's write lock.
            let other = try await SQLiteStore.open(path: path, readerCount: 0, acquireTimeout: .seconds(1), logger: Logger(label: "other"))
            let locked = Mutex(false)
            let holder = Task {
                try await other.withWriter { sql in
                    try await sql.raw("BEGIN EXCLUSIVE").run()
                    locked.withLock { $0 = true }
                    try await Task.sleep(for: .seconds(3))
                    try await sql.raw("ROLLBACK").run()
                }
            }
            #expect(try await eventually { locked.withLock { $0 } })
            let started = ContinuousClock.now
            let refused = try await client.send(
                .post, "/api/orders/orders/", json: ["order_items": [["product": product, "quantity": 1]]], token: token)
            #expect(refused.status == .serviceUnavailable, "\(refused.text)")
            #expect(refused.code == "database_unavailable")
            #expect(ContinuousClock.now - started < .seconds(3))
            try await holder.value
            await other.close()
            let placed = try await client.send(
                .post, "/api/orders/orders/", json: ["order_items": [["product": product, "quantity": 1]]], token: token)
            #expect(placed.status == .created, "recovered without a restart: \(placed.text)")
            try await shop.expectStockInvariants()
        }
    }

    @Test func theProbeFollowsTheDatabaseWithinTwoSecondsOneProbeAtATime() async throws {
        let database = SwitchableDatabase()
        let probe = DatabaseProbe(database, role: "primary", logger: Logger(label: "probe"))
        let run = Task { try await probe.run() }
        defer { run.cancel() }
        #expect(try await eventually { probe.probes.load(ordering: .relaxed) >= 1 })
        #expect(probe.isAnswering)

        database.down.withLock { $0 = true }
        // 1.5 s at most by design: the first probe that starts after the outage fails (0.5 s interval + 1 s
        // timeout), so at most the one probe already running answers first. Asserted in probes, which a loaded
        // machine cannot stretch; `Benchmarks/run.sh outage` measures the seconds on an otherwise quiet server.
        let roundsAtOutage = probe.probes.load(ordering: .relaxed)
        #expect(try await eventually(within: .seconds(10)) { !probe.isAnswering })
        #expect(probe.probes.load(ordering: .relaxed) - roundsAtOutage <= 2, "noticed the outage by the first probe after it")
        let probesBefore = probe.probes.load(ordering: .relaxed)
        try await Task.sleep(for: .seconds(4))
        // Backoff: 100 ms doubling to a 1 s cap, jittered to 50–100 %: well under one probe per 100 ms.
        #expect(probe.probes.load(ordering: .relaxed) - probesBefore <= 15, "backing off")
        #expect(database.mostAtOnce.load(ordering: .relaxed) == 1, "one probe at a time")

        database.down.withLock { $0 = false }
        // The probe waiting on the dead server answers as soon as it is back (1 s at most by the backoff cap).
        let roundsAtReturn = probe.probes.load(ordering: .relaxed)
        #expect(try await eventually(within: .seconds(10)) { probe.isAnswering })
        #expect(probe.probes.load(ordering: .relaxed) - roundsAtReturn <= 2, "noticed the return by the first probe after it")
    }

    @Test func backoffIsJitteredAndCapped() {
        let waits = (1...20).map { DatabaseProbe.backoff(after: $0, cap: .seconds(1)) }
        #expect(waits.allSatisfy { $0 <= .seconds(1) && $0 >= .milliseconds(50) })
        #expect(Set(waits.suffix(10)).count > 1, "jittered")
    }
}

/// A count shared by tasks.
private final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .relaxed) }
    func add() { count.add(1, ordering: .relaxed) }
}

/// A store whose `ping` waits while `down` is set, as a pool's lease does while its server is down; counts
/// overlapping pings.
private final class SwitchableDatabase: Database {
    let engine = SQLEngine.sqlite
    let down = Mutex(false)
    let mostAtOnce = Atomic<Int>(0)
    private let running = Atomic<Int>(0)
    var connectionsInUse: Int { 0 }
    let begin = "BEGIN"

    func ping() async throws {
        let now = running.add(1, ordering: .relaxed).newValue
        defer { running.subtract(1, ordering: .relaxed) }
        _ = mostAtOnce.max(now, ordering: .relaxed)
        // Like a pool's lease: waits while the server is down, answers once it is back.
        while down.withLock({ $0 }) {
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    func read<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T { throw ConfigError("not used") }
    func transaction<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T { throw ConfigError("not used") }
    func withWriter<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T { throw ConfigError("not used") }
    func close() async {}
}
