import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Mustache

/// The back office's templates and assets, loaded once at start: a template missing or broken stops the server with
/// its name. Pages are rendered from typed view models (`PageModel`), escaped by default.
struct Views: Sendable {
    /// Every template a page renders; each must be in the bundle's `BackOffice` folder.
    static let templates = [
        "header", "footer", "landing", "login", "error", "dashboard", "orders", "order", "products", "product", "product-new",
        "categories", "customers", "customer", "webhooks", "webhook", "audit",
    ]

    private let library: MustacheLibrary
    /// The stylesheet, script and icon, each served at a path carrying a hash of its content, cached for a year.
    let stylesheet: Asset
    let script: Asset
    let icon: Asset

    /// A static file of our own, addressed by its content.
    struct Asset: Sendable {
        let path: String
        let body: ByteBuffer
        let contentType: String

        init(name: String, ext: String, contents: Data, contentType: String) {
            let hash = SHA256.hash(data: contents).prefix(6).map { String(format: "%02x", $0) }.joined()
            path = "/admin/static/\(name).\(hash).\(ext)"
            body = ByteBuffer(bytes: contents)
            self.contentType = contentType
        }
    }

    /// Loads the templates and assets from the bundle.
    static func load() async throws -> Views {
        try await Views(folder: try folder())
    }

    /// Where the bundle keeps the templates and assets.
    static func folder() throws -> URL {
        guard let folder = Bundle.module.resourceURL?.appendingPathComponent("BackOffice") else {
            throw ConfigError("back office: the BackOffice resource folder is missing from the bundle")
        }
        return folder
    }

    init(folder: URL) async throws {
        do {
            library = try await MustacheLibrary(directory: folder.path)
        } catch let error as MustacheLibrary.ParserError {
            throw ConfigError("back office: template '\(error.filename)' is broken: \(error.error) at line \(error.context.lineNumber)")
        }
        for name in Self.templates where library.getTemplate(named: name) == nil {
            throw ConfigError("back office: template '\(name).mustache' is missing")
        }
        func asset(_ name: String, _ ext: String, _ type: String) throws -> Asset {
            guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent("\(name).\(ext)").path) else {
                throw ConfigError("back office: asset '\(name).\(ext)' is missing")
            }
            return Asset(name: name, ext: ext, contents: data, contentType: type)
        }
        stylesheet = try asset("app", "css", "text/css; charset=utf-8")
        script = try asset("app", "js", "text/javascript; charset=utf-8")
        icon = try asset("favicon", "svg", "image/svg+xml")
    }

    /// The page `template` shows for `model`, with the headers every back-office page carries.
    func render(_ template: String, _ model: some Sendable, status: HTTPResponse.Status = .ok) -> Response {
        let html = library.render(Self.tree(of: model), withTemplate: template) ?? ""
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        Self.secure(&headers)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// A view model as nested dictionaries and arrays, read by reflection once per value: a template then looks each
    /// tag up in a dictionary, where swift-mustache would reflect the model anew for every tag it renders (two thirds
    /// of a 50-row page's time). An absent optional becomes `false`: a section skips it, as it would skip nil.
    static func tree(of value: Any) -> Any {
        switch value {
        case is String, is Int, is Bool: return value
        default: break
        }
        let mirror = Mirror(reflecting: value)
        switch mirror.displayStyle {
        case .optional: return mirror.children.first.map { tree(of: $0.value) } ?? false
        case .collection, .set: return mirror.children.map { tree(of: $0.value) }
        case .struct, .class:
            var fields: [String: Any] = [:]
            for child in mirror.children { if let label = child.label { fields[label] = tree(of: child.value) } }
            return fields
        default: return value
        }
    }

    /// A redirect after a form (POST/redirect/GET) or to the sign-in page.
    static func redirect(to location: String) -> Response {
        var headers = HTTPFields()
        headers[.location] = location
        secure(&headers)
        return Response(status: .seeOther, headers: headers)
    }

    /// The headers of every back-office answer: no inline script or style, no framing, nothing cached.
    static func secure(_ headers: inout HTTPFields) {
        headers[.contentSecurityPolicy] = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
        headers[.xContentTypeOptions] = "nosniff"
        headers[.init("Referrer-Policy")!] = "same-origin"
        headers[.cacheControl] = "no-store"
        headers[.init("X-Frame-Options")!] = "DENY"
    }

    func serve(_ asset: Asset) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = asset.contentType
        headers[.cacheControl] = "public, max-age=31536000, immutable"
        headers[.xContentTypeOptions] = "nosniff"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: asset.body))
    }
}
