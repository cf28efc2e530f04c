import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import OpplyServer

/// The staff audit trail: one row per staff action, from the API and the back office alike, written with the change.
@Suite struct AuditTests {
    @Test(arguments: TestStore.all)
    func everyStaffActionIsRecordedWithWhoWhatAndWhichRecordAndNoSecret(store: TestStore) async throws {
        try await withShop(
            store,
            configure: {
                $0.webhookAllowHTTP = true
                $0.webhookAllowPrivate = true
            }
        ) { client, shop in
            let staff = try await shop.staffToken(client)
            let product = try await client.createProduct("Oat milk", quantity: 10, category: "plant-milks", staff: staff)
            #expect(try await client.send(.patch, "/api/catalog/products/\(product)/", json: ["price": "3.50"], token: staff).status == .ok)
            let adjust = try await client.send(
                .post, "/api/catalog/products/\(product)/inventory/", json: ["adjustment": 5, "reason": "delivery"], token: staff)
            #expect(adjust.status == .ok)
            #expect(
                try await client.send(.patch, "/api/catalog/categories/plant-milks/", json: ["name": "Plant milks"], token: staff).status
                    == .ok)
            let (olga, olgaToken) = try await client.signUp("olga")
            let first = try await client.order(product, quantity: 1, token: olgaToken)
            let second = try await client.order(product, quantity: 1, token: olgaToken)
            #expect(try await client.send(.post, "/api/admin/orders/\(first)/fulfil/", json: ["note": "boxed"], token: staff).status == .ok)
            #expect(
                try await client.send(.post, "/api/admin/orders/\(second)/cancel/", json: ["reason": "out of cups"], token: staff).status
                    == .ok)
            #expect(try await client.send(.patch, "/api/identity/customers/\(olga)/", json: ["is_staff": true], token: staff).status == .ok)
            #expect(
                try await client.send(.patch, "/api/identity/customers/\(olga)/", json: ["is_staff": false], token: staff).status == .ok)
            let hook = try await client.send(
                .post, "/api/admin/webhooks/", json: ["url": "http://127.0.0.1:9/hook?token=sekrit", "events": ["*"]], token: staff)
            #expect(hook.status == .created)
            let endpoint = hook.json["id"] as? String ?? ""
            let secret = hook.json["secret"] as? String ?? ""
            #expect(
                try await client.send(.patch, "/api/admin/webhooks/\(endpoint)/", json: ["enabled": false], token: staff).status == .ok)
            let rotated = try await client.send(.post, "/api/admin/webhooks/\(endpoint)/rotate-secret/", token: staff)
            #expect(try await client.send(.delete, "/api/admin/webhooks/\(endpoint)/", token: staff).status == .noContent)
            #expect(try await client.send(.delete, "/api/catalog/products/\(product)/", token: staff).status == .noContent)
            #expect(try await client.send(.delete, "/api/identity/customers/\(olga)/", token: staff).status == .noContent)
            let browser = try await client.signIn("staff")
            #expect(try await browser.post("/admin/logout/", "csrf=\(browser.csrf)").status == .seeOther)

            let trail = try await client.send(.get, "/api/admin/audit/?limit=100", token: staff)
            #expect(trail.status == .ok)
            let actions = trail.json["results"] as? [[String: Any]] ?? []
            let kinds = actions.compactMap { $0["kind"] as? String }
            #expect(
                kinds == [
                    "staff.signed_out", "staff.signed_in", "customer.closed", "product.archived", "webhook.deleted",
                    "webhook.secret_rotated", "webhook.changed", "webhook.created", "customer.staff_revoked", "customer.staff_granted",
                    "order.cancelled", "order.fulfilled", "category.renamed", "product.stock_adjusted", "product.edited",
                    "product.created",
                ], "newest first, one per action: \(kinds)")
            #expect(actions.allSatisfy { $0["staff_username"] as? String == "staff" })
            let byKind = Dictionary(actions.map { ($0["kind"] as? String ?? "", $0) }, uniquingKeysWith: { first, _ in first })
            #expect(byKind["product.edited"]?["record"] as? String == product)
            #expect(byKind["product.edited"]?["summary"] as? String == "price 9.99 → 3.50")
            #expect(byKind["product.stock_adjusted"]?["summary"] as? String == "+5 (delivery), 15 available")
            #expect(byKind["order.cancelled"]?["summary"] as? String == "out of cups")
            #expect(byKind["category.renamed"]?["record"] as? String == "plant-milks")
            #expect(byKind["customer.closed"]?["record_type"] as? String == "customer")
            let text = trail.text
            for hidden in [secret, rotated.json["secret"] as? String ?? "", "sekrit", "correct-horse-9", "whsec_"] where !hidden.isEmpty {
                #expect(!text.contains(hidden), "the trail shows \(hidden)")
            }

            let orders = try await client.send(.get, "/api/admin/audit/?kind=order.fulfilled", token: staff)
            #expect((orders.json["results"] as? [[String: Any]])?.map { $0["record"] as? String } == [first])
            let history = try await client.send(.get, "/api/admin/audit/?record=\(product)", token: staff)
            #expect(history.json["count"] as? Int == 4)
            #expect(try await client.send(.get, "/api/admin/audit/?staff=nobody", token: staff).json["count"] as? Int == 0)
            #expect(try await client.send(.get, "/api/admin/audit/?staff=staff&limit=2", token: staff).json["count"] as? Int == 16)
            #expect(try await client.send(.get, "/api/admin/audit/?kind=product.eaten", token: staff).status == .badRequest)
            let (_, customer) = try await client.signUp("pia")
            #expect(try await client.send(.get, "/api/admin/audit/", token: customer).status == .forbidden)
            #expect(try await client.send(.get, "/api/admin/audit/").status == .unauthorized)
        }
    }

    @Test(arguments: TestStore.all)
    func aRefusedChangeLeavesNoTraceAndTheTrailPageFilters(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let product = try await client.createProduct("Cold brew", quantity: 2, staff: staff)
            let (_, customer) = try await client.signUp("olga")
            let order = try await client.order(product, quantity: 1, token: customer)
            let refused = try await client.send(
                .post, "/api/catalog/products/\(product)/inventory/", json: ["adjustment": -5, "reason": "breakage"], token: staff)
            #expect(refused.status == .conflict)
            #expect(try await client.send(.post, "/api/admin/orders/\(order)/fulfil/", token: staff).status == .ok)
            #expect(try await client.send(.post, "/api/admin/orders/\(order)/fulfil/", token: staff).status == .conflict)
            let staffID = try await client.send(.get, "/api/identity/me/", token: staff).json["id"] as? String ?? ""
            let ownRights = try await client.send(.patch, "/api/identity/customers/\(staffID)/", json: ["is_staff": false], token: staff)
            #expect(ownRights.status == .badRequest, "staff cannot take their own rights away")
            let kinds = (try await client.send(.get, "/api/admin/audit/", token: staff).json["results"] as? [[String: Any]] ?? [])
                .compactMap { $0["kind"] as? String }
            #expect(kinds == ["order.fulfilled", "product.created"], "only the changes that happened: \(kinds)")

            let browser = try await client.signIn("staff")
            let page = try await browser.get("/admin/audit/")
            #expect(page.status == .ok)
            #expect(page.text.contains("<th scope=\"row\">order fulfilled</th>"))
            #expect(page.text.contains("<td>staff</td>"))
            #expect(page.text.contains("href=\"/admin/orders/\(order)/\""))
            let filtered = try await browser.get("/admin/audit/?kind=product.created&staff=staff&record=\(product)")
            #expect(
                filtered.text.contains("<th scope=\"row\">product created</th>")
                    && !filtered.text.contains("<th scope=\"row\">order fulfilled</th>"))
            #expect(try await browser.get("/admin/audit/?staff=nobody").text.contains("No staff actions match."))
            #expect(try await browser.get("/admin/audit/?kind=nonsense").status == .badRequest)
            #expect(try await browser.get("/admin/orders/\(order)/").text.contains("/admin/audit/?record=\(order)"))
            try await shop.expectStockInvariants()
        }
    }
}
