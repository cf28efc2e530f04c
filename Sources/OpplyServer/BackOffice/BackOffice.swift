import Hummingbird

/// The staff's web pages under `/admin/` and the landing page at `/`: every route behind `BackOfficeGate`, every
/// page but sign-in behind a staff session (`StaffPageContext`). It holds no rule and no SQL: each page calls the
/// service the JSON API calls.
struct BackOffice: Sendable {
    let shop: Shop

    func addRoutes(to router: Router<AppRequestContext>) {
        let views = shop.views
        let cookie = SessionCookie(secure: shop.config.environment != .development)
        let admin = router.group("admin").add(middleware: BackOfficeGate(identity: shop.identity, views: views, cookie: cookie))
        SignInPages(identity: shop.identity, views: views, cookie: cookie, trustProxy: shop.config.trustProxy)
            .addRoutes(to: router, admin: admin)
        let staff = admin.group(context: StaffPageContext.self)
        DashboardPage(desk: shop.desk, catalog: shop.catalog, webhooks: shop.webhooks, clock: shop.clock, views: views).addRoutes(to: staff)
        OrderExport(desk: shop.desk, identity: shop.identity, clock: shop.clock).addRoutes(to: staff)
        OrderPages(desk: shop.desk, identity: shop.identity, views: views).addRoutes(to: staff)
        ProductPages(catalog: shop.catalog, identity: shop.identity, views: views).addRoutes(to: staff)
        CustomerPages(identity: shop.identity, desk: shop.desk, cart: shop.cart, views: views).addRoutes(to: staff)
        WebhookPages(webhooks: shop.webhooks, identity: shop.identity, views: views).addRoutes(to: staff)
        AuditPages(audit: shop.audit, identity: shop.identity, views: views).addRoutes(to: staff)
        // Anything else under /admin/ is a page too: a 404 page, not the API's JSON.
        admin.get("**") { _, _ -> Response in throw AppError.notFound }
    }
}
