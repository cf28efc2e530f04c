import Foundation
import Hummingbird

/// The landing page, the back office's assets, and signing in and out.
struct SignInPages: Sendable {
    let identity: IdentityService
    let views: Views
    let cookie: SessionCookie
    let trustProxy: Bool

    struct LandingPage: Sendable {
        let layout: Layout
    }

    struct SignInPage: Sendable {
        let layout: Layout
        let next: String
        let username: String
        let problem: String?
    }

    func addRoutes(to router: Router<AppRequestContext>, admin: RouterGroup<AppRequestContext>) {
        router.get("/", use: landing)
        admin.get("static/:file", use: asset)
        admin.get("login", use: signInPage)
        admin.post("login", use: signIn)
        admin.group(context: StaffPageContext.self).post("logout", use: signOut)
    }

    @Sendable func landing(_ request: Request, context: AppRequestContext) async throws -> Response {
        views.render("landing", LandingPage(layout: Layout("Opply", session: nil, views: views)))
    }

    @Sendable func asset(_ request: Request, context: AppRequestContext) async throws -> Response {
        let path = request.uri.path
        for asset in [views.stylesheet, views.script, views.icon] where asset.path == path { return views.serve(asset) }
        throw AppError.notFound
    }

    @Sendable func signInPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        let next = BackOfficeGate.localPath(request.uri.queryParameters["next"].map(String.init)) ?? "/admin/"
        if context.staffSession != nil { return Views.redirect(to: next) }
        return views.render(
            "login", SignInPage(layout: Layout("Sign in", session: nil, views: views), next: next, username: "", problem: nil))
    }

    @Sendable func signIn(_ request: Request, context: AppRequestContext) async throws -> Response {
        let form = context.form
        let username = form["username"] ?? ""
        let next = BackOfficeGate.localPath(form["next"]) ?? "/admin/"
        let session: StaffSession
        do {
            session = try await identity.signIn(
                username: username, password: form["password"] ?? "", client: context.clientAddress(of: request, trustProxy: trustProxy))
        } catch let error as AppError where error.status == .unauthorized || error.status == .tooManyRequests {
            let problem =
                error.status == .unauthorized ? "That username and password do not match a staff account." : error.detail ?? error.title
            let page = SignInPage(layout: Layout("Sign in", session: nil, views: views), next: next, username: username, problem: problem)
            var response = views.render("login", page, status: error.status == .unauthorized ? .ok : .tooManyRequests)
            if let retry = error.headers[.retryAfter] { response.headers[.retryAfter] = retry }
            return response
        }
        var response = Views.redirect(to: next)
        response.headers[.setCookie] = cookie.set(session.token)
        return response
    }

    @Sendable func signOut(_ request: Request, context: StaffPageContext) async throws -> Response {
        try await identity.signOut(context.session)
        var response = Views.redirect(to: "/admin/login/")
        response.headers[.setCookie] = cookie.clear
        return response
    }
}
