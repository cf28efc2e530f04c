import Foundation
import Hummingbird

/// `?limit=&offset=` of a list request: limit 1…100 (default 10), offset ≥ 0.
struct PageRequest: Sendable, Hashable {
    var limit = 10
    var offset = 0

    init(limit: Int = 10, offset: Int = 0) {
        self.limit = limit
        self.offset = offset
    }

    init(from request: Request) throws {
        let query = request.uri.queryParameters
        var problems: [FieldProblem] = []
        if let raw = query["limit"] {
            if let value = Int(String(raw)), (1...100).contains(value) {
                limit = value
            } else {
                problems.append(FieldProblem("limit", "Must be a whole number from 1 to 100."))
            }
        }
        if let raw = query["offset"] {
            if let value = Int(String(raw)), value >= 0, value <= 10_000_000 {
                offset = value
            } else {
                problems.append(FieldProblem("offset", "Must be a whole number of at least 0."))
            }
        }
        if !problems.isEmpty { throw AppError.validation(problems) }
    }
}

/// One page of a list: `{count, next, previous, results}` with absolute links that keep the other query parameters.
struct Page<Item: Encodable & Sendable>: Encodable, Sendable {
    let count: Int
    let next: String?
    let previous: String?
    let results: [Item]

    /// Links to the request's own path, keeping its other query parameters.
    init(results: [Item], count: Int, page: PageRequest, request: Request, links: LinkBase) {
        let filters = (URLComponents(string: request.uri.description)?.queryItems ?? []).filter {
            $0.name != "limit" && $0.name != "offset"
        }
        self.init(results: results, count: count, page: page, url: links.base(for: request) + request.uri.path, filters: filters)
    }

    /// Links to `url` with `filters`: for shared (cached) pages, whose links must not echo one caller's spelling.
    init(results: [Item], count: Int, page: PageRequest, url: String, filters: [URLQueryItem]) {
        self.count = count
        self.results = results
        self.next = page.offset + page.limit < count ? Self.link(url, filters, limit: page.limit, offset: page.offset + page.limit) : nil
        self.previous =
            page.offset > 0
            ? Self.link(url, filters, limit: page.limit, offset: max(0, min(page.offset - page.limit, count - page.limit))) : nil
    }

    private enum CodingKeys: String, CodingKey { case count, next, previous, results }

    /// Writes `next`/`previous` as `null` rather than leaving them out.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(count, forKey: .count)
        try container.encode(next, forKey: .next)
        try container.encode(previous, forKey: .previous)
        try container.encode(results, forKey: .results)
    }

    static func link(_ url: String, _ filters: [URLQueryItem], limit: Int, offset: Int) -> String {
        var query = URLComponents()
        query.queryItems =
            filters + [URLQueryItem(name: "limit", value: String(limit))]
            + (offset > 0 ? [URLQueryItem(name: "offset", value: String(offset))] : [])
        return "\(url)?\(formEncoded(query))"
    }

    /// The query of `components` as a form encoder writes it: `URLComponents` leaves `+` bare, which every reader
    /// (this server included) takes for a space, so a literal plus is sent as `%2B`.
    static func formEncoded(_ components: URLComponents) -> String {
        (components.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
    }

}

/// Where page links point: `PUBLIC_URL` when it is set; behind our own proxy (`TRUST_PROXY=true`) the scheme and
/// host it forwarded; else nowhere, so links are relative. A `Host` header a client made up never reaches a link,
/// nor an answer shared through a cache.
struct LinkBase: Sendable {
    var publicURL: String?
    var trustProxy = false

    /// `scheme://host[:port]` (or a `PUBLIC_URL` with a path), or "" for relative links.
    func base(for request: Request) -> String {
        if let publicURL { return publicURL }
        guard trustProxy else { return "" }
        let proto = request.headers[.init("X-Forwarded-Proto")!] == "https" ? "https" : "http"
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]")
        let host = request.headers[.init("X-Forwarded-Host")!] ?? request.head.authority ?? ""
        guard !host.isEmpty, host.count <= 255, host.allSatisfy({ allowed.contains($0) }) else { return "" }
        return "\(proto)://\(host)"
    }
}

/// One cursor-mode page, shaped like Django REST framework's `CursorPagination`: `{next, previous, results}` with no
/// count, since counting is exactly the full scan cursor mode exists to avoid.
struct CursorPage<Item: Encodable & Sendable>: Encodable, Sendable {
    let next: String?
    let previous: String?
    let results: [Item]

    private enum CodingKeys: String, CodingKey { case next, previous, results }

    /// Writes `next`/`previous` as `null` rather than leaving them out.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(next, forKey: .next)
        try container.encode(previous, forKey: .previous)
        try container.encode(results, forKey: .results)
    }

    /// A link to `url` with `filters`, `limit` (when not the default) and `cursor`.
    static func link(_ url: String, _ filters: [URLQueryItem], limit: Int, cursor: String) -> String {
        var query = URLComponents()
        query.queryItems =
            filters + (limit == 10 ? [] : [URLQueryItem(name: "limit", value: String(limit))]) + [
                URLQueryItem(name: "cursor", value: cursor)
            ]
        return "\(url)?\(Page<Item>.formEncoded(query))"
    }
}
