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
            if let value = Int(String(raw)), (1...100).contains(value) { limit = value } else { problems.append(FieldProblem("limit", "Must be a whole number from 1 to 100.")) }
        }
        if let raw = query["offset"] {
            if let value = Int(String(raw)), value >= 0, value <= 10_000_000 { offset = value } else { problems.append(FieldProblem("offset", "Must be a whole number of at least 0.")) }
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

    init(results: [Item], count: Int, page: PageRequest, request: Request) {
        self.count = count
        self.results = results
        self.next = page.offset + page.limit < count ? Self.link(request, limit: page.limit, offset: page.offset + page.limit) : nil
        self.previous = page.offset > 0 ? Self.link(request, limit: page.limit, offset: max(0, min(page.offset - page.limit, count - page.limit))) : nil
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

    static func link(_ request: Request, limit: Int, offset: Int) -> String {
        var items = (URLComponents(string: request.uri.description)?.queryItems ?? []).filter { $0.name != "limit" && $0.name != "offset" }
        items.append(URLQueryItem(name: "limit", value: String(limit)))
        if offset > 0 { items.append(URLQueryItem(name: "offset", value: String(offset))) }
        var query = URLComponents()
        query.queryItems = items
        return "\(baseURL(of: request))\(request.uri.path)?\(query.percentEncodedQuery ?? "")"
    }

    /// `scheme://host[:port]` as the client addressed us; a malformed `Host` header is not echoed.
    static func baseURL(of request: Request) -> String {
        let proto = request.headers[.init("X-Forwarded-Proto")!] == "https" ? "https" : "http"
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]")
        let host = request.head.authority ?? ""
        guard !host.isEmpty, host.count <= 255, host.allSatisfy({ allowed.contains($0) }) else { return "\(proto)://localhost" }
        return "\(proto)://\(host)"
    }
}
