import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SQLKit
import Testing

@testable import OpplyServer

@Suite struct IdentityTests {
    @Test(arguments: TestStore.all)
    func registerThenLogInThenReadMe(store: TestStore) async throws {
        try await withShop(store) { client, _ in
            let registered = try await client.send(
                .post, "/api/identity/register/",
                json: [
                    "username": "Alice", "email": "alice@example.com", "password": "correct-horse-9", "password2": "correct-horse-9",
                    "first_name": "Alice", "last_name": "Liddell",
                ])
            #expect(registered.status == .created)
            #expect(registered.json["username"] as? String == "Alice")
            #expect(registered.json["is_staff"] as? Bool == false)
            #expect(registered.json["password"] == nil && registered.json["password_hash"] == nil)
            let id = try #require(registered.json["id"] as? String)
            #expect(id == id.lowercased() && UUID(uuidString: id) != nil)

            let token = try await client.send(.post, "/api/identity/token/", json: ["username": "alice", "password": "correct-horse-9"])
            #expect(token.status == .ok)
            #expect(token.json["token_type"] as? String == "Bearer")
            #expect(token.json["expires_in"] as? Int == 900)
            let access = try #require(token.json["access"] as? String)

            let me = try await client.send(.get, "/api/identity/me/", token: access)
            #expect(me.status == .ok)
            #expect(me.json["id"] as? String == id)
            #expect(me.json["first_name"] as? String == "Alice")
        }
    }

    @Test(arguments: TestStore.all)
    func usernameAndEmailAreUniqueIgnoringCase(store: TestStore) async throws {
        try await withShop(store) { client, _ in
            _ = try await client.signUp("bob")
            let sameName = try await client.send(
                .post, "/api/identity/register/",
                json: [
                    "username": "BOB", "email": "other@example.com", "password": "correct-horse-9", "password2": "correct-horse-9",
                ])
            #expect(sameName.status == .badRequest)
            #expect(sameName.fields == ["username"])
            let sameEmail = try await client.send(
                .post, "/api/identity/register/",
                json: [
                    "username": "robert", "email": "BOB@Example.com", "password": "correct-horse-9", "password2": "correct-horse-9",
                ])
            #expect(sameEmail.status == .badRequest)
            #expect(sameEmail.fields == ["email"])
        }
    }

    @Test(arguments: TestStore.all)
    func fiftyConcurrentRegistrationsOfOneUsernameCreateOneAccount(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let statuses = try await concurrentStatuses(50) { index in
                try await client.send(
                    .post, "/api/identity/register/",
                    json: [
                        "username": index % 2 == 0 ? "racer" : "RACER", "email": "racer\(index)@example.com",
                        "password": "correct-horse-9", "password2": "correct-horse-9",
                    ]
                ).status
            }
            #expect(statuses.filter { $0 == .created }.count == 1)
            #expect(statuses.filter { $0 == .badRequest }.count == 49)
            let rows = try await shop.database.read { sql in
                try await sql.select().column("id").from("customers").where("username_key", .equal, "racer").all()
            }
            #expect(rows.count == 1)
        }
    }

    @Test(arguments: [
        (["password": "short1", "password2": "short1"], "password"),
        (["password": "12345678901", "password2": "12345678901"], "password"),
        (["password": "password123", "password2": "password123"], "password"),
        (["password": "carol-carol", "password2": "carol-carol", "username": "carol-carol"], "password"),
        (["password": "correct-horse-9", "password2": "correct-horse-8"], "password2"),
        (["username": "no spaces"], "username"),
        (["username": String(repeating: "a", count: 151)], "username"),
        (["username": ""], "username"),
        (["email": "not-an-email"], "email"),
        (["email": "a@b"], "email"),
        (["first_name": String(repeating: "x", count: 151)], "first_name"),
    ])
    func registrationRulesNameTheField(overrides: [String: String], field: String) async throws {
        try await withShop(.sqlite) { client, shop in
            var body = ["username": "carol", "email": "carol@example.com", "password": "correct-horse-9", "password2": "correct-horse-9"]
            body.merge(overrides) { $1 }
            let reply = try await client.send(.post, "/api/identity/register/", json: body)
            #expect(reply.status == .badRequest)
            #expect(reply.fields.contains(field), "\(reply.text)")
            #expect(reply.headers[.contentType] == "application/problem+json")
            let count = try await shop.database.read { try await $0.select().column("id").from("customers").all().count }
            #expect(count == 0)
        }
    }

    @Test func badBodiesAnswer400Or413NeverA500() async throws {
        try await withShop(.sqlite) { client, _ in
            let malformed = try await client.send(.post, "/api/identity/register/", raw: "{\"username\": ")
            #expect(malformed.status == .badRequest)
            #expect(malformed.fields == ["body"])
            let wrongType = try await client.send(
                .post, "/api/identity/register/",
                json: [
                    "username": 12, "email": "x@example.com", "password": "correct-horse-9", "password2": "correct-horse-9",
                ])
            #expect(wrongType.status == .badRequest)
            #expect(wrongType.fields == ["username"])
            let missing = try await client.send(.post, "/api/identity/register/", json: ["username": "dave"])
            #expect(missing.status == .badRequest)
            #expect(missing.fields.count == 1)
            let notAnObject = try await client.send(.post, "/api/identity/token/", json: [1, 2, 3])
            #expect(notAnObject.status == .badRequest)
            let empty = try await client.send(.post, "/api/identity/token/")
            #expect(empty.status == .badRequest)
            let huge = try await client.send(
                .post, "/api/identity/register/", raw: "{\"username\": \"" + String(repeating: "a", count: 1_100_000) + "\"}")
            #expect(huge.status == .contentTooLarge)
            #expect(huge.code == "payload_too_large")
        }
    }

    @Test(arguments: TestStore.all)
    func wrongPasswordIs401AndRepeatedFailuresAreThrottled(store: TestStore) async throws {
        try await withShop(store) { client, _ in
            _ = try await client.signUp("erin")
            let unknown = try await client.send(.post, "/api/identity/token/", json: ["username": "nobody", "password": "whatever-123"])
            #expect(unknown.status == .unauthorized)
            for _ in 0..<5 {
                let reply = try await client.send(.post, "/api/identity/token/", json: ["username": "erin", "password": "wrong-password"])
                #expect(reply.status == .unauthorized)
            }
            let throttled = try await client.send(.post, "/api/identity/token/", json: ["username": "erin", "password": "correct-horse-9"])
            #expect(throttled.status == .tooManyRequests)
            let retryAfter = try #require(throttled.headers[.retryAfter].flatMap { Int($0) })
            #expect(retryAfter > 0 && retryAfter <= 300)
            // Another username from the same client is not affected.
            _ = try await client.signUp("frank")
        }
    }

    @Test func behindATrustedProxyTheThrottleCountsTheForwardedClient() async throws {
        try await withShop(.sqlite, configure: { $0.trustProxy = true }) { client, _ in
            _ = try await client.signUp("proxied")
            let wrong = ["username": "proxied", "password": "wrong-password"]
            for _ in 0..<5 {
                _ = try await client.send(
                    .post, "/api/identity/token/", json: wrong, headers: [.init("X-Forwarded-For")!: "spoofed, 203.0.113.7"])
            }
            let attacker = try await client.send(
                .post, "/api/identity/token/", json: wrong, headers: [.init("X-Forwarded-For")!: "198.51.100.1, 203.0.113.7"])
            #expect(attacker.status == .tooManyRequests, "the proxy-appended address is what counts, not what the client sent")
            let owner = try await client.send(
                .post, "/api/identity/token/", json: ["username": "proxied", "password": "correct-horse-9"],
                headers: [.init("X-Forwarded-For")!: "192.0.2.44"])
            #expect(owner.status == .ok, "the owner, from another address, is not locked out")
        }
    }

    @Test func parallelGuessesCannotSlipPastTheThrottle() async throws {
        try await withShop(.sqlite) { client, _ in
            _ = try await client.signUp("guarded")
            let statuses = try await concurrentStatuses(12) { _ in
                try await client.send(.post, "/api/identity/token/", json: ["username": "guarded", "password": "wrong-password"]).status
            }
            #expect(statuses.filter { $0 == .unauthorized }.count == 5)
            #expect(statuses.filter { $0 == .tooManyRequests }.count == 7)
        }
    }

    @Test(arguments: TestStore.all)
    func refreshRotatesAndReuseRevokesTheFamily(store: TestStore) async throws {
        try await withShop(store) { client, _ in
            _ = try await client.signUp("gina")
            let first = try await client.logIn("gina")
            let rotated = try await client.send(.post, "/api/identity/token/refresh/", json: ["refresh": first.refresh])
            #expect(rotated.status == .ok)
            let second = try #require(rotated.json["refresh"] as? String)
            let newAccess = try #require(rotated.json["access"] as? String)
            #expect(try await client.send(.get, "/api/identity/me/", token: newAccess).status == .ok)

            // The spent token again: refused, and the whole family (including `second`) is revoked.
            let replay = try await client.send(.post, "/api/identity/token/refresh/", json: ["refresh": first.refresh])
            #expect(replay.status == .unauthorized)
            let afterTheft = try await client.send(.post, "/api/identity/token/refresh/", json: ["refresh": second])
            #expect(afterTheft.status == .unauthorized)
            // An access token is not a refresh token.
            let wrongType = try await client.send(.post, "/api/identity/token/refresh/", json: ["refresh": newAccess])
            #expect(wrongType.status == .unauthorized)
            // A separate login is a separate family and still works.
            let other = try await client.logIn("gina")
            #expect(try await client.send(.post, "/api/identity/token/refresh/", json: ["refresh": other.refresh]).status == .ok)
        }
    }

    @Test(arguments: TestStore.all)
    func verifyAndLogout(store: TestStore) async throws {
        try await withShop(store) { client, _ in
            _ = try await client.signUp("hank")
            let tokens = try await client.logIn("hank")
            let ok = try await client.send(.post, "/api/identity/token/verify/", json: ["token": tokens.access])
            #expect(ok.status == .ok)
            #expect(ok.text == "{}")
            #expect(try await client.send(.post, "/api/identity/token/verify/", json: ["token": "garbage"]).status == .unauthorized)

            let logout = try await client.send(.post, "/api/identity/logout/", json: ["refresh": tokens.refresh], token: tokens.access)
            #expect(logout.status == .noContent)
            #expect(try await client.send(.post, "/api/identity/token/verify/", json: ["token": tokens.refresh]).status == .unauthorized)
            #expect(try await client.send(.post, "/api/identity/token/refresh/", json: ["refresh": tokens.refresh]).status == .unauthorized)
            // Someone else's refresh token cannot be revoked by this caller.
            let (_, other) = try await client.signUp("ivy")
            let ivyTokens = try await client.logIn("ivy")
            _ = other
            // (hank's first access token ended with his logout: he signs in again.)
            let hank = try await client.logIn("hank")
            let foreign = try await client.send(.post, "/api/identity/logout/", json: ["refresh": ivyTokens.refresh], token: hank.access)
            #expect(foreign.status == .badRequest)
            #expect(try await client.send(.post, "/api/identity/token/refresh/", json: ["refresh": ivyTokens.refresh]).status == .ok)
        }
    }

    @Test func forgedExpiredAndUnsignedTokensAre401() async throws {
        try await withShop(.sqlite) { client, _ in
            let (id, _) = try await client.signUp("jane")
            let customerID = try #require(UUID(uuidString: id))
            let forger = await TokenSigner(secret: String(repeating: "x", count: 32), accessTTL: .seconds(900), refreshTTL: .seconds(900))
            let forged = try await forger.pair(customerID: customerID, refreshID: UUID(), family: UUID(), now: Date()).access
            let signer = await TokenSigner(secret: testConfig(.sqliteMemory).jwtSecret, accessTTL: .seconds(900), refreshTTL: .seconds(900))
            let expired = try await signer.pair(customerID: customerID, refreshID: UUID(), family: UUID(), now: Date() - 3600).access
            let valid = try await signer.pair(customerID: customerID, refreshID: UUID(), family: UUID(), now: Date()).access
            let header = Data(#"{"alg":"none","typ":"JWT"}"#.utf8).base64URL
            let payload = Data(#"{"sub":"\#(id)","typ":"access","exp":4102444800,"iat":1700000000}"#.utf8).base64URL
            let unsigned = "\(header).\(payload)."
            // The right secret under another algorithm, a token not valid yet, and one issued in the future.
            let secret = Data(testConfig(.sqliteMemory).jwtSecret.utf8)
            func signed(_ header: String, _ payload: String, _ hash: (Data) -> Data) -> String {
                let content = Data(header.utf8).base64URL + "." + Data(payload.utf8).base64URL
                return content + "." + hash(Data(content.utf8)).base64URL
            }
            let hs256 = { (content: Data) in Data(HMAC<SHA256>.authenticationCode(for: content, using: SymmetricKey(data: secret))) }
            let hs384 = { (content: Data) in Data(HMAC<SHA384>.authenticationCode(for: content, using: SymmetricKey(data: secret))) }
            let now = Int(Date().timeIntervalSince1970)
            let claims = { (extra: String) in #"{"sub":"\#(id)","typ":"access","exp":\#(now + 600),"iat":\#(now)\#(extra)}"# }
            let otherAlgorithm = signed(#"{"alg":"HS384","typ":"JWT"}"#, claims(""), hs384)
            let notYet = signed(#"{"alg":"HS256","typ":"JWT"}"#, claims(#","nbf":\#(now + 300)"#), hs256)
            let future = signed(
                #"{"alg":"HS256","typ":"JWT"}"#, #"{"sub":"\#(id)","typ":"access","exp":\#(now + 9000),"iat":\#(now + 3600)}"#, hs256)
            #expect(
                try await client.send(.get, "/api/identity/me/", token: signed(#"{"alg":"HS256","typ":"JWT"}"#, claims(""), hs256)).status
                    == .ok)

            #expect(try await client.send(.get, "/api/identity/me/", token: valid).status == .ok)
            for token in [forged, expired, unsigned, otherAlgorithm, notYet, future, "garbage", "a.b.c", ""] {
                let reply = try await client.send(.get, "/api/identity/me/", token: token)
                #expect(reply.status == .unauthorized, "token \(token)")
                #expect(reply.headers[.wwwAuthenticate] == "Bearer")
            }
            for header in ["Basic dXNlcjpwYXNz", "Bearer", "Token abc", String(repeating: "B", count: 5000)] {
                let reply = try await client.send(.get, "/api/identity/me/", headers: [.authorization: header])
                #expect(reply.status == .unauthorized, "header \(header.prefix(20))")
            }
        }
    }

    @Test(arguments: TestStore.all)
    func customersSeeOnlyThemselvesAndStaffSeeEveryone(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let (kimID, kim) = try await client.signUp("kim")
            let (leoID, leo) = try await client.signUp("leo")
            let staff = try await shop.staffToken(client)

            let kimsList = try await client.send(.get, "/api/identity/customers/", token: kim)
            #expect(kimsList.json["count"] as? Int == 1)
            #expect(kimsList.list.map { $0["id"] as? String } == [kimID])
            #expect(try await client.send(.get, "/api/identity/customers/\(leoID)/", token: kim).status == .notFound)
            #expect(
                try await client.send(.patch, "/api/identity/customers/\(leoID)/", json: ["first_name": "X"], token: kim).status
                    == .notFound)
            #expect(try await client.send(.delete, "/api/identity/customers/\(leoID)/", token: kim).status == .notFound)
            #expect(try await client.send(.get, "/api/identity/customers/not-a-uuid/", token: kim).status == .notFound)
            #expect(try await client.send(.get, "/api/identity/customers/\(kimID)", token: kim).status == .ok)

            let promote = try await client.send(.patch, "/api/identity/customers/\(kimID)/", json: ["is_staff": true], token: kim)
            #expect(promote.status == .forbidden)
            let rename = try await client.send(
                .patch, "/api/identity/customers/\(kimID)/", json: ["first_name": "Kimberly", "email": "KIM2@example.com"], token: kim)
            #expect(rename.status == .ok)
            #expect(rename.json["first_name"] as? String == "Kimberly")
            #expect(rename.json["is_staff"] as? Bool == false)
            let stolenEmail = try await client.send(
                .patch, "/api/identity/customers/\(kimID)/", json: ["email": "leo@example.com"], token: kim)
            #expect(stolenEmail.status == .badRequest)
            #expect(stolenEmail.fields == ["email"])

            let all = try await client.send(.get, "/api/identity/customers/?limit=2", token: staff)
            #expect(all.json["count"] as? Int == 3)
            #expect(all.list.count == 2)
            let next = try #require(all.json["next"] as? String)
            #expect(next.hasSuffix("/api/identity/customers/?limit=2&offset=2"))
            #expect(all.json["previous"] is NSNull)
            // Leo's account is remembered from his last request; his new rights hold from the next one, and losing
            // them too.
            #expect(try await client.send(.get, "/api/identity/customers/", token: leo).json["count"] as? Int == 1)
            let promoted = try await client.send(.patch, "/api/identity/customers/\(leoID)/", json: ["is_staff": true], token: staff)
            #expect(promoted.json["is_staff"] as? Bool == true)
            #expect(try await client.send(.get, "/api/identity/customers/", token: leo).json["count"] as? Int == 3)
            _ = try await client.send(.patch, "/api/identity/customers/\(leoID)/", json: ["is_staff": false], token: staff)
            #expect(try await client.send(.get, "/api/identity/customers/", token: leo).json["count"] as? Int == 1)
            #expect(try await client.send(.get, "/api/identity/customers/?limit=101", token: staff).status == .badRequest)
            #expect(try await client.send(.get, "/api/identity/customers/?offset=-1", token: staff).status == .badRequest)
        }
    }

    @Test(arguments: TestStore.all)
    func deletedAccountCanNoLongerLogIn(store: TestStore) async throws {
        try await withShop(store) { client, _ in
            let (id, token) = try await client.signUp("mia")
            let refresh = try await client.logIn("mia").refresh
            #expect(try await client.send(.delete, "/api/identity/customers/\(id)/", token: token).status == .noContent)
            #expect(try await client.send(.get, "/api/identity/me/", token: token).status == .unauthorized)
            #expect(try await client.send(.post, "/api/identity/token/verify/", json: ["token": token]).status == .unauthorized)
            #expect(
                try await client.send(.post, "/api/identity/token/", json: ["username": "mia", "password": "correct-horse-9"]).status
                    == .unauthorized)
            #expect(try await client.send(.post, "/api/identity/token/refresh/", json: ["refresh": refresh]).status == .unauthorized)
        }
    }
}

extension Data {
    var base64URL: String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(
            of: "=", with: "")
    }
}

extension IdentityTests {
    /// Texts a B-tree cannot hold in a key (PostgreSQL's limit is about 2,700 bytes) are refused by their size in
    /// bytes as well as characters, and one name typed in two Unicode forms is one account.
    @Test(arguments: TestStore.all)
    func longTextsInBytesAre400NamingTheFieldNeverA500(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let marks = String(repeating: "e" + String(repeating: "\u{301}", count: 12), count: 150)  // 150 characters, 3,750 bytes
            let register = { (username: String, email: String) in
                try await client.send(
                    .post, "/api/identity/register/",
                    json: ["username": username, "email": email, "password": "correct-horse-9", "password2": "correct-horse-9"])
            }
            let combining = try await register(marks, "marks@example.com")
            #expect(combining.status == .badRequest && combining.fields == ["username"], "\(combining.text)")
            let longEmail = try await register(
                "mailer", String(repeating: "é", count: 60) + "@" + String(repeating: "ü", count: 60) + ".example")
            #expect(longEmail.status == .badRequest && longEmail.fields == ["email"], "\(longEmail.text)")
            let symbol = try await register("snow☃man", "snow@example.com")
            #expect(symbol.status == .badRequest && symbol.fields == ["username"])

            #expect(try await register("jos\u{E9}", "jose@example.com").status == .created)
            let decomposed = try await register("jose\u{301}", "jose2@example.com")
            #expect(decomposed.status == .badRequest && decomposed.fields == ["username"], "NFC: the same name")
            #expect(
                try await client.send(.post, "/api/identity/token/", json: ["username": "JOSE\u{301}", "password": "correct-horse-9"])
                    .status == .ok)
            #expect(try await register("samename", "samename@example.com").status == .created)
            let sameAsEmail = try await client.send(
                .post, "/api/identity/register/",
                json: [
                    "username": "mailpw", "email": "mailpw@example.com", "password": "mailpw@example.com",
                    "password2": "mailpw@example.com",
                ])
            #expect(sameAsEmail.status == .badRequest && sameAsEmail.fields == ["password"])

            let staff = try await shop.staffToken(client)
            let name = try await client.send(
                .post, "/api/catalog/products/", json: ["name": marks, "price": "1.00", "quantity": 1], token: staff)
            #expect(name.status == .badRequest && name.fields == ["name"], "\(name.text)")
            var generator = SystemRandomNumberGenerator()
            let letters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
            let noise = String((0..<5_000).map { _ in letters[Int.random(in: 0..<letters.count, using: &generator)] })
            let described = try await client.send(
                .post, "/api/catalog/products/", json: ["name": "Noise", "description": noise, "price": "1.00", "quantity": 1], token: staff
            )
            #expect(described.status == .created, "a 5,000-character description is valid: \(described.text.prefix(300))")
            let product = try #require(described.json["id"] as? String)
            #expect(
                try await client.send(.get, "/api/catalog/products/?search=\(noise.suffix(12))").list.count == 1, "its tail is searchable")

            let (_, token) = try await client.signUp("keyholder")
            let key = String(repeating: "\u{E9}", count: 255)  // 255 characters, 510 bytes
            let longKey = try await client.send(
                .post, "/api/orders/orders/", json: ["order_items": [["product": product, "quantity": 1]]], token: token,
                headers: [.init("Idempotency-Key")!: key])
            #expect(longKey.status == .badRequest && longKey.fields == ["Idempotency-Key"], "\(longKey.text)")

            // A request that fails validation leaves no record under its key: the corrected request is placed.
            let keyed: HTTPFields = [.init("Idempotency-Key")!: "first-try"]
            let invalid = try await client.send(
                .post, "/api/orders/orders/", json: ["order_items": [["product": product, "quantity": 0]]], token: token, headers: keyed)
            #expect(invalid.status == .badRequest)
            let corrected = try await client.send(
                .post, "/api/orders/orders/", json: ["order_items": [["product": product, "quantity": 1]]], token: token, headers: keyed)
            #expect(corrected.status == .created, "\(corrected.text)")
        }
    }

    /// Sign-ins and registrations from one address are limited whatever the usernames, and the hashing queue is
    /// bounded: a flood of logins with random usernames is turned away before any hashing.
    @Test func oneAddressCannotFloodSignInsOrRegistrations() async throws {
        try await withShop(.sqlite, configure: { $0.addressAttempts = 5 }) { client, _ in
            for index in 0..<5 {
                let guess = try await client.send(
                    .post, "/api/identity/token/", json: ["username": "nobody\(index)", "password": "wrong-password"])
                #expect(guess.status == .unauthorized)
            }
            let sixth = try await client.send(
                .post, "/api/identity/token/", json: ["username": "someone-else", "password": "wrong-password"])
            #expect(sixth.status == .tooManyRequests)
            #expect(sixth.headers[.retryAfter] != nil)
            let registration = try await client.send(
                .post, "/api/identity/register/",
                json: [
                    "username": "newcomer", "email": "newcomer@example.com", "password": "correct-horse-9", "password2": "correct-horse-9",
                ])
            #expect(registration.status == .tooManyRequests, "registrations count against the same address")
        }
        #expect(LoginThrottle.network(of: "2001:db8:1:2:aaaa::1") == LoginThrottle.network(of: "2001:db8:1:2:bbbb::9"), "one /64")
        #expect(LoginThrottle.network(of: "2001:db8:1:3::1") != LoginThrottle.network(of: "2001:db8:1:2::1"))
    }

    /// With a queue of one, a flood of concurrent logins with random usernames gets `503` at once, and a real user's
    /// login, sent in the middle of it, answers within three times its idle time.
    @Test func aFloodOfLoginsDoesNotStarveARealUser() async throws {
        try await withShop(
            .sqlite,
            configure: {
                $0.bcryptCost = 10
                $0.passwordQueue = 1
                $0.trustProxy = true
            }
        ) { client, shop in
            _ = try await shop.createUser(username: "real", email: "real@example.com", password: "correct-horse-9", staff: false)
            let login = { @Sendable (username: String, password: String, address: String) in
                try await client.send(
                    .post, "/api/identity/token/", json: ["username": username, "password": password],
                    headers: [.init("X-Forwarded-For")!: address])
            }
            let idleStart = ContinuousClock.now
            #expect(try await login("real", "correct-horse-9", "192.0.2.1").status == .ok)
            let idle = ContinuousClock.now - idleStart

            let (flooded, busy) = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for index in 0..<60 {
                    group.addTask { try await login("random\(index)", "wrong-password", "198.51.100.\(index)").status }
                }
                let start = ContinuousClock.now
                let real = try await login("real", "correct-horse-9", "192.0.2.1")
                let took = ContinuousClock.now - start
                var statuses: [HTTPResponse.Status] = []
                for try await status in group { statuses.append(status) }
                #expect(real.status == .ok || real.status == .serviceUnavailable, "\(real.status)")
                return (took, statuses.filter { $0 == .serviceUnavailable }.count)
            }
            #expect(busy > 0, "past the queue's bound a login is answered 503 before hashing")
            #expect(flooded < idle * 3 + .milliseconds(300), "the real login took \(flooded) under the flood, \(idle) idle")
        }
    }
}

extension IdentityTests {
    @Test(arguments: TestStore.all)
    func loggingOutOrReusingARefreshTokenEndsTheFamilysAccessTokens(store: TestStore) async throws {
        try await withShop(store) { client, _ in
            _ = try await client.signUp("lou")
            let me = { (token: String) in try await client.send(.get, "/api/identity/me/", token: token).status }
            let first = try await client.logIn("lou")
            #expect(try await me(first.access) == .ok)
            #expect(
                try await client.send(.post, "/api/identity/logout/", json: ["refresh": first.refresh], token: first.access).status
                    == .noContent)
            #expect(try await me(first.access) == .unauthorized, "logout ends the family's access tokens at once")

            let second = try await client.logIn("lou")
            let rotated = try await client.send(.post, "/api/identity/token/refresh/", json: ["refresh": second.refresh])
            #expect(rotated.status == .ok)
            let third = try #require(rotated.json["access"] as? String)
            #expect(try await me(third) == .ok)
            #expect(try await client.send(.post, "/api/identity/token/refresh/", json: ["refresh": second.refresh]).status == .unauthorized)
            #expect(try await me(third) == .unauthorized, "reusing a spent refresh token ends the family's access tokens")
            #expect(try await me(second.access) == .unauthorized)
            #expect(try await me(try await client.logIn("lou").access) == .ok, "another family is untouched")
        }
    }
}
