import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// In front of every back-office route: finds the staff session from its cookie, refuses cross-site and CSRF-less
/// forms, reads the form of a `POST`, and turns every error into a page: no session leads to the sign-in page, a
/// refused form back to the page it came from with the reason, anything else to an error page with its status.
struct BackOfficeGate: RouterMiddleware {
    typealias Context = AppRequestContext
    let identity: IdentityService
    let views: Views
    let cookie: SessionCookie

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        do {
            if let token = cookie.token(in: request) { context.staffSession = try await identity.staffSession(token: token) }
            if request.method == .post {
                try Self.refuseCrossSite(request)
                context.form = try await Form(from: request)
                if let session = context.staffSession, !session.accepts(csrf: context.form["csrf"] ?? "") {
                    throw AppError(
                        .forbidden, code: "csrf_failed", title: "Form expired",
                        detail: "This form is out of date or did not come from this site. Reload the page and try again.")
                }
            } else if let session = context.staffSession, session.flash != nil {
                try await identity.flash(nil, for: session)
            }
            return try await next(request, context)
        } catch is SignInRequired {
            let next =
                request.method == .get
                ? "?next=" + (request.uri.path.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "") : ""
            return Views.redirect(to: "/admin/login/" + next)
        } catch let error where AppError.answering(error) != nil {
            let error = AppError.answering(error) ?? .internalError
            // A refused form goes back where it came from, saying why; the same error on a page shows as a page.
            if request.method == .post, let session = context.staffSession, (400..<500).contains(error.status.code),
                error.code != "csrf_failed", let back = Self.localPath(context.form["back"])
            {
                let reasons = error.errors.isEmpty ? error.detail ?? error.title : error.errors.map(\.message).joined(separator: " ")
                try? await identity.flash(Notice(reasons, error: true).stored, for: session)
                return Views.redirect(to: back)
            }
            return errorPage(error, context: context)
        } catch {
            context.logger.error(
                "Unexpected back office error", metadata: ["error": "\(String(reflecting: error))", "path": "\(request.uri.path)"])
            return errorPage(.internalError, context: context)
        }
    }

    private func errorPage(_ error: AppError, context: Context) -> Response {
        struct ErrorPage: Sendable {
            let layout: Layout
            let status: Int
            let title: String
            let detail: String?
            let problems: [String]
        }
        let problems = error.errors.map { "\($0.field): \($0.message)" }
        // The problems listed say it all: a detail that only repeats them is left out.
        let detail =
            error.status == .notFound
            ? "There is no such page, or what it showed is gone." : problems.contains(error.detail ?? "") ? nil : error.detail
        let model = ErrorPage(
            layout: Layout(error.title, session: context.staffSession, views: views), status: error.status.code, title: error.title,
            detail: detail, problems: problems)
        var response = views.render("error", model, status: error.status)
        if let retry = error.headers[.retryAfter] { response.headers[.retryAfter] = retry }
        return response
    }

    /// A browser says where a request came from: a form posted from another site is refused whatever it carries.
    static func refuseCrossSite(_ request: Request) throws {
        let site = request.headers[.init("Sec-Fetch-Site")!]?.lowercased() ?? "same-origin"
        // An `Origin` must name this host (`null`, from a sandboxed or privacy-minded context, names none).
        var foreignOrigin = false
        if let origin = request.headers[.origin] {
            let parts = URLComponents(string: origin)
            let named = parts?.host.map { host in host + (parts?.port.map { ":\($0)" } ?? "") }
            foreignOrigin = named == nil || named != request.head.authority
        }
        guard ["same-origin", "none"].contains(site), !foreignOrigin else {
            throw AppError(
                .forbidden, code: "cross_site", title: "Cross-site request refused",
                detail: "Back-office forms are accepted from the back office's own pages only.")
        }
    }

    /// `path` when it is a path on this site's back office (never another host), else nil.
    static func localPath(_ path: String?) -> String? {
        guard let path, path.hasPrefix("/admin/"), !path.hasPrefix("//"), !path.contains("\\"), path.count <= 2_000,
            !path.contains(where: { $0.isNewline })
        else { return nil }
        return path
    }
}

/// Thrown where a page needs a signed-in staff member and there is none: the gate sends the browser to sign in.
struct SignInRequired: Error {}

/// The context of a signed-in back-office page: the staff member, their session and the form sent.
struct StaffPageContext: ChildRequestContext {
    var coreContext: CoreRequestContextStorage
    let session: StaffSession
    let form: Form

    init(context: AppRequestContext) throws {
        guard let session = context.staffSession else { throw SignInRequired() }
        self.coreContext = context.coreContext
        self.session = session
        self.form = context.form
    }

    var staff: Customer { session.staff }
}

/// The session cookie: `__Host-opply_admin` with `Secure` outside development (a browser drops a `__Host-` cookie
/// without it), `opply_admin` over plain HTTP in development; always `HttpOnly`, `SameSite=Strict`, `Path=/`.
struct SessionCookie: Sendable {
    let secure: Bool

    var name: String { secure ? "__Host-opply_admin" : "opply_admin" }

    func token(in request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == name {
                    return parts[1].trimmingCharacters(in: .whitespaces)
                }
            }
        }
        return nil
    }

    func set(_ token: String) -> String {
        "\(name)=\(token); Path=/; HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
    }

    var clear: String {
        "\(name)=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0" + (secure ? "; Secure" : "")
    }
}
