import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

@testable import OpplyServer

@Suite struct HTTPTests {
    @Test func correlationIDIsEchoedWhenValidAndGeneratedOtherwise() async throws {
        try await withShop(.sqlite) { client, _ in
            let hex = "0123456789abcdef0123456789abcdef"
            #expect(try await client.send(.get, "/health/live", headers: [.correlationID: hex]).headers[.correlationID] == hex)
            let uuid = UUID().uuidString.lowercased()
            #expect(try await client.send(.get, "/nowhere", headers: [.correlationID: uuid]).headers[.correlationID] == uuid)
            let injected = try await client.send(.get, "/health/live", headers: [.correlationID: "bad\nvalue"])
            let generated = try #require(injected.headers[.correlationID])
            #expect(UUID(uuidString: generated) != nil)
        }
    }

    @Test func unknownRoutesAreProblemJSON() async throws {
        try await withShop(.sqlite) { client, _ in
            let reply = try await client.send(.get, "/api/nothing-here/")
            #expect(reply.status == .notFound)
            #expect(reply.headers[.contentType] == "application/problem+json")
            #expect(reply.code == "not_found")
            #expect(reply.json["status"] as? Int == 404)
        }
    }

    @Test func pathsWorkWithAndWithoutTrailingSlash() async throws {
        try await withShop(.sqlite) { client, _ in
            let (_, token) = try await client.signUp("nora")
            #expect(try await client.send(.get, "/api/identity/me/", token: token).status == .ok)
            #expect(try await client.send(.get, "/api/identity/me", token: token).status == .ok)
        }
    }

    @Test(arguments: TestStore.all)
    func healthAndContract(store: TestStore) async throws {
        try await withShop(store) { client, _ in
            #expect(try await client.send(.get, "/health/live").status == .ok)
            let ready = try await client.send(.get, "/health/ready")
            #expect(ready.status == .ok)
            #expect(ready.json["database"] as? String == "ok")
            let contract = try await client.send(.get, "/openapi.yaml")
            #expect(contract.status == .ok)
            #expect(contract.text.hasPrefix("openapi: 3.1"))
            #expect(contract.text.contains("/api/orders/orders/"))
        }
    }

    /// PostgreSQL text cannot hold NUL (it would be a `500`) and SQLite would cut the text there (a search for
    /// "%00" matched everything): refused as `400` naming the field, the same on both stores.
    @Test(arguments: TestStore.all)
    func nulCharactersAre400NamingTheFieldAndChangeNothing(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let register = try await client.send(
                .post, "/api/identity/register/",
                raw: #"""
                    {"username": "nul\u0000er", "email": "nul@example.com", "password": "correct-horse-9", "password2": "correct-horse-9"}
                    """#)
            #expect(register.status == .badRequest)
            #expect(register.fields == ["username"])
            let login = try await client.send(.post, "/api/identity/token/", raw: #"{"username": "staff\u0000", "password": "x"}"#)
            #expect(login.status == .badRequest)
            let product = try await client.send(
                .post, "/api/catalog/products/",
                raw: #"""
                    {"name": "Tea", "price": "1.00", "quantity": 1, "description": "a\u0000b"}
                    """#, token: staff)
            #expect(product.status == .badRequest)
            #expect(product.fields == ["description"])
            let escapedBackslash = try await client.send(
                .post, "/api/catalog/products/", raw: #"{"name": "Back\\u0000slash", "price": "1.00", "quantity": 1}"#, token: staff)
            #expect(escapedBackslash.status == .created, "an escaped backslash before u0000 is text, not NUL")
            let search = try await client.send(.get, "/api/catalog/products/?search=%00")
            #expect(search.status == .badRequest)
            #expect(search.fields == ["search"])
            #expect(
                try await client.send(.patch, "/api/catalog/categories/te%00a/", json: ["name": "Tea"], token: staff).status == .badRequest)
            #expect(try await client.send(.get, "/api/catalog/products/?in_stock=false").json["count"] as? Int == 1)
        }
    }

    @Test func stalledConnectionsAreClosedAfterTheIdleTimeout() async throws {
        // The test client's own connection is closed by the 1 s idle timeout too, so every request here is raw.
        try await withShop(.sqlite, setup: .live, configure: { $0.idleTimeout = .seconds(1) }) { client, _ in
            let port = try #require(client.port)
            let stalledHead = try await rawExchange(port: port, "GET /health/live HTTP/1.1\r\nHost: x\r\n", timeout: .seconds(10))
            #expect(stalledHead.closed, "a request that stops mid-headers is closed after the idle timeout")
            let stalledBody = try await rawExchange(
                port: port, "POST /api/identity/token/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{}", timeout: .seconds(10))
            #expect(stalledBody.closed, "a body that stops short is closed after the idle timeout")
        }
    }

    @Test func brokenChunkedBodiesAre400NotTooLarge() async throws {
        try await withShop(.sqlite, setup: .live) { client, _ in
            let port = try #require(client.port)
            let badChunk = try await rawExchange(
                port: port,
                """
                POST /api/identity/token/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n
                """, timeout: .seconds(10))
            #expect(badChunk.reply.hasPrefix("HTTP/1.1 400"), "\(badChunk.reply)")
            #expect(badChunk.reply.lowercased().contains("content-type: application/problem+json"))
            #expect(try await client.send(.get, "/health/live").status == .ok, "the server goes on answering")
        }
    }

    @Test func readinessFailsWhenTheDatabaseIsGone() async throws {
        try await withShop(.sqlite) { client, shop in
            await shop.database.close()
            // The background probe notices within a second or two; a slow machine gets more.
            let unready = try await eventually(within: .seconds(10)) {
                try await client.send(.get, "/health/ready").status == .serviceUnavailable
            }
            #expect(unready)
            let reply = try await client.send(.get, "/health/ready")
            #expect(reply.status == .serviceUnavailable)
            #expect(reply.headers[.contentType] == "application/problem+json")
        }
    }

    @Test func everyBodyThatIsNotJSONIs415AndChangesNothing() async throws {
        try await withShop(.sqlite) { client, shop in
            let staff = try await shop.staffToken(client)
            let staffID = try #require(try await client.send(.get, "/api/identity/me/", token: staff).json["id"] as? String)
            let product = try await client.createProduct("Plain", quantity: 5, staff: staff)
            let any = UUID().uuidString.lowercased()
            let routes: [(HTTPRequest.Method, String)] = [
                (.post, "/api/identity/register/"), (.post, "/api/identity/token/"), (.post, "/api/identity/token/refresh/"),
                (.post, "/api/identity/token/verify/"), (.post, "/api/identity/logout/"), (.patch, "/api/identity/customers/\(staffID)/"),
                (.post, "/api/catalog/products/"), (.patch, "/api/catalog/products/\(product)/"),
                (.post, "/api/catalog/products/\(product)/inventory/"),
                (.patch, "/api/catalog/categories/coffee/"), (.post, "/api/cart/items/"), (.patch, "/api/cart/items/\(product)/"),
                (.post, "/api/cart/checkout/"), (.post, "/api/orders/orders/"), (.post, "/api/admin/orders/\(any)/fulfil/"),
                (.post, "/api/admin/orders/\(any)/cancel/"), (.post, "/api/admin/webhooks/"), (.patch, "/api/admin/webhooks/\(any)/"),
            ]
            let body = ByteBuffer(string: #"{"username":"x","password":"y","quantity":1,"product":"\#(product)","order_items":[]}"#)
            for (method, path) in routes {
                for type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", nil] as [String?] {
                    var headers: HTTPFields = [.authorization: "Bearer \(staff)"]
                    if let type { headers[.contentType] = type }
                    let status = try await client.execute(uri: path, method: method, headers: headers, body: body) { $0.status }
                    #expect(status == .unsupportedMediaType, "\(method) \(path) as \(type ?? "no type")")
                }
            }
            let problem = try await client.execute(
                uri: "/api/identity/token/", method: .post, headers: [.contentType: "text/plain"], body: body
            ) { $0 }
            #expect(problem.headers[.contentType] == "application/problem+json")
            #expect(String(buffer: problem.body).contains("unsupported_media_type"))
            #expect(try await client.quantity(of: product) == 5)
            for type in ["application/json; charset=utf-8", "application/merge-patch+json", "APPLICATION/JSON"] {
                let status = try await client.execute(
                    uri: "/api/catalog/products/\(product)/", method: .patch,
                    headers: [.authorization: "Bearer \(staff)", .contentType: type],
                    body: ByteBuffer(string: #"{"name":"Plain 2"}"#)
                ) { $0.status }
                #expect(status == .ok, "\(type)")
            }
        }
    }

    @Test func configurationRejectsBadValuesNamingTheVariable() throws {
        #expect(throws: ConfigError.self) { try AppConfig.fromEnvironment(["APP_ENV": "production"]) }
        #expect(throws: ConfigError.self) { try AppConfig.fromEnvironment(["APP_ENV": "production", "JWT_SECRET": "short"]) }
        #expect(throws: ConfigError.self) { try AppConfig.fromEnvironment(["PORT": "eighty"]) }
        #expect(throws: ConfigError.self) { try AppConfig.fromEnvironment(["DATABASE_URL": "mysql://x"]) }
        #expect(throws: ConfigError.self) { try AppConfig.fromEnvironment(["CART_TTL": "-5"]) }
        #expect(throws: ConfigError.self) { try AppConfig.fromEnvironment(["WEBHOOK_URL": "https://hooks.example.com/opply"]) }
        #expect(throws: ConfigError.self) {
            try AppConfig.fromEnvironment(["WEBHOOK_URL": "https://x.example", "WEBHOOK_SECRET": "short"])
        }
        #expect(throws: ConfigError.self) { try AppConfig.fromEnvironment(["WEBHOOK_RETRY_SCHEDULE": "5,soon"]) }
        #expect(throws: ConfigError.self) { try AppConfig.fromEnvironment(["WEBHOOK_ALLOW_PRIVATE": "maybe"]) }
        let hooked = try? AppConfig.fromEnvironment([
            "WEBHOOK_URL": "https://hooks.example.com/opply", "WEBHOOK_SECRET": "whsec_" + Data(count: 32).base64EncodedString(),
            "WEBHOOK_RETRY_SCHEDULE": "1, 60,3600", "WEBHOOK_ALLOW_HTTP": "true",
        ])
        #expect(hooked?.webhookRetrySchedule == [.seconds(1), .seconds(60), .seconds(3600)])
        #expect(hooked?.webhookAllowHTTP == true && hooked?.webhookAllowPrivate == false)
        #expect(throws: ConfigError.self) { try AppConfig.fromEnvironment(["DATABASE_ACQUIRE_TIMEOUT": "0"]) }
        #expect(try AppConfig.fromEnvironment(["DATABASE_ACQUIRE_TIMEOUT": "5"]).databaseAcquireTimeout == .seconds(5))
        #expect(try AppConfig.fromEnvironment([:]).databaseAcquireTimeout == .seconds(2))
        do {
            _ = try AppConfig.fromEnvironment(["CART_TTL": "soon"])
        } catch {
            #expect(error.description.hasPrefix("CART_TTL"))
        }
        let development = try? AppConfig.fromEnvironment([:])
        #expect(development?.jwtSecretGenerated == true)
        #expect(development?.seedDemoData == true)
        let production = try? AppConfig.fromEnvironment([
            "APP_ENV": "production", "JWT_SECRET": String(repeating: "s", count: 32),
            "DATABASE_URL": "postgres://shop:p%40ss@db.internal:6432/shop?sslmode=require",
        ])
        #expect(production?.logFormat == .json)
        #expect(
            production?.databaseURL
                == .postgres(.init(host: "db.internal", port: 6432, username: "shop", password: "p@ss", database: "shop", tls: .require)))
        #expect(
            (try? AppConfig.fromEnvironment(["DATABASE_URL": "sqlite:///var/lib/opply/opply.sqlite"]))?.databaseURL
                == .sqliteFile(path: "/var/lib/opply/opply.sqlite"))
    }

    @Test func postgresStoreTestsRan() {
        if TestStore.postgresURL == nil {
            print("NOTE: TEST_POSTGRES_URL is not set: the PostgreSQL store tests were NOT run (SQLite only). `bash .ci/run` runs both.")
        }
    }
}

extension HTTPTests {
    /// Each route reads no more body than its largest valid request needs, a request's head and body must arrive
    /// within the read deadline, and past the connection cap new connections wait until a stalled one is closed.
    @Test func bodiesDeadlinesAndTheConnectionCapBoundWhatClientsCanHold() async throws {
        try await withShop(
            .sqlite, setup: .live,
            configure: {
                $0.readTimeout = .seconds(1)
                $0.maxConnections = 3
            }
        ) { client, shop in
            let port = try #require(client.port)
            let padding = String(repeating: "x", count: 5_000)
            let identity = try await client.send(.post, "/api/identity/token/", json: ["username": padding, "password": "x"])
            #expect(identity.status == .contentTooLarge, "identity takes a few KiB")
            #expect(identity.json["detail"] as? String == "This request's body is limited to 4 KiB.")
            let staff = try await shop.staffToken(client)
            let lines = (0..<100).map { _ in ["product": UUID().uuidString.lowercased(), "quantity": 1] as [String: Any] }
            let (_, token) = try await client.signUp("hundred")
            let order = try await client.send(.post, "/api/orders/orders/", json: ["order_items": lines], token: token)
            #expect(order.status == .badRequest || order.status == .conflict, "100 lines fit the order limit: \(order.status)")
            #expect(order.status != .contentTooLarge)
            _ = staff

            // A body that stops short is closed at the read deadline (1 s), long before the idle timeout (75 s).
            let started = ContinuousClock.now
            let stalled = try await rawExchange(
                port: port, "POST /api/identity/token/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{}", timeout: .seconds(10))
            #expect(stalled.closed)
            #expect(ContinuousClock.now - started < .seconds(5))

            // Three stalled connections fill the cap; a health check waits for the deadline to close them, then answers.
            let checked = try await withThrowingTaskGroup(of: (String, Duration).self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        let start = ContinuousClock.now
                        let reply = try await rawExchange(port: port, "GET /health/live HTTP/1.1\r\nHost: x\r\n", timeout: .seconds(10))
                        return ("stalled " + reply.reply, ContinuousClock.now - start)
                    }
                }
                try await Task.sleep(for: .milliseconds(300))
                // It waits in the backlog, or is refused when accepted past the cap: asked again until it answers.
                let start = ContinuousClock.now
                var health = ""
                while !health.hasPrefix("HTTP/1.1 200"), ContinuousClock.now - start < .seconds(10) {
                    health = try await rawExchange(
                        port: port, "GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout: .seconds(10)
                    ).reply
                }
                let waited = ContinuousClock.now - start
                for try await _ in group {}
                return (health, waited)
            }
            #expect(checked.0.hasPrefix("HTTP/1.1 200"), "the health check is answered once a slot frees: \(checked.0.prefix(80))")
            #expect(checked.1 > .milliseconds(400), "it waited for a slot (\(checked.1))")
        }
    }
}

extension HTTPTests {
    @Test func aNewSQLiteFileIsReadableByItsOwnerOnly() async throws {
        let (url, drop) = try await TestStore.sqlite.makeDatabaseURL()
        defer { Task { await drop() } }
        guard case .sqliteFile(let path) = url else { throw ConfigError("not a file") }
        let shop = try await Shop.open(testConfig(url), logger: Logger(label: "test"))
        await shop.close()
        let mode = (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue
        #expect(mode == 0o600, "mode \(String(mode ?? 0, radix: 8))")
    }
}

extension HTTPTests {
    @Test func developmentListensOnLoopbackOnly() {
        var config = AppConfig()
        config.environment = .development
        for host in ["127.0.0.1", "::1", "localhost"] {
            config.host = host
            #expect(config.listeningProblem == nil, "\(host)")
        }
        for host in ["0.0.0.0", "::", "192.168.1.5"] {
            config.host = host
            #expect(config.listeningProblem?.contains("loopback only") == true, "\(host)")
        }
        config.environment = .production
        #expect(config.listeningProblem == nil, "production listens where it is told")
    }
}
