import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// Serves the API reference for the app's developers at `/docs/` (and `/docs`), rendered once when the shop opens.
/// It carries the back office's security headers, but may be cached for five minutes: it is the same for
/// everyone and changes only with a deploy (a page cached across a deploy may show the old stylesheet's link that long).
struct DocsController: Sendable {
    /// The page, rendered by `Shop` at start (a broken contract stops the server there, with the reason).
    let page: ByteBuffer

    func addRoutes(to router: Router<AppRequestContext>) {
        // The router matches `/docs` and `/docs/` alike.
        router.get("docs") { [page] _, _ -> Response in Self.response(page) }
    }

    static func response(_ page: ByteBuffer) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        Views.secure(&headers)
        headers[.cacheControl] = "public, max-age=300"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: page))
    }
}
