import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SQLKit
import Testing

@testable import OpplyServer

/// The back office through HTTP as a browser drives it: cookies, forms with their CSRF token, redirects.
@Suite struct BackOfficeTests {
    @Test(arguments: TestStore.all)
    func everyPageRendersForStaffWithNamesShownAsText(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let product = try await client.createProduct("<script>alert(1)</script>", quantity: 5, category: "coffee", staff: staff)
            let (_, customer) = try await client.signUp("olga")
            let order = try await client.order(product, quantity: 2, token: customer)
            let browser = try await client.signIn("staff")

            let pages = [
                "/admin/", "/admin/orders/", "/admin/orders/?status=confirmed", "/admin/orders/?customer=olga",
                "/admin/orders/?product=\(product)", "/admin/orders/?from=2020-01-01&to=2099-12-31", "/admin/orders/\(order)/",
                "/admin/products/", "/admin/products/?search=script&category=coffee&in_stock=true&min_price=1&max_price=100",
                "/admin/products/new/", "/admin/products/\(product)/", "/admin/categories/",
            ]
            for path in pages {
                let page = try await browser.get(path)
                #expect(page.status == .ok, "\(path): \(page.status)")
                #expect(page.headers[.contentSecurityPolicy]?.contains("default-src 'self'") == true, "\(path)")
                #expect(page.headers[.cacheControl] == "no-store", "\(path)")
                #expect(page.headers[.xContentTypeOptions] == "nosniff", "\(path)")
                #expect(page.headers[.init("Referrer-Policy")!] == "same-origin", "\(path)")
                #expect(!page.text.contains("<script>alert(1)"), "\(path) shows the name unescaped")
                #expect(page.text.components(separatedBy: "<h1>").count == 2, "\(path) has one <h1>")
            }
            for path in ["/admin/products/", "/admin/products/\(product)/", "/admin/orders/\(order)/"] {
                #expect(try await browser.get(path).text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "\(path)")
            }
            #expect(try await browser.get("/admin/orders/?customer=olga").text.contains("/admin/orders/\(order)/"))
            #expect(try await browser.get("/admin/orders/?status=fulfilled").text.contains("No orders match."))
            #expect(try await browser.get("/admin/orders/?customer=nobody").text.contains("No orders match."))
            #expect(try await browser.get("/admin/orders/?from=2026-02-30").status == .badRequest)
            #expect(try await browser.get("/admin/orders/\(UUID())/").status == .notFound)
            #expect(try await browser.get("/admin/no-such-page/").status == .notFound)
            #expect(try await browser.get("/admin/products/not-an-id/").status == .notFound)

            let landing = try await client.send(.get, "/")
            #expect(landing.status == .ok)
            for link in ["/admin/", "/openapi.yaml", "/health/live"] { #expect(landing.text.contains("href=\"\(link)\"")) }
            let stylesheet = try #require(landing.text.firstMatch(of: /href="(\/admin\/static\/app\.[0-9a-f]+\.css)"/)?.1)
            let css = try await client.send(.get, String(stylesheet))
            #expect(css.status == .ok)
            #expect(css.headers[.cacheControl]?.contains("immutable") == true)
            #expect(try await client.send(.get, "/admin/static/app.0000.css").status == .notFound)
        }
    }

    @Test(arguments: TestStore.all)
    func formsWithoutTheirCSRFTokenOrFromAnotherSiteAreRefused(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let product = try await client.createProduct("Oat milk", quantity: 5, staff: staff)
            let browser = try await client.signIn("staff")
            let path = "/admin/products/\(product)/stock/"
            let form = "adjustment=7&reason=delivery"

            #expect(try await browser.post(path, form).status == .forbidden)
            #expect(try await browser.post(path, form + "&csrf=" + String(repeating: "0", count: 64)).status == .forbidden)
            #expect(
                try await browser.post(path, form + "&csrf=\(browser.csrf)", headers: [.init("Sec-Fetch-Site")!: "cross-site"]).status
                    == .forbidden)
            #expect(
                try await browser.post(path, form + "&csrf=\(browser.csrf)", headers: [.origin: "https://evil.example"]).status
                    == .forbidden)
            #expect(try await client.quantity(of: product) == 5)

            let sent = try await browser.post(path, form + "&csrf=\(browser.csrf)", headers: [.init("Sec-Fetch-Site")!: "same-origin"])
            #expect(sent.status == .seeOther)
            #expect(sent.headers[.location] == "/admin/products/\(product)/")
            #expect(try await client.quantity(of: product) == 12)
            let page = try await browser.get("/admin/products/\(product)/")
            #expect(page.text.contains("changed by +7"))
            #expect(page.text.contains("<td>delivery</td>"))
            #expect(page.text.contains("<dd id=\"stock-on-hand\">12</dd>"))
            #expect(!(try await browser.get("/admin/products/\(product)/").text.contains("changed by +7")), "a notice shows once")
            try await shop.expectStockInvariants()
        }
    }

    @Test(arguments: TestStore.all)
    func onlyStaffSignInAndEveryPageAsksForASession(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let (_, token) = try await client.signUp("olga")
            let customer = try await client.formPost("/admin/login/", "username=olga&password=correct-horse-9&next=/admin/")
            #expect(customer.status == .ok)
            #expect(customer.headers[.setCookie] == nil)
            #expect(customer.text.contains("do not match a staff account"))
            let wrong = try await client.formPost("/admin/login/", "username=olga&password=wrong-horse-9")
            #expect(wrong.text.contains("do not match a staff account"))

            for path in ["/admin/", "/admin/orders/", "/admin/products/new/", "/admin/categories/"] {
                let anonymous = try await client.send(.get, path)
                #expect(anonymous.status == .seeOther, "\(path)")
                #expect(anonymous.headers[.location]?.hasPrefix("/admin/login/") == true, "\(path)")
                #expect(try await client.send(.get, path, token: token).status == .seeOther, "a bearer token is not a session: \(path)")
            }
            #expect(try await client.formPost("/admin/categories/", "slug=tea&name=Tea").status == .seeOther)
            #expect(try await client.send(.get, "/api/catalog/categories/").text == "[]")

            _ = try await shop.createUser(username: "staff", email: "staff@example.com", password: "correct-horse-9", staff: true)
            let browser = try await client.signIn("staff", next: "/admin/orders/")
            #expect(browser.landedOn == "/admin/orders/")
            #expect(browser.cookie.hasPrefix("__Host-opply_admin="))
            let signedIn = try await client.formPost("/admin/login/", "username=staff&password=correct-horse-9&next=//evil.example/")
            #expect(signedIn.headers[.location] == "/admin/")
            #expect(signedIn.headers[.setCookie]?.contains("HttpOnly; SameSite=Strict; Secure") == true)
        }
    }

    @Test(arguments: TestStore.all)
    func sessionsEndWhenIdleWhenOldAndOnSignOut(store: TestStore) async throws {
        let clock = TestClock()
        try await withShop(store, clock: clock) { client, shop in
            _ = try await shop.staffToken(client)
            let idle = try await client.signIn("staff")
            clock.advance(by: 29 * 60)
            #expect(try await idle.get("/admin/").status == .ok)
            clock.advance(by: 31 * 60)
            let expired = try await idle.get("/admin/")
            #expect(expired.status == .seeOther)
            #expect(expired.headers[.location] == "/admin/login/?next=%2Fadmin%2F")

            let busy = try await client.signIn("staff")
            for _ in 0..<28 {
                clock.advance(by: 25 * 60)
                #expect(try await busy.get("/admin/").status == .ok)
            }
            clock.advance(by: 25 * 60)  // 12 h 5 min after signing in, 25 min after the last page
            #expect(try await busy.get("/admin/").status == .seeOther)

            let leaving = try await client.signIn("staff")
            let out = try await leaving.post("/admin/logout/", "csrf=\(leaving.csrf)")
            #expect(out.status == .seeOther)
            #expect(out.headers[.setCookie]?.contains("Max-Age=0") == true)
            #expect(try await leaving.get("/admin/").status == .seeOther, "the session is gone server-side")
            try await shop.identity.deleteEndedSessions()
        }
    }

    @Test(arguments: TestStore.all)
    func revokingStaffRightsOrClosingTheAccountEndsItsSessions(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let boss = try await shop.staffToken(client, username: "boss")
            let clerk = try await shop.createUser(username: "clerk", email: "clerk@example.com", password: "correct-horse-9", staff: true)
            let temp = try await shop.createUser(username: "temp", email: "temp@example.com", password: "correct-horse-9", staff: true)
            let clerkBrowser = try await client.signIn("clerk")
            let tempBrowser = try await client.signIn("temp")
            #expect(try await clerkBrowser.get("/admin/").status == .ok)

            let revoked = try await client.send(
                .patch, "/api/identity/customers/\(clerk.id.uuidString.lowercased())/", json: ["is_staff": false], token: boss)
            #expect(revoked.status == .ok, "\(revoked.text)")
            #expect(try await clerkBrowser.get("/admin/").status == .seeOther)
            #expect(try await client.formPost("/admin/login/", "username=clerk&password=correct-horse-9").headers[.setCookie] == nil)

            #expect(try await tempBrowser.get("/admin/").status == .ok)
            let closed = try await client.send(.delete, "/api/identity/customers/\(temp.id.uuidString.lowercased())/", token: boss)
            #expect(closed.status == .noContent)
            #expect(try await tempBrowser.get("/admin/").status == .seeOther)
        }
    }

    @Test(arguments: TestStore.all)
    func theOrderDeskFulfilsCancelsAndFulfilsTickedOrdersSayingWhichWereNot(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let product = try await client.createProduct("Kombucha", quantity: 20, staff: staff)
            let (_, customer) = try await client.signUp("olga")
            let orders = [
                try await client.order(product, quantity: 1, token: customer),
                try await client.order(product, quantity: 2, token: customer),
                try await client.order(product, quantity: 3, token: customer),
                try await client.order(product, quantity: 4, token: customer),
            ]
            let browser = try await client.signIn("staff")

            let fulfilled = try await browser.post("/admin/orders/\(orders[0])/fulfil/", "csrf=\(browser.csrf)&note=Left+at+the+door")
            #expect(fulfilled.headers[.location] == "/admin/orders/\(orders[0])/")
            let fulfilledPage = try await browser.get("/admin/orders/\(orders[0])/").text
            #expect(fulfilledPage.contains("Left at the door"))
            #expect(fulfilledPage.contains(">fulfilled</span>"))
            #expect(
                try await client.send(.get, "/api/orders/orders/\(orders[0])/", token: customer).json["status"] as? String == "fulfilled")

            let noReason = try await browser.post(
                "/admin/orders/\(orders[1])/cancel/", "csrf=\(browser.csrf)&reason=+&back=/admin/orders/\(orders[1])/")
            #expect(noReason.headers[.location] == "/admin/orders/\(orders[1])/")
            #expect(try await browser.get("/admin/orders/\(orders[1])/").text.contains("Say why the order is cancelled"))
            #expect(try await client.quantity(of: product) == 10)
            _ = try await browser.post("/admin/orders/\(orders[1])/cancel/", "csrf=\(browser.csrf)&reason=Out+of+delivery+area")
            #expect(try await browser.get("/admin/orders/\(orders[1])/").text.contains("Out of delivery area"))
            #expect(try await client.quantity(of: product) == 12)

            let ticked = orders.map { "&order=\($0)" }.joined()
            let bulk = try await browser.post("/admin/orders/fulfil/", "csrf=\(browser.csrf)\(ticked)&back=/admin/orders/?status=confirmed")
            #expect(bulk.headers[.location] == "/admin/orders/?status=confirmed")
            let notice = try await browser.get("/admin/orders/?status=confirmed").text
            #expect(notice.contains("Fulfilled 2 of 4 orders."))
            #expect(notice.contains("Order \(orders[0].prefix(8)) was not: This order is fulfilled"))
            #expect(notice.contains("Order \(orders[1].prefix(8)) was not: This order is cancelled"))
            for id in orders[2...] {
                #expect(try await client.send(.get, "/api/orders/orders/\(id)/", token: customer).json["status"] as? String == "fulfilled")
            }
            #expect(try await browser.get("/admin/").text.contains("<span class=\"value\">0</span> <span class=\"label\">Orders awaiting"))
            try await shop.expectStockInvariants()
        }
    }

    @Test(arguments: TestStore.all)
    func productsAreCreatedEditedStockedAndArchivedThroughTheirPages(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            _ = try await shop.staffToken(client)
            let browser = try await client.signIn("staff")
            #expect(
                try await browser.post("/admin/categories/", "csrf=\(browser.csrf)&slug=plant-milks&name=Plant+milks").status == .seeOther)
            let bad = try await browser.post("/admin/categories/", "csrf=\(browser.csrf)&slug=Bad+Slug&name=x&back=/admin/categories/")
            #expect(bad.headers[.location] == "/admin/categories/")
            #expect(try await browser.get("/admin/categories/").text.contains("A slug of 1 to 64 characters"))
            _ = try await browser.post("/admin/categories/plant-milks/", "csrf=\(browser.csrf)&name=Milks+from+plants")
            #expect(try await browser.get("/admin/categories/").text.contains("value=\"Milks from plants\""))

            let created = try await browser.post(
                "/admin/products/", "csrf=\(browser.csrf)&name=Oat+Barista&description=Foams&price=2.49&category=plant-milks&quantity=5")
            let location = try #require(created.headers[.location])
            let id = try #require(location.firstMatch(of: /\/admin\/products\/([0-9a-f-]{36})\//)?.1)
            let product = String(id)
            #expect(try await client.quantity(of: product) == 5)

            _ = try await browser.post(
                "/admin/products/\(product)/", "csrf=\(browser.csrf)&name=Oat+Barista+1+l&description=Foams&price=2.79&category=")
            let edited = try await client.send(.get, "/api/catalog/products/\(product)/")
            #expect(edited.json["name"] as? String == "Oat Barista 1 l")
            #expect(edited.json["price"] as? String == "2.79")
            #expect(edited.json["category"] is NSNull)

            let (_, customer) = try await client.signUp("olga")
            let held = try await client.send(.post, "/api/cart/items/", json: ["product": product, "quantity": 3], token: customer)
            #expect(held.status == .ok, "\(held.text)")
            let below = try await browser.post(
                "/admin/products/\(product)/stock/", "csrf=\(browser.csrf)&adjustment=-4&reason=count&back=/admin/products/\(product)/")
            #expect(below.headers[.location] == "/admin/products/\(product)/")
            let refusal = try await browser.get("/admin/products/\(product)/").text
            #expect(refusal.contains("at most 2 units can be removed now"))
            #expect(refusal.contains("<dd id=\"stock-reserved\">3</dd>"))
            _ = try await browser.post("/admin/products/\(product)/stock/", "csrf=\(browser.csrf)&adjustment=-2&reason=broken+cartons")
            let history = try await browser.get("/admin/products/\(product)/").text
            #expect(history.contains("<td class=\"num\">-2</td><td>broken cartons</td><td class=\"num\">3</td>"))
            #expect(history.contains("<td class=\"num\">+5</td><td>initial stock</td><td class=\"num\">5</td>"))

            let archived = try await browser.post("/admin/products/\(product)/archive/", "csrf=\(browser.csrf)")
            #expect(archived.headers[.location] == "/admin/products/")
            #expect(try await client.send(.get, "/api/catalog/products/\(product)/").status == .notFound)
            #expect(try await browser.get("/admin/products/\(product)/").status == .notFound)
            try await shop.expectStockInvariants()
        }
    }

    @Test(arguments: TestStore.all)
    func listsPageByKeysetBothWaysWithoutRepeats(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            _ = try await shop.staffToken(client)
            try await shop.seedCatalog(products: 130)
            try await shop.seedOrders(120, customers: 5, batchSize: 50)
            try await shop.expectStockInvariants()
            let browser = try await client.signIn("staff")

            for (start, noun) in [("/admin/orders/", "orders"), ("/admin/products/", "products")] {
                var seen: [String] = []
                var pages: [String] = [start]
                var next: String? = start
                while let path = next {
                    let page = try await browser.get(path)
                    #expect(page.status == .ok, "\(path)")
                    seen += page.text.matches(of: /<th scope="row"><a href="\/admin\/(?:orders|products)\/([0-9a-f-]{36})\/"/).map {
                        String($0.1)
                    }
                    next = page.text.firstMatch(of: /<a href="([^"]+)" rel="next">/).map {
                        String($0.1).replacingOccurrences(of: "&amp;", with: "&")
                    }
                    if let next { pages.append(next) }
                }
                #expect(seen.count == (noun == "orders" ? 120 : 130), "\(noun)")
                #expect(Set(seen).count == seen.count, "\(noun) repeat across pages")
                let second = try await browser.get(pages[1]).text
                let back = try #require(second.firstMatch(of: /<a href="([^"]+)" rel="prev">/)).1.replacingOccurrences(
                    of: "&amp;", with: "&")
                let first = try await browser.get(back).text
                #expect(
                    first.matches(of: /<th scope="row"><a href="\/admin\/(?:orders|products)\/([0-9a-f-]{36})\/"/).map { String($0.1) }
                        == Array(seen.prefix(50)), "\(noun): back from page 2 is page 1")
            }
            let confirmed = try await browser.get("/admin/orders/?status=confirmed").text
            #expect(!confirmed.contains(">fulfilled</span>") && !confirmed.contains(">cancelled</span>"))
        }
    }

    @Test(arguments: TestStore.all)
    func customersAreFoundGivenOrRefusedStaffRightsAndClosed(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let product = try await client.createProduct("Oat milk", quantity: 10, staff: staff)
            let (olga, olgaToken) = try await client.signUp("olga")
            _ = try await client.signUp("pia")
            let order = try await client.order(product, quantity: 2, token: olgaToken)
            let added = try await client.send(.post, "/api/cart/items/", json: ["product": product, "quantity": 3], token: olgaToken)
            #expect(added.status.code < 300, "\(added.text)")
            let browser = try await client.signIn("staff")

            let all = try await browser.get("/admin/customers/")
            #expect(all.status == .ok)
            for name in ["olga", "pia", "staff"] { #expect(all.text.contains(">\(name)</a>"), "\(name) listed") }
            let found = try await browser.get("/admin/customers/?search=OL")
            #expect(found.text.contains(">olga</a>") && !found.text.contains(">pia</a>"), "a username prefix, any case")
            #expect(try await browser.get("/admin/customers/?search=pia%40").text.contains(">pia</a>"), "an e-mail prefix")
            #expect(try await browser.get("/admin/customers/?search=%25").text.contains("No customers match."), "% is a character")

            let detail = try await browser.get("/admin/customers/\(olga)/")
            #expect(detail.status == .ok)
            #expect(detail.text.contains("/admin/orders/\(order)/"), "their orders")
            #expect(detail.text.contains("/admin/products/\(product)/") && detail.text.contains("<td class=\"num\">3</td>"), "their cart")

            let granted = try await browser.post("/admin/customers/\(olga)/staff/", "csrf=\(browser.csrf)&staff=yes")
            #expect(granted.status == .seeOther)
            #expect(try await browser.get("/admin/customers/\(olga)/").text.contains("<dd id=\"customer-role\">staff</dd>"))
            _ = try await browser.post("/admin/customers/\(olga)/staff/", "csrf=\(browser.csrf)&staff=no")
            #expect(try await browser.get("/admin/customers/\(olga)/").text.contains("<dd id=\"customer-role\">customer</dd>"))

            let me = try await client.send(.get, "/api/identity/me/", token: staff).json["id"] as? String ?? ""
            let myPage = try await browser.get("/admin/customers/\(me)/")
            #expect(!myPage.text.contains("/close/") && myPage.text.contains("This is your own account"))
            let back = "&back=/admin/customers/\(me)/"
            #expect(try await browser.post("/admin/customers/\(me)/close/", "csrf=\(browser.csrf)\(back)").status == .seeOther)
            #expect(try await browser.post("/admin/customers/\(me)/staff/", "csrf=\(browser.csrf)&staff=no\(back)").status == .seeOther)
            #expect(try await browser.get("/admin/customers/\(me)/").text.contains("<dd id=\"customer-role\">staff</dd>"), "still staff")

            let closed = try await browser.post("/admin/customers/\(olga)/close/", "csrf=\(browser.csrf)")
            #expect(closed.status == .seeOther)
            #expect(
                try await client.send(.post, "/api/identity/token/", json: ["username": "olga", "password": "correct-horse-9"]).status
                    == .unauthorized)
            #expect(try await browser.get("/admin/customers/\(olga)/").status == .notFound)
            #expect(try await client.quantity(of: product) == 8, "the cart's 3 units are back; the order's 2 stay sold")
            #expect(try await browser.get("/admin/customers/\(UUID())/").status == .notFound)
            try await shop.expectStockInvariants()
        }
    }

    @Test(arguments: TestStore.all)
    func webhookEndpointsAreManagedWithTheSecretShownOnce(store: TestStore) async throws {
        try await withShop(
            store,
            configure: {
                $0.webhookAllowHTTP = true
                $0.webhookAllowPrivate = true
                $0.webhookRetrySchedule = []  // the worker's one attempt at the discard port fails: the delivery is dead
            }
        ) { client, shop in
            let staff = try await shop.staffToken(client)
            let product = try await client.createProduct("Oat milk", quantity: 10, staff: staff)
            let (_, customer) = try await client.signUp("olga")
            let browser = try await client.signIn("staff")

            let refused = try await browser.post(
                "/admin/webhooks/", "csrf=\(browser.csrf)&url=ftp%3A%2F%2Fx&events=*&back=/admin/webhooks/")
            #expect(refused.status == .seeOther)
            #expect(try await browser.get("/admin/webhooks/").text.contains("No endpoints yet."))

            let created = try await browser.post(
                "/admin/webhooks/", "csrf=\(browser.csrf)&url=http%3A%2F%2F127.0.0.1%3A9%2Fhook&events=order.fulfilled&description=Till")
            #expect(created.status == .created)
            let secret = try #require(created.text.firstMatch(of: /<code id="webhook-secret">(whsec_[^<]+)<\/code>/)?.1)
            let id = try #require(created.text.firstMatch(of: /action="\/admin\/webhooks\/([0-9a-f-]{36})\/"/)?.1)
            let page = try await browser.get("/admin/webhooks/\(id)/")
            #expect(page.status == .ok && !page.text.contains(String(secret)), "the secret is shown once")
            #expect(try await browser.get("/admin/webhooks/").text.contains("http://127.0.0.1:9/hook"))

            _ = try await browser.post("/admin/webhooks/\(id)/", "csrf=\(browser.csrf)&url=http%3A%2F%2F127.0.0.1%3A9%2Fnew&events=*")
            let api = try await client.send(.get, "/api/admin/webhooks/\(id)/", token: staff)
            #expect(api.json["url"] as? String == "http://127.0.0.1:9/new" && api.json["events"] as? [String] == ["*"])
            _ = try await browser.post("/admin/webhooks/\(id)/enabled/", "csrf=\(browser.csrf)&enabled=no")
            #expect(
                try await browser.get("/admin/webhooks/\(id)/").text.contains("<dd id=\"webhook-state\">disabled (disabled by staff)</dd>"))
            _ = try await browser.post("/admin/webhooks/\(id)/enabled/", "csrf=\(browser.csrf)&enabled=yes")
            let rotated = try await browser.post("/admin/webhooks/\(id)/rotate/", "csrf=\(browser.csrf)")
            let newSecret = try #require(rotated.text.firstMatch(of: /<code id="webhook-secret">(whsec_[^<]+)<\/code>/)?.1)
            #expect(newSecret != secret)

            let order = try await client.order(product, quantity: 1, token: customer)
            #expect(try await client.send(.post, "/api/admin/orders/\(order)/fulfil/", token: staff).status == .ok)
            let bothDead = try await eventually {
                try await browser.get("/admin/").text.contains("<dd id=\"dead-deliveries\">2</dd>")
            }
            #expect(bothDead, "order.confirmed and order.fulfilled, each dead after its one attempt")
            let dead = try await browser.get("/admin/webhooks/\(id)/?status=dead")
            let delivery = try #require(dead.text.firstMatch(of: /deliveries\/([0-9a-f-]{36})\/retry\//)?.1)
            let retried = try await browser.post("/admin/webhooks/\(id)/deliveries/\(delivery)/retry/", "csrf=\(browser.csrf)")
            #expect(retried.status == .seeOther)
            #expect(try await browser.get("/admin/webhooks/\(id)/").text.contains("Delivery queued again."))
            #expect(try await browser.get("/admin/webhooks/\(id)/?status=maybe").status == .badRequest)

            #expect(try await browser.post("/admin/webhooks/\(id)/delete/", "csrf=\(browser.csrf)").status == .seeOther)
            #expect(try await browser.get("/admin/webhooks/\(id)/").status == .notFound)
            let kinds =
                (try await client.send(.get, "/api/admin/audit/?record=\(id)", token: staff).json["results"] as? [[String: Any]] ?? [])
                .compactMap { $0["kind"] as? String }
            #expect(
                kinds == [
                    "webhook.deleted", "webhook.delivery_retried", "webhook.secret_rotated", "webhook.changed", "webhook.changed",
                    "webhook.changed", "webhook.created",
                ], "\(kinds)")
        }
    }

    @Test(arguments: TestStore.all)
    func theDashboardChartsFourteenDaysAndListsTheLowestStock(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let scarce = try await client.createProduct("Saffron", quantity: 1, staff: staff)
            let plenty = try await client.createProduct("Water", quantity: 500, staff: staff)
            let (_, customer) = try await client.signUp("olga")
            _ = try await client.order(plenty, quantity: 3, token: customer)
            let cancelled = try await client.order(plenty, quantity: 1, token: customer)
            #expect(try await client.send(.post, "/api/orders/orders/\(cancelled)/cancel/", token: customer).status == .ok)
            let browser = try await client.signIn("staff")

            let page = try await browser.get("/admin/")
            #expect(page.status == .ok)
            #expect(page.text.contains("<svg id=\"orders-chart\" role=\"img\""))
            #expect(page.text.matches(of: /<rect class="bar"/).count == 14)
            let today = Display.day(Date())
            #expect(
                page.text.contains("<tr><th scope=\"row\">\(today)</th><td class=\"num\">1</td><td class=\"num\">29.97 EUR</td></tr>"),
                "today: one order (the cancelled one is not counted) and its revenue")
            let lowest = try #require(page.text.firstMatch(of: /<table class="compact" id="lowest-stock">(?s)(.*?)<\/table>/)?.1)
            #expect(
                lowest.firstRange(of: scarce) != nil
                    && lowest.firstRange(of: scarce)!.lowerBound < lowest.firstRange(of: plenty)!.lowerBound)
            #expect(page.text.contains("<dd id=\"dead-deliveries\">0</dd>"))
        }
    }

    @Test(arguments: TestStore.all)
    func theOrderExportIsCSVWithOneLinePerOrderLineAndTheListsFilters(store: TestStore) async throws {
        try await withShop(store) { client, shop in
            let staff = try await shop.staffToken(client)
            let quoted = try await client.createProduct("Milk, \"whole\"", price: "1.25", quantity: 50, staff: staff)
            let formula = try await client.createProduct("=HYPERLINK(1)", price: "2.00", quantity: 50, staff: staff)
            let (_, customer) = try await client.signUp("olga")
            let placed = try await client.send(
                .post, "/api/orders/orders/",
                json: ["order_items": [["product": quoted, "quantity": 2], ["product": formula, "quantity": 1]]], token: customer)
            let both = placed.json["id"] as? String ?? ""
            let fulfilled = try await client.order(quoted, quantity: 1, token: customer)
            #expect(try await client.send(.post, "/api/admin/orders/\(fulfilled)/fulfil/", token: staff).status == .ok)
            let browser = try await client.signIn("staff")

            #expect(
                try await browser.get("/admin/orders/?status=fulfilled").text.contains("href=\"/admin/orders/export.csv?status=fulfilled\"")
            )
            let csv = try await browser.get("/admin/orders/export.csv")
            #expect(csv.status == .ok)
            #expect(csv.headers[.contentType] == "text/csv; charset=utf-8")
            #expect(csv.headers[.contentDisposition]?.hasPrefix("attachment; filename=\"orders-") == true)
            let lines = csv.text.components(separatedBy: "\r\n").filter { !$0.isEmpty }
            #expect(lines.first == "order_id,placed_at,customer,status,product_id,product_name,quantity,unit_price,line_total,order_total")
            #expect(lines.count == 4, "one line per order line: \(lines)")
            #expect(lines.contains { $0.hasPrefix("\(both),") && $0.hasSuffix(",\(quoted),\"Milk, \"\"whole\"\"\",2,1.25,2.50,4.50") })
            #expect(lines.contains { $0.hasSuffix(",\(formula),'=HYPERLINK(1),1,2.00,2.00,4.50") }, "a formula is not run")
            let only = try await browser.get("/admin/orders/export.csv?status=fulfilled").text.components(separatedBy: "\r\n").filter {
                !$0.isEmpty
            }
            #expect(only.count == 2 && only[1].hasPrefix("\(fulfilled),") && only[1].contains(",olga,fulfilled,"))
            #expect(try await browser.get("/admin/orders/export.csv?customer=nobody").text.components(separatedBy: "\r\n").count == 2)
            #expect(try await browser.get("/admin/orders/export.csv?from=yesterday").status == .badRequest)
            #expect(try await client.send(.get, "/admin/orders/export.csv").status == .seeOther, "staff only")
        }
    }

    @Test func aMissingOrBrokenTemplateStopsTheServerWithItsName() async throws {
        let source = try Views.folder()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("views-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: source, to: folder)
        defer { try? FileManager.default.removeItem(at: folder) }
        _ = try await Views(folder: folder)

        try FileManager.default.removeItem(at: folder.appendingPathComponent("orders.mustache"))
        await #expect { try await Views(folder: folder) } throws: { "\($0)".contains("'orders.mustache' is missing") }
        try "{{#rows}} never closed".write(to: folder.appendingPathComponent("orders.mustache"), atomically: true, encoding: .utf8)
        await #expect { try await Views(folder: folder) } throws: { "\($0)".contains("orders.mustache") && "\($0)".contains("broken") }
    }
}

/// A browser signed in to the back office: its cookie and the session's CSRF token.
struct SignedInBrowser: Sendable {
    let client: any TestClientProtocol
    let cookie: String
    let csrf: String
    let landedOn: String

    func get(_ path: String) async throws -> Reply {
        try await client.send(.get, path, headers: [.cookie: cookie])
    }

    func post(_ path: String, _ form: String, headers: HTTPFields = [:]) async throws -> Reply {
        var headers = headers
        headers[.cookie] = cookie
        return try await client.formPost(path, form, headers: headers)
    }
}

extension TestClientProtocol {
    func formPost(_ path: String, _ form: String, headers extra: HTTPFields = [:]) async throws -> Reply {
        var headers = extra
        headers[.contentType] = "application/x-www-form-urlencoded"
        return try await execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: form)) { response in
            Reply(status: response.status, headers: response.headers, body: response.body)
        }
    }

    /// Signs a staff member in through the sign-in form, as a browser does.
    func signIn(_ username: String, next: String = "/admin/") async throws -> SignedInBrowser {
        let reply = try await formPost("/admin/login/", "username=\(username)&password=correct-horse-9&next=\(next)")
        #expect(reply.status == .seeOther, "sign in \(username): \(reply.status) \(reply.text)")
        let cookie = String(reply.headers[.setCookie]?.split(separator: ";").first ?? "")
        let dashboard = try await send(.get, "/admin/", headers: [.cookie: cookie])
        let csrf = dashboard.text.firstMatch(of: /name="csrf" value="([0-9a-f]{64})"/).map { String($0.1) } ?? ""
        #expect(!csrf.isEmpty, "no CSRF token on the dashboard: \(dashboard.status)")
        return SignedInBrowser(client: self, cookie: cookie, csrf: csrf, landedOn: reply.headers[.location] ?? "")
    }

    /// Places a direct order through the API and returns its id.
    func order(_ product: String, quantity: Int, token: String) async throws -> String {
        let placed = try await send(
            .post, "/api/orders/orders/", json: ["order_items": [["product": product, "quantity": quantity]]], token: token)
        #expect(placed.status == .created, "\(placed.text)")
        return placed.json["id"] as? String ?? ""
    }
}
