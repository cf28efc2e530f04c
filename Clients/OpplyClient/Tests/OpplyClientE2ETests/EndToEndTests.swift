import Foundation
import OpenAPIRuntime
import OpenAPIURLSession
import OpplyClient
import Testing

/// The server these tests drive, e.g. `http://127.0.0.1:8080` (`.ci/run` starts one and sets it).
private let baseURL = ProcessInfo.processInfo.environment["OPPLY_BASE_URL"].flatMap { URL(string: $0) }

/// A customer's whole journey through the generated client, against a real server with the demo
/// catalog (`APP_ENV=development` on an empty database).
@Suite(
    .enabled(
        if: baseURL != nil,
        "OPPLY_BASE_URL is not set: start a server (swift run opply serve) and set OPPLY_BASE_URL=http://127.0.0.1:8080"
    )
)
struct EndToEndTests {
    let serverURL = baseURL ?? URL(string: "http://127.0.0.1:8080")!

    @Test func customerJourney() async throws {
        let anonymous = Client(serverURL: serverURL, transport: URLSessionTransport())

        // Register and log in.
        let username = "e2e-\(UUID().uuidString.prefix(12).lowercased())"
        let password = "oat-latte-\(Int.random(in: 1000...9999))"
        let registered = try await anonymous.register(
            body: .json(.init(username: username, email: "\(username)@example.com", password: password, password2: password))
        )
        #expect(try registered.created.body.json.username == username)
        let tokens = try await anonymous.obtainToken(body: .json(.init(username: username, password: password))).ok.body.json
        let access = tokens.access
        let client = Client(
            serverURL: serverURL,
            transport: URLSessionTransport(),
            middlewares: [BearerTokenMiddleware { access }]
        )
        #expect(try await client.getMe().ok.body.json.username == username)

        // Offset mode: {count, next, previous, results}.
        let offsetPage = try await anonymous.listProducts(query: .init(limit: 5, offset: 0)).ok.body.json
        guard case let .PaginatedProductList(page) = offsetPage else {
            Issue.record("offset mode answered \(offsetPage)")
            return
        }
        #expect(page.results.count == 5)
        #expect(page.count >= 5)
        #expect(page.next != nil)

        // Cursor mode: an empty cursor is the first page; then follow `next`.
        let first = try await cursorPage(anonymous, cursor: "")
        #expect(first.results.count == 5)
        #expect(first.previous == nil)
        let nextCursor = try #require(first.next.flatMap(Self.cursor(in:)), "no cursor in next: \(String(describing: first.next))")
        let second = try await cursorPage(anonymous, cursor: nextCursor)
        #expect(!second.results.isEmpty)
        #expect(Set(first.results.map(\.id)).isDisjoint(with: second.results.map(\.id)))

        // Cart, then checkout under an Idempotency-Key; the retry replays the same order.
        let product = try #require((first.results + second.results).first { $0.quantity >= 2 }, "no product with stock 2")
        let cart = try await client.addCartItem(body: .json(.init(product: product.id, quantity: 2))).ok.body.json
        #expect(cart.items.map(\.product) == [product.id])
        let key = "e2e-checkout-\(UUID().uuidString)"
        let placed = try await client.checkout(headers: .init(idempotencyKey: key)).created
        let order = try placed.body.json
        #expect(order.orderItems.map(\.quantity) == [2])
        #expect(placed.headers.idempotentReplayed == nil)
        let replayed = try await client.checkout(headers: .init(idempotencyKey: key)).created
        #expect(try replayed.body.json.id == order.id)
        #expect(replayed.headers.idempotentReplayed == ._true)

        // Order history.
        let history = try await client.listOrders().ok.body.json
        #expect(history.results.map(\.id) == [order.id])

        // More than there is: 409 insufficient_stock, a typed problem+json body.
        let available = try await anonymous.getProduct(path: .init(id: product.id)).ok.body.json.quantity
        let short = try await client.placeOrder(
            body: .json(.init(orderItems: [.init(product: product.id, quantity: available + 1)]))
        )
        guard case let .conflict(conflict) = short else {
            Issue.record("expected 409, got \(short)")
            return
        }
        let problem = try conflict.body.applicationProblemJson
        #expect(problem.status == 409)
        #expect(problem.code == "insufficient_stock")
        #expect(problem.errors?.map(\.field) == ["order_items[0].quantity"])
    }

    private func cursorPage(_ client: Client, cursor: String) async throws -> Components.Schemas.CursorProductList {
        let body = try await client.listProducts(query: .init(limit: 5, cursor: cursor)).ok.body.json
        guard case let .CursorProductList(page) = body else {
            throw CursorModeError(answer: "\(body)")
        }
        return page
    }

    /// The `cursor` query parameter of a `next` or `previous` link.
    private static func cursor(in link: String) -> String? {
        URLComponents(string: link)?.queryItems?.first { $0.name == "cursor" }?.value
    }
}

private struct CursorModeError: Error {
    let answer: String
}
