import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import SQLKit
import Synchronization
import Testing

@testable import OpplyServer

#if canImport(Glibc)
    import Glibc
#endif

/// A webhook receiver on 127.0.0.1: records every delivery it gets and answers as scripted.
actor Receiver {
    struct Delivery: Sendable {
        let id: String
        let timestamp: String
        let signature: String
        let body: Data
        var host = ""
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    }

    private(set) var deliveries: [Delivery] = []
    /// Requests being answered now, and the most at once.
    private var active = 0
    private(set) var mostAtOnce = 0
    private var answers: [HTTPResponse.Status]
    private let delay: Duration?

    /// Answers `answers` in turn, then `200`; with `delay`, waits that long before answering.
    init(answers: [HTTPResponse.Status] = [], delay: Duration? = nil) {
        self.answers = answers
        self.delay = delay
    }

    func receive(_ delivery: Delivery) -> (HTTPResponse.Status, Duration?) {
        deliveries.append(delivery)
        active += 1
        mostAtOnce = max(mostAtOnce, active)
        return (answers.isEmpty ? .ok : answers.removeFirst(), delay)
    }

    func answered() { active -= 1 }

    /// Distinct `webhook-id`s received, as a receiver that dedupes would count them.
    var uniqueIDs: Set<String> { Set(deliveries.map(\.id)) }

    /// Runs `body` with the receiver listening on `address` (any free port unless `port` is given); `body` gets its URL.
    func listen(on address: String = "127.0.0.1", port: Int = 0, _ body: @Sendable (String) async throws -> Void) async throws {
        let router = Router()
        router.post("hook") { [self] request, _ in
            let bytes = try await request.body.collect(upTo: 1 << 20)
            let headers = request.headers
            let (status, delay) = await receive(
                Delivery(
                    id: headers[HTTPField.Name("webhook-id")!] ?? "", timestamp: headers[HTTPField.Name("webhook-timestamp")!] ?? "",
                    signature: headers[HTTPField.Name("webhook-signature")!] ?? "", body: Data(bytes.readableBytesView),
                    host: request.head.authority ?? ""
                ))
            if let delay { try? await Task.sleep(for: delay) }
            await answered()
            return Response(status: status)
        }
        guard address != "127.0.0.1" || port != 0 else {
            let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            try await app.test(.live) { client in try await body("http://127.0.0.1:\(client.port ?? 0)/hook") }
            return
        }
        // The live test client listens on localhost only: another address runs the server itself.
        let (bound, announce) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, configuration: .init(address: .hostname(address, port: port)),
            onServerRunning: { announce.yield($0.localAddress?.port ?? 0) })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService(gracefulShutdownSignals: []) }
            var ports = bound.makeAsyncIterator()
            let port = await ports.next() ?? 0
            do {
                try await body("http://\(address):\(port)/hook")
            } catch {
                group.cancelAll()
                throw error
            }
            group.cancelAll()
        }
    }
}

/// Checks a delivery's Standard Webhooks signature with the endpoint's secret, as a receiver would.
func signatureIsValid(_ delivery: Receiver.Delivery, secret: String) -> Bool {
    guard let key = Data(base64Encoded: String(secret.dropFirst("whsec_".count))) else { return false }
    var content = Data("\(delivery.id).\(delivery.timestamp).".utf8)
    content.append(delivery.body)
    let expected = "v1," + Data(HMAC<SHA256>.authenticationCode(for: content, using: SymmetricKey(data: key))).base64EncodedString()
    return delivery.signature.split(separator: " ").contains { $0 == expected }
}

@Suite struct FulfilmentTests {
    /// Webhooks to the test's own receiver on 127.0.0.1, fast retries and timeouts.
    static func localWebhooks(_ config: inout AppConfig) {
        config.webhookAllowHTTP = true
        config.webhookAllowPrivate = true
        config.webhookRetrySchedule = [.seconds(1), .seconds(1)]
        config.webhookTimeout = .seconds(2)
    }

    func register(_ client: some TestClientProtocol, url: String, events: [String] = ["*"], staff: String) async throws -> (
        id: String, secret: String
    ) {
        let reply = try await client.send(.post, "/api/admin/webhooks/", json: ["url": url, "events": events], token: staff)
        #expect(reply.status == .created, "\(reply.text)")
        return (reply.json["id"] as? String ?? "", reply.json["secret"] as? String ?? "")
    }

    func placeOrder(_ client: some TestClientProtocol, product: String, quantity: Int = 1, token: String) async throws -> String {
        let reply = try await client.send(
            .post, "/api/orders/orders/", json: ["order_items": [["product": product, "quantity": quantity]]], token: token)
        #expect(reply.status == .created, "\(reply.text)")
        return reply.json["id"] as? String ?? ""
    }

    // MARK: Order desk

    @Test(arguments: TestStore.all)
    func staffSeeEveryOrderFulfilAndCancelWithStockBackOnce(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let beans = try await client.createProduct("Beans", quantity: 20, staff: staff)
            let milk = try await client.createProduct("Milk", quantity: 20, staff: staff)
            let (anaID, ana) = try await client.signUp("ana")
            let (_, bo) = try await client.signUp("bo")
            let first = try await placeOrder(client, product: beans, quantity: 2, token: ana)
            let second = try await placeOrder(client, product: milk, quantity: 3, token: bo)
            let third = try await placeOrder(client, product: beans, quantity: 4, token: bo)

            #expect(try await client.send(.get, "/api/admin/orders/").status == .unauthorized)
            #expect(try await client.send(.get, "/api/admin/orders/", token: ana).status == .forbidden)
            let all = try await client.send(.get, "/api/admin/orders/", token: staff)
            #expect(all.json["count"] as? Int == 3)
            #expect(all.list.compactMap { $0["id"] as? String } == [third, second, first], "newest first")
            #expect(all.list.last?["customer_username"] as? String == "ana")
            let anas = try await client.send(.get, "/api/admin/orders/?customer=\(anaID)", token: staff)
            #expect(anas.list.compactMap { $0["id"] as? String } == [first])
            let withBeans = try await client.send(.get, "/api/admin/orders/?product=\(beans)", token: staff)
            #expect(withBeans.list.compactMap { $0["id"] as? String } == [third, first])
            let future = try await client.send(.get, "/api/admin/orders/?created_after=2999-01-01T00:00:00Z", token: staff)
            #expect(future.json["count"] as? Int == 0)
            let past = try await client.send(
                .get, "/api/admin/orders/?created_after=2000-01-01T00:00:00.000Z&created_before=2999-01-01T00:00:00%2B01:00", token: staff)
            #expect(past.json["count"] as? Int == 3)
            for (query, field) in [
                ("status=shipped", "status"), ("customer=ana", "customer"), ("product=1", "product"),
                ("created_after=yesterday", "created_after"), ("created_before=2026-13-01", "created_before"),
                ("created_after=2026-02-30T09:30:00Z", "created_after"), ("created_after=2026-12-01T24:00:00Z", "created_after"),
                ("created_before=2026-12-01T10:00:00%2B24:00", "created_before"), ("created_before=2026-12-01T10:60:00Z", "created_before"),
            ] {
                let reply = try await client.send(.get, "/api/admin/orders/?\(query)", token: staff)
                #expect(reply.status == .badRequest && reply.fields == [field], "\(query): \(reply.text)")
            }

            let fulfilled = try await client.send(
                .post, "/api/admin/orders/\(first)/fulfil/", json: ["note": "left at the door"], token: staff)
            #expect(fulfilled.status == .ok, "\(fulfilled.text)")
            #expect(fulfilled.json["status"] as? String == "fulfilled")
            #expect(fulfilled.json["fulfilment_note"] as? String == "left at the door")
            #expect(fulfilled.json["fulfilled_at"] is String)
            #expect(try await client.send(.post, "/api/admin/orders/\(first)/fulfil/", token: staff).code == "order_not_fulfillable")
            #expect(try await client.send(.post, "/api/orders/orders/\(first)/cancel/", token: ana).code == "order_not_cancellable")
            #expect(
                try await client.send(.post, "/api/admin/orders/\(first)/cancel/", json: ["reason": "late"], token: staff).status
                    == .conflict)
            #expect(try await client.send(.get, "/api/orders/orders/\(first)/", token: ana).json["status"] as? String == "fulfilled")

            #expect(
                try await client.send(.post, "/api/admin/orders/\(second)/cancel/", json: ["reason": " "], token: staff).fields == [
                    "reason"
                ])
            #expect(try await client.send(.post, "/api/admin/orders/\(second)/cancel/", json: [:], token: staff).status == .badRequest)
            let cancelled = try await client.send(
                .post, "/api/admin/orders/\(second)/cancel/", json: ["reason": "out of milk"], token: staff)
            #expect(cancelled.json["status"] as? String == "cancelled")
            #expect(cancelled.json["cancel_reason"] as? String == "out of milk")
            #expect(try await client.quantity(of: milk) == 20)
            #expect(try await client.send(.post, "/api/admin/orders/\(second)/fulfil/", token: staff).code == "order_not_fulfillable")
            #expect(try await client.send(.get, "/api/orders/orders/\(second)/", token: bo).json["status"] as? String == "cancelled")
            #expect(try await client.send(.get, "/api/admin/orders/?status=cancelled", token: staff).list.count == 1)
            #expect(try await client.send(.post, "/api/admin/orders/\(UUID())/fulfil/", token: staff).status == .notFound)

            let topics = try await shop.database.read { sql in
                try await sql.select().column("topic").from("outbox").orderBy("seq").all().map {
                    try $0.decode(column: "topic", as: String.self)
                }
            }
            #expect(topics == ["order.confirmed", "order.confirmed", "order.confirmed", "order.fulfilled", "order.cancelled"])
            #expect(try await client.quantity(of: beans) == 20 - 2 - 4)
            try await shop.expectStockInvariants()
        }
    }

    @Test(arguments: TestStore.all)
    func racingCancelsAndFulfilmentChangeTheOrderOnce(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let (_, token) = try await client.signUp("racer")
            for round in 0..<3 {
                let product = try await client.createProduct("Raced \(round)", quantity: 10, staff: staff)
                let order = try await placeOrder(client, product: product, quantity: 4, token: token)
                let statuses = try await concurrentStatuses(9) { index in
                    switch index % 3 {
                    case 0:
                        try await client.send(.post, "/api/admin/orders/\(order)/cancel/", json: ["reason": "race"], token: staff).status
                    case 1: try await client.send(.post, "/api/orders/orders/\(order)/cancel/", token: token).status
                    default: try await client.send(.post, "/api/admin/orders/\(order)/fulfil/", token: staff).status
                    }
                }
                #expect(statuses.filter { $0 == .ok }.count == 1, "\(statuses)")
                #expect(statuses.filter { $0 == .conflict }.count == 8, "\(statuses)")
                let status = try await client.send(.get, "/api/orders/orders/\(order)/", token: token).json["status"] as? String
                #expect(try await client.quantity(of: product) == (status == "fulfilled" ? 6 : 10), "\(status ?? "")")
            }
            try await shop.expectStockInvariants()
        }
    }

    // MARK: Endpoints

    @Test(arguments: TestStore.all)
    func endpointsAreManagedByStaffWithASecretShownOnce(store: TestStore) async throws {
        try await withShop(store, configure: Self.localWebhooks) { client, shop in
            let staff = try await shop.staffToken(client)
            let (_, customer) = try await client.signUp("nosy")
            #expect(try await client.send(.get, "/api/admin/webhooks/", token: customer).status == .forbidden)
            #expect(
                try await client.send(.post, "/api/admin/webhooks/", json: ["url": "https://example.com", "events": ["*"]]).status
                    == .unauthorized)

            let created = try await client.send(
                .post, "/api/admin/webhooks/",
                json: [
                    "url": "http://127.0.0.1:9/hook", "events": ["order.confirmed", "order.fulfilled"], "description": "warehouse",
                ], token: staff)
            #expect(created.status == .created, "\(created.text)")
            let id = try #require(created.json["id"] as? String)
            let secret = try #require(created.json["secret"] as? String)
            #expect(secret.hasPrefix("whsec_") && Data(base64Encoded: String(secret.dropFirst(6)))?.count == 32)
            #expect(created.json["events"] as? [String] == ["order.confirmed", "order.fulfilled"])

            let listed = try await client.send(.get, "/api/admin/webhooks/", token: staff)
            #expect(listed.json["count"] as? Int == 1)
            #expect(listed.list.first?["secret"] == nil, "the secret is shown only once")
            #expect(try await client.send(.get, "/api/admin/webhooks/\(id)/", token: staff).json["secret"] == nil)

            let patched = try await client.send(
                .patch, "/api/admin/webhooks/\(id)/", json: ["events": ["*"], "enabled": false], token: staff)
            #expect(patched.json["events"] as? [String] == ["*"])
            #expect(patched.json["enabled"] as? Bool == false)
            #expect(patched.json["description"] as? String == "warehouse")

            let rotated = try await client.send(.post, "/api/admin/webhooks/\(id)/rotate-secret/", token: staff)
            let newSecret = try #require(rotated.json["secret"] as? String)
            #expect(newSecret != secret)
            let endpointID = try #require(UUID(uuidString: id))
            let endpoint = try #require(try await shop.webhooks.endpoints.endpoint(endpointID))
            #expect(endpoint.signingSecrets(at: Date()).map(\.text) == [newSecret, secret], "both sign during the rotation")
            #expect(endpoint.signingSecrets(at: Date() + 86_401).map(\.text) == [newSecret])

            for (body, field) in [
                (["url": "ftp://example.com/hook", "events": ["*"]], "url"),
                (["url": "not a url", "events": ["*"]], "url"),
                (["url": "https://example.com/hook", "events": []], "events"),
                (["url": "https://example.com/hook", "events": ["order.shipped"]], "events[0]"),
                (["url": "https://example.com/hook", "events": ["*", "order.confirmed"]], "events[0]"),
                (["events": ["*"]], "url"),
            ] as [([String: Any], String)] {
                let reply = try await client.send(.post, "/api/admin/webhooks/", json: body, token: staff)
                #expect(reply.status == .badRequest && reply.fields == [field], "\(body): \(reply.text)")
            }
            #expect(try await client.send(.delete, "/api/admin/webhooks/\(id)/", token: staff).status == .noContent)
            #expect(try await client.send(.get, "/api/admin/webhooks/\(id)/", token: staff).status == .notFound)
            #expect(try await client.send(.delete, "/api/admin/webhooks/\(id)/", token: staff).status == .notFound)
        }
    }

    @Test func privateAndPlainHTTPHostsAreRefusedByDefault() async throws {
        try await withShop(.sqlite) { client, shop in
            let staff = try await shop.staffToken(client)
            for url in [
                "http://example.com/hook", "https://127.0.0.1/hook", "https://localhost/hook", "https://169.254.169.254/latest",
                "https://10.1.2.3/hook", "https://192.168.0.1/hook", "https://[::1]/hook", "https://[fd00:ec2::254]/", "https://0.0.0.0/",
            ] {
                let reply = try await client.send(.post, "/api/admin/webhooks/", json: ["url": url, "events": ["*"]], token: staff)
                #expect(reply.status == .badRequest && reply.fields == ["url"], "\(url): \(reply.text)")
            }
            #expect(WebhookURLGuard.isInternal([100, 100, 0, 1]))
            #expect(!WebhookURLGuard.isInternal([93, 184, 216, 34]))
            #expect(!WebhookURLGuard.isInternal([0x26, 0x06, 0x28, 0, 0x02, 0x20, 0, 1, 0x2, 0x48, 0x18, 0x93, 0x25, 0xc8, 0x19, 0x46]))
        }
    }

    @Test func everyAddressButGlobalUnicastIsInternalAndPortsStayInRange() async throws {
        let refused: [[UInt8]] = [
            [127, 0, 0, 1], [10, 0, 0, 1], [100, 64, 0, 1], [169, 254, 169, 254], [192, 0, 0, 9], [192, 0, 2, 1], [198, 51, 100, 7],
            [203, 0, 113, 7], [198, 18, 0, 1], [224, 0, 0, 1], [0, 1, 2, 3],
            Self.v6("::1"), Self.v6("::"), Self.v6("::127.0.0.1"), Self.v6("::8.8.8.8"), Self.v6("::ffff:127.0.0.1"),
            Self.v6("::ffff:0:127.0.0.1"), Self.v6("::ffff:0:8.8.8.8"), Self.v6("64:ff9b::10.0.0.1"), Self.v6("64:ff9b::169.254.169.254"),
            Self.v6("2002:7f00:1::"), Self.v6("2002:a9fe:a9fe::1"), Self.v6("fec0::1"), Self.v6("fe80::1"), Self.v6("fd00:ec2::254"),
            Self.v6("2001:db8::1"), Self.v6("2001::1"), Self.v6("ff02::1"), Self.v6("3fff::1"), Self.v6("4000::1"),
        ]
        for bytes in refused { #expect(WebhookURLGuard.isInternal(bytes), "\(WebhookURLGuard.text(of: bytes) ?? "\(bytes)")") }
        let global: [[UInt8]] = [
            [93, 184, 216, 34], [8, 8, 8, 8], Self.v6("2606:2800:220:1:248:1893:25c8:1946"), Self.v6("64:ff9b::8.8.8.8"),
            Self.v6("2002:808:808::1"), Self.v6("::ffff:8.8.8.8"),
        ]
        for bytes in global { #expect(!WebhookURLGuard.isInternal(bytes), "\(WebhookURLGuard.text(of: bytes) ?? "")") }

        var guardrail = WebhookURLGuard()
        guardrail.resolve = { _ in [[93, 184, 216, 34]] }
        for url in ["https://hooks.example:0/", "https://hooks.example:65536/", "https://hooks.example:99999999999/"] {
            await #expect(throws: WebhookURLGuard.Refusal.self, "\(url)") { try await guardrail.target(for: url) }
        }
        #expect(try await guardrail.target(for: "https://hooks.example:8443/") == .init(host: "hooks.example", address: "93.184.216.34"))
        guardrail.resolve = { _ in [[93, 184, 216, 34], [127, 0, 0, 1]] }
        await #expect(throws: WebhookURLGuard.Refusal.self, "one internal answer among public ones") {
            try await guardrail.target(for: "https://hooks.example/")
        }
    }

    /// The 16 bytes of an IPv6 address.
    static func v6(_ text: String) -> [UInt8] {
        var address = in6_addr()
        guard inet_pton(AF_INET6, text, &address) == 1 else { return [] }
        return withUnsafeBytes(of: address) { Array($0) }
    }

    /// A name that answers the check with one address and any later lookup with a loopback one (DNS rebinding): the
    /// delivery must go to the address that was checked, with the name in `Host`, and never to loopback.
    @Test(arguments: TestStore.all)
    func aDeliveryConnectsToTheAddressItWasCheckedAtNotASecondAnswer(store: TestStore) async throws {
        // 127.0.0.2 stands for the public address the name answers at first (the guard here counts only 127.0.0.1 as
        // internal); the trap listens where the rebinding name points next.
        let receiver = Receiver()
        let trap = Receiver()
        let lookups = Mutex(0)
        try await receiver.listen(on: "127.0.0.2") { url in
            let port = Int(url.split(separator: ":")[2].prefix { $0.isNumber }) ?? 0
            try await trap.listen(on: "127.0.0.1", port: port) { _ in
                try await withShop(
                    store,
                    configure: { config in
                        config.webhookAllowHTTP = true
                        config.webhookResolve = { _ in
                            lookups.withLock {
                                $0 += 1
                                return $0
                            } <= 2 ? [[127, 0, 0, 2]] : [[127, 0, 0, 1]]
                        }
                        config.webhookIsInternal = { $0 == [127, 0, 0, 1] }
                        config.webhookTimeout = .seconds(2)
                    }
                ) { client, shop in
                    let staff = try await shop.staffToken(client)
                    let endpoint = try await register(
                        client, url: "http://localhost:\(port)/hook", events: ["order.confirmed"], staff: staff)
                    let product = try await client.createProduct("Rebound", quantity: 5, staff: staff)
                    let (_, token) = try await client.signUp("rebinder")
                    _ = try await placeOrder(client, product: product, token: token)
                    let delivered = try await eventually(within: .seconds(10)) { await receiver.deliveries.count == 1 }
                    #expect(delivered, "delivered to the checked address")
                    if !delivered {
                        print(try await client.send(.get, "/api/admin/webhooks/\(endpoint.id)/deliveries/", token: staff).text)
                    }
                    #expect(await receiver.deliveries.first?.host == "localhost:\(port)")
                    #expect(signatureIsValid(try #require(await receiver.deliveries.first), secret: endpoint.secret))
                    #expect(await trap.deliveries.isEmpty, "nothing reached the loopback address the name answered later")
                }
            }
        }
        #expect(lookups.withLock { $0 } == 2, "one lookup to register, one for the attempt, none behind the guard's back")
    }

    @Test func aFailedAttemptIsLoggedCoarselyWithoutAddressOrPortState() async throws {
        try await withShop(.sqlite, configure: Self.localWebhooks) { client, shop in
            let staff = try await shop.staffToken(client)
            // Nothing listens on loopback's port 1: the log says the connection failed, not how.
            let endpoint = try await register(client, url: "http://127.0.0.1:1/hook", staff: staff)
            let product = try await client.createProduct("Closed port", quantity: 5, staff: staff)
            let (_, token) = try await client.signUp("porter")
            _ = try await placeOrder(client, product: product, token: token)
            var errors: [String] = []
            #expect(
                try await eventually {
                    errors = try await client.send(.get, "/api/admin/webhooks/\(endpoint.id)/deliveries/", token: staff).list
                        .compactMap { $0["last_error"] as? String }
                    return !errors.isEmpty
                })
            #expect(errors == ["connection failed"])
        }
    }

    // MARK: Delivery

    @Test(arguments: TestStore.all)
    func signedEventsArriveAndAFailedAttemptIsRetriedWithTheSameID(store: TestStore) async throws {
        let receiver = Receiver(answers: [.internalServerError])
        try await receiver.listen { url in
            try await withShop(store, configure: Self.localWebhooks) { client, shop in
                let staff = try await shop.staffToken(client)
                let endpoint = try await register(client, url: url, staff: staff)
                let product = try await client.createProduct("Signed", quantity: 5, staff: staff)
                let (_, token) = try await client.signUp("signee")
                let order = try await placeOrder(client, product: product, token: token)

                #expect(try await eventually { await receiver.deliveries.count >= 2 }, "a 500 is retried")
                let deliveries = await receiver.deliveries
                #expect(deliveries.count == 2)
                #expect(deliveries[0].id == deliveries[1].id, "the retry carries the same webhook-id")
                #expect(deliveries[0].body == deliveries[1].body)
                for delivery in deliveries {
                    #expect(signatureIsValid(delivery, secret: endpoint.secret))
                    #expect(abs((Int(delivery.timestamp) ?? 0) - Int(Date().timeIntervalSince1970)) < 60)
                }
                let event = deliveries[0].json
                #expect(event["id"] as? String == deliveries[0].id)
                #expect(event["type"] as? String == "order.confirmed")
                #expect(event["created_at"] is String)
                #expect((event["data"] as? [String: Any])?["id"] as? String == order)

                let log = try await client.send(.get, "/api/admin/webhooks/\(endpoint.id)/deliveries/", token: staff)
                let entry = try #require(log.list.first)
                #expect(entry["status"] as? String == "delivered" || entry["status"] as? String == "pending")
                #expect(
                    try await eventually {
                        try await client.send(.get, "/api/admin/webhooks/\(endpoint.id)/deliveries/?status=delivered", token: staff).list
                            .count == 1
                    })
                let delivered = try await client.send(.get, "/api/admin/webhooks/\(endpoint.id)/deliveries/?status=delivered", token: staff)
                    .list[0]
                #expect(delivered["attempts"] as? Int == 2)
                #expect(delivered["last_status_code"] as? Int == 200)
                #expect(delivered["event_id"] as? String == deliveries[0].id)
                #expect(delivered["type"] as? String == "order.confirmed")
                #expect(
                    try await client.send(.get, "/api/admin/webhooks/\(endpoint.id)/deliveries/?status=lost", token: staff).fields == [
                        "status"
                    ])
                let metrics = try await client.send(.get, "/metrics").text
                #expect(metrics.contains("opply_webhook_deliveries_total{outcome=\"delivered\"} 1"))
                #expect(metrics.contains("opply_webhook_deliveries_total{outcome=\"retried\"} 1"))
                #expect(metrics.contains("opply_webhook_oldest_pending_seconds"))

                // Only the events an endpoint subscribes to reach it.
                _ = try await client.send(
                    .patch, "/api/admin/webhooks/\(endpoint.id)/", json: ["events": ["order.fulfilled"]], token: staff)
                let second = try await placeOrder(client, product: product, token: token)
                #expect(try await client.send(.post, "/api/admin/orders/\(second)/fulfil/", token: staff).status == .ok)
                #expect(try await eventually { await receiver.uniqueIDs.count == 2 })
                try await Task.sleep(for: .milliseconds(500))
                #expect(await receiver.deliveries.last?.json["type"] as? String == "order.fulfilled")
                #expect(await receiver.uniqueIDs.count == 2, "order.confirmed of the second order was not subscribed")
            }
        }
    }

    @Test(arguments: TestStore.all)
    func goneDisablesTheEndpointAndDeadDeliveriesCanBeRetried(store: TestStore) async throws {
        let receiver = Receiver(answers: [.gone, .badGateway, .badGateway, .badGateway])
        try await receiver.listen { url in
            // Retries 3 s apart: the second retry request below must find the delivery still pending, even on a
            // loaded machine.
            try await withShop(
                store,
                configure: {
                    Self.localWebhooks(&$0)
                    $0.webhookRetrySchedule = [.seconds(3), .seconds(3)]
                }
            ) { client, shop in
                let staff = try await shop.staffToken(client)
                let endpoint = try await register(client, url: url, staff: staff)
                let product = try await client.createProduct("Gone", quantity: 5, staff: staff)
                let (_, token) = try await client.signUp("goner")
                _ = try await placeOrder(client, product: product, token: token)
                #expect(
                    try await eventually {
                        try await client.send(.get, "/api/admin/webhooks/\(endpoint.id)/", token: staff).json["enabled"] as? Bool == false
                    })
                let dead = try #require(
                    try await client.send(.get, "/api/admin/webhooks/\(endpoint.id)/deliveries/?status=dead", token: staff).list.first)
                #expect(dead["last_status_code"] as? Int == 410)
                let deliveryID = try #require(dead["id"] as? String)

                // Re-enabled, the retried delivery fails on 502 three times (1 + the schedule's 2 retries), then is dead again.
                _ = try await client.send(.patch, "/api/admin/webhooks/\(endpoint.id)/", json: ["enabled": true], token: staff)
                let retried = try await client.send(
                    .post, "/api/admin/webhooks/\(endpoint.id)/deliveries/\(deliveryID)/retry/", token: staff)
                #expect(retried.json["status"] as? String == "pending", "\(retried.text)")
                #expect(
                    try await client.send(.post, "/api/admin/webhooks/\(endpoint.id)/deliveries/\(deliveryID)/retry/", token: staff).code
                        == "delivery_not_dead")
                #expect(
                    try await eventually(within: .seconds(60)) {
                        try await client.send(.get, "/api/admin/webhooks/\(endpoint.id)/deliveries/?status=dead", token: staff).list.first?[
                            "attempts"] as? Int == 3
                    })
                #expect(await receiver.deliveries.count == 4)
                #expect(
                    try await client.send(.post, "/api/admin/webhooks/\(endpoint.id)/deliveries/\(UUID())/retry/", token: staff).status
                        == .notFound)
            }
        }
    }

    @Test(arguments: TestStore.all)
    func aReceiverThatNeverAnswersDoesNotDelayAnother(store: TestStore) async throws {
        let stuck = Receiver(delay: .seconds(20))
        let healthy = Receiver()
        try await stuck.listen { stuckURL in
            try await healthy.listen { healthyURL in
                try await withShop(
                    store,
                    configure: { config in
                        Self.localWebhooks(&config)
                        config.webhookTimeout = .seconds(10)
                    }
                ) { client, shop in
                    let staff = try await shop.staffToken(client)
                    let stuckEndpoint = try await register(client, url: stuckURL, staff: staff)
                    _ = try await register(client, url: healthyURL, staff: staff)
                    let product = try await client.createProduct("Busy", quantity: 50, staff: staff)
                    let (_, token) = try await client.signUp("patient")
                    for _ in 0..<12 { _ = try await placeOrder(client, product: product, token: token) }
                    let started = ContinuousClock.now
                    #expect(try await eventually { await healthy.uniqueIDs.count == 12 })
                    // Waiting behind the stuck receiver would take its 10 s timeout; the margin is for a loaded machine.
                    #expect(
                        ContinuousClock.now - started < .seconds(7), "the healthy receiver got all 12 while the other hung (10 s timeout)")
                    #expect(await stuck.mostAtOnce <= 16, "at most 16 sends wait on one receiver")
                    #expect(
                        try await eventually {
                            try await client.send(.get, "/api/admin/webhooks/\(stuckEndpoint.id)/deliveries/?status=pending", token: staff)
                                .list.contains { $0["last_error"] as? String == "timeout" }
                        }, "the stuck receiver's attempts time out and wait for their retry")
                }
            }
        }
    }

    /// An instance (its services not running) with an endpoint for every event at `url` and three one-line orders
    /// by a new customer: three events in the outbox, nothing fanned out or sent yet.
    static func instanceWithThreeOrders(_ config: AppConfig, webhook url: String, customer name: String) async throws -> (
        Shop, Customer, Product
    ) {
        let shop = try await Shop.open(config, logger: .init(label: "test"))
        let customer = try await shop.createUser(
            username: name, email: "\(name)@example.com", password: "correct-horse-9", staff: false)
        _ = try await shop.webhooks.create(.init(url: url, events: ["*"], description: nil), by: customer)
        let product = try await shop.catalog.create(
            .init(name: name.capitalized, description: nil, price: "1.00", quantity: 10, category: nil), staff: customer)
        for _ in 0..<3 {
            _ = try await shop.orders.place([OrderLine(product: product.id, quantity: 1, field: "order_items[0]")], for: customer.id)
        }
        return (shop, customer, product)
    }

    @Test(arguments: TestStore.all)
    func deliveriesPendingWhenAnInstanceStopsAreSentByTheNext(store: TestStore) async throws {
        let receiver = Receiver()
        try await receiver.listen { url in
            let (databaseURL, drop) = try await store.makeDatabaseURL()
            var config = testConfig(databaseURL)
            Self.localWebhooks(&config)
            config.webhookTimeout = .milliseconds(500)  // a lease of 1.5 s
            do {
                // The first instance takes orders and claims one delivery, then stops before sending anything.
                let (first, customer, product) = try await Self.instanceWithThreeOrders(config, webhook: url, customer: "early")
                _ = try await first.webhooks.queue.fanOut(at: Date())
                let endpoint = try #require(try await first.webhooks.endpoints.enabledEndpoints().first)
                let claimed = try await first.webhooks.queue.claim(endpoint.id, limit: 1, at: Date(), leaseUntil: Date() + 1.5)
                #expect(claimed.count == 1)
                _ = try await first.orders.place([OrderLine(product: product.id, quantity: 1, field: "order_items[0]")], for: customer.id)
                await first.close()
                #expect(await receiver.deliveries.isEmpty)

                let second = try await Shop.open(config, logger: .init(label: "test"))
                try await buildApplication(shop: second).test(.router) { _ in
                    #expect(try await eventually { await receiver.uniqueIDs.count == 4 }, "every event, the claimed one after its lease")
                    try await second.expectStockInvariants()
                }
            } catch {
                await drop()
                throw error
            }
            await drop()
        }
    }

    @Test(arguments: TestStore.all)
    func deliveriesClaimedAsTheyAreFannedOutAreLeasedLikeAnyClaim(store: TestStore) async throws {
        let receiver = Receiver()
        try await receiver.listen { url in
            let (databaseURL, drop) = try await store.makeDatabaseURL()
            var config = testConfig(databaseURL)
            Self.localWebhooks(&config)
            do {
                let (first, _, _) = try await Self.instanceWithThreeOrders(config, webhook: url, customer: "fresh")
                let endpoint = try #require(try await first.webhooks.endpoints.enabledEndpoints().first)
                let now = Date()
                // Room for two: the first two new deliveries are taken as they are made, the third waits. A lease of 5 s
                // outlasts the checks below on a loaded machine and is over well within `eventually`.
                let round = DeliveryQueue.Round(fanOut: now, claims: [(endpoint.id, 2)], now: now, leaseUntil: now + 5)
                let (fanned, claimed) = try await first.webhooks.queue.run(round)
                #expect(fanned == 3)
                #expect(claimed[endpoint.id]?.map(\.attempt) == [1, 1])
                let rest = try await first.webhooks.queue.claim(endpoint.id, limit: 10, at: Date(), leaseUntil: Date() + 5)
                #expect(rest.count == 1, "the leased two are not claimed again")
                #expect(Set(rest.map(\.id)).isDisjoint(with: Set(claimed[endpoint.id, default: []].map(\.id))))
                await first.close()

                // Neither claim is sent or recorded: a second instance sends all three, the first two after their lease.
                let second = try await Shop.open(config, logger: .init(label: "test"))
                try await buildApplication(shop: second).test(.router) { _ in
                    #expect(try await eventually { await receiver.uniqueIDs.count == 3 }, "every event once the leases end")
                    try await second.expectStockInvariants()
                }
            } catch {
                await drop()
                throw error
            }
            await drop()
        }
    }

    @Test(arguments: TestStore.all)
    func twoInstancesDeliverEachEventOnce(store: TestStore) async throws {
        let receiver = Receiver()
        try await receiver.listen { url in
            try await withShop(store, configure: Self.localWebhooks) { client, shop in
                let other = try await Shop.open(shop.config, logger: shop.logger)
                try await buildApplication(shop: other).test(.router) { otherClient in
                    let staff = try await shop.staffToken(client)
                    _ = try await register(client, url: url, staff: staff)
                    let product = try await client.createProduct("Shared", quantity: 100, staff: staff)
                    let tokens = try await client.signUp("twin", count: 4)
                    let statuses = try await concurrentStatuses(20) { index in
                        let body: [String: Any] = ["order_items": [["product": product, "quantity": 1]]]
                        let via = index % 2 == 0 ? client as any TestClientProtocol : otherClient
                        return try await via.send(.post, "/api/orders/orders/", json: body, token: tokens[index % 4]).status
                    }
                    #expect(statuses.allSatisfy { $0 == .created })
                    #expect(try await eventually { await receiver.uniqueIDs.count == 20 })
                    try await Task.sleep(for: .seconds(1))
                    #expect(await receiver.deliveries.count == 20, "each event exactly once to a healthy receiver")
                    try await shop.expectStockInvariants()
                }
            }
        }
    }

    @Test(arguments: TestStore.all)
    func theConfiguredWebhookURLIsOneEndpointForEveryEvent(store: TestStore) async throws {
        let receiver = Receiver()
        let secret = "whsec_" + Data(repeating: 7, count: 32).base64EncodedString()
        try await receiver.listen { url in
            try await withShop(
                store,
                configure: { config in
                    config.webhookRetrySchedule = [.seconds(1)]
                    config.webhookURL = url  // on 127.0.0.1, yet delivered: the operator chose it
                    config.webhookSecret = secret
                }
            ) { client, shop in
                // A second instance's worker ensures the same endpoint rather than adding one.
                let again = try await Shop.open(shop.config, logger: shop.logger)
                try await buildApplication(shop: again).test(.router) { _ in try await Task.sleep(for: .milliseconds(500)) }
                let staff = try await shop.staffToken(client)
                #expect(
                    try await eventually {
                        try await client.send(.get, "/api/admin/webhooks/", token: staff).json["count"] as? Int == 1
                    })
                let endpoints = try await client.send(.get, "/api/admin/webhooks/", token: staff)
                #expect(endpoints.json["count"] as? Int == 1)
                #expect(endpoints.list.first?["events"] as? [String] == ["*"])
                let product = try await client.createProduct("Configured", quantity: 5, staff: staff)
                let (_, token) = try await client.signUp("configured")
                _ = try await placeOrder(client, product: product, token: token)
                #expect(try await eventually { await receiver.deliveries.count == 1 })
                let delivery = try #require(await receiver.deliveries.first)
                #expect(signatureIsValid(delivery, secret: secret))
            }
        }
    }
}

/// One claim feeds every free send slot with a chain, the earliest due first in each.
@Test func claimedDeliveriesAreSplitIntoChainsOverTheFreeSlots() {
    let claimed = (0..<20).map { _ in
        DeliveryQueue.Claimed(id: UUID(), eventID: UUID(), type: "order.confirmed", attempt: 1, payload: "{}", eventCreatedAt: Date())
    }
    let chains = DeliveryWorker.chains(claimed, slots: 16)
    #expect(chains.count == 16)
    let sent: Set<UUID> = Set(chains.flatMap { $0 }.map(\.id))
    #expect(sent == Set(claimed.map(\.id)) && chains.map(\.count).reduce(0, +) == 20, "every claimed delivery once")
    let firsts: [UUID] = chains.compactMap { $0.first?.id }
    #expect(firsts == Array(claimed.prefix(16).map(\.id)), "each slot starts with one of the 16 earliest")
    #expect(DeliveryWorker.chains(Array(claimed.prefix(3)), slots: 16).map(\.count) == [1, 1, 1])
    #expect(DeliveryWorker.chains(claimed, slots: 0).isEmpty)
}
