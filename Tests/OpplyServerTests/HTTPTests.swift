import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
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

    @Test func readinessFailsWhenTheDatabaseIsGone() async throws {
        try await withShop(.sqlite) { client, shop in
            await shop.database.close()
            let reply = try await client.send(.get, "/health/ready")
            #expect(reply.status == .serviceUnavailable)
            #expect(reply.headers[.contentType] == "application/problem+json")
        }
    }

    @Test func configurationRejectsBadValuesNamingTheVariable() {
        #expect(throws: ConfigError.self) { try AppConfig.fromEnvironment(["APP_ENV": "production"]) }
        #expect(throws: ConfigError.self) { try AppConfig.fromEnvironment(["APP_ENV": "production", "JWT_SECRET": "short"]) }
        #expect(throws: ConfigError.self) { try AppConfig.fromEnvironment(["PORT": "eighty"]) }
        #expect(throws: ConfigError.self) { try AppConfig.fromEnvironment(["DATABASE_URL": "mysql://x"]) }
        #expect(throws: ConfigError.self) { try AppConfig.fromEnvironment(["CART_TTL": "-5"]) }
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
        #expect(production?.databaseURL == .postgres(.init(host: "db.internal", port: 6432, username: "shop", password: "p@ss", database: "shop", tls: .require)))
        #expect((try? AppConfig.fromEnvironment(["DATABASE_URL": "sqlite:///var/lib/opply/opply.sqlite"]))?.databaseURL == .sqliteFile(path: "/var/lib/opply/opply.sqlite"))
    }

    @Test func postgresStoreTestsRan() {
        if TestStore.postgresURL == nil {
            print("NOTE: TEST_POSTGRES_URL is not set: the PostgreSQL store tests were NOT run (SQLite only). `bash .ci/run` runs both.")
        }
    }
}
