import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import OpplyServer

@Suite struct MetricsTests {
    @Test(arguments: TestStore.all)
    func metricsCountRequestsOrdersConflictsAndCacheUse(store: TestStore) async throws {
        try await withShop(store, configure: { $0.catalogCacheTTL = .seconds(60) }) { client, shop in
            let staff = try await shop.staffToken(client)
            let product = try await client.createProduct("Measured Mocha", quantity: 2, staff: staff)
            let (_, token) = try await client.signUp("counted")
            #expect(
                try await client.send(
                    .post, "/api/orders/orders/", json: ["order_items": [["product": product, "quantity": 1]]], token: token
                ).status == .created)
            #expect(
                try await client.send(
                    .post, "/api/orders/orders/", json: ["order_items": [["product": product, "quantity": 5]]], token: token
                ).status == .conflict)
            _ = try await client.send(.post, "/api/cart/items/", json: ["product": product, "quantity": 1], token: token)
            #expect(try await client.send(.post, "/api/cart/checkout/", token: token).status == .created)
            _ = try await client.send(.get, "/api/catalog/products/\(product)/")
            _ = try await client.send(.get, "/api/catalog/products/\(product)/")
            _ = try await client.send(.get, "/no/such/path")

            let reply = try await client.send(.get, "/metrics")
            #expect(reply.status == .ok)
            #expect(reply.headers[.contentType]?.hasPrefix("text/plain") == true)
            let text = reply.text
            #expect(text.contains("opply_orders_placed_total 2"))
            #expect(text.contains("opply_stock_conflicts_total 1"))
            #expect(text.contains("opply_catalog_cache_hits_total 1"))
            #expect(text.contains(#"opply_http_requests_total{route="/api/orders/orders",method="POST",status="201"} 1"#), "\(text)")
            #expect(text.contains(#"opply_http_requests_total{route="/api/catalog/products/{id}",method="GET",status="200"} 2"#))
            #expect(
                text.contains(#"opply_http_requests_total{route="NotFound",method="GET",status="404"} 1"#), "unknown paths share one label")
            #expect(text.contains("opply_http_request_duration_seconds_bucket{"))
            #expect(text.contains(#"opply_database_connections_in_use{role="primary"}"#))
        }
    }
}
