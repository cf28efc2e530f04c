import Crypto
import Foundation
import Hummingbird

/// The product list's filters, validated and normalized: two requests that mean the same share one cache entry.
struct ProductQuery: Hashable, Sendable {
    enum Ordering: String, CaseIterable, Sendable {
        case name
        case nameDescending = "-name"
        case price
        case priceDescending = "-price"
        case createdAt = "created_at"
        case createdAtDescending = "-created_at"

        var column: String {
            switch self {
            case .name, .nameDescending: "name"
            case .price, .priceDescending: "price_minor"
            case .createdAt, .createdAtDescending: "created_at"
            }
        }
        var descending: Bool { rawValue.hasPrefix("-") }
    }

    var page = PageRequest()
    var search: String?
    var category: String?
    var minPrice: Int?
    var maxPrice: Int?
    var inStock = true
    var ordering = Ordering.name
    /// Cursor mode when set (`?cursor=`, empty for the first page): the raw, still unverified cursor.
    var cursor: String?

    /// The deepest offset mode goes: `offset + limit` at most this. An offset walk reads and drops every row before
    /// the page, so deeper pages are served by cursor mode instead, which costs the same at any depth.
    static let maxOffsetDepth = 10_000

    init() {}

    init(from request: Request) throws {
        let query = request.uri.queryParameters
        var problems: [FieldProblem] = []
        do { page = try PageRequest(from: request) } catch let error as AppError { problems += error.errors }
        if let raw = query["search"].map(String.init), !raw.isEmpty {
            if raw.count > 200 { problems.append(FieldProblem("search", "At most 200 characters.")) } else { search = raw.lowercased() }
        }
        if let raw = query["category"].map(String.init), !raw.isEmpty {
            if Category.isValidSlug(raw) {
                category = raw
            } else {
                problems.append(FieldProblem("category", "Not a category slug ([a-z0-9-], 1 to 64 characters)."))
            }
        }
        for (name, keyPath) in [("min_price", \ProductQuery.minPrice), ("max_price", \ProductQuery.maxPrice)] {
            guard let raw = query[Substring(name)].map(String.init), !raw.isEmpty else { continue }
            if let minor = Money.parse(raw) {
                self[keyPath: keyPath] = minor
            } else {
                problems.append(FieldProblem(name, "Must be a decimal amount like 12.50."))
            }
        }
        if let raw = query["in_stock"].map(String.init) {
            switch raw.lowercased() {
            case "true", "1": inStock = true
            case "false", "0": inStock = false
            default: problems.append(FieldProblem("in_stock", "Must be true or false."))
            }
        }
        if let raw = query["ordering"].map(String.init) {
            if let ordering = Ordering(rawValue: raw) {
                self.ordering = ordering
            } else {
                problems.append(FieldProblem("ordering", "Must be one of \(Ordering.allCases.map(\.rawValue).joined(separator: ", "))."))
            }
        }
        if let raw = query["cursor"].map(String.init) {
            if query["offset"] != nil {
                problems.append(FieldProblem("offset", "Not used with cursor; follow the next and previous links instead."))
            }
            cursor = raw
        } else if problems.isEmpty, page.offset + page.limit > Self.maxOffsetDepth {
            problems.append(
                FieldProblem(
                    "offset",
                    "offset + limit must be at most \(Self.maxOffsetDepth); "
                        + "for deeper pages use cursor pagination (?cursor=, then the next links)."
                ))
        }
        if !problems.isEmpty { throw AppError.validation(problems) }
    }

    /// The filters and ordering as one string, which a cursor is bound to: reused with other filters it is refused.
    var scope: String {
        var text = "\(search ?? "")\u{1}\(category ?? "")\u{1}\(minPrice.map(String.init) ?? "")\u{1}"
        text += "\(maxPrice.map(String.init) ?? "")\u{1}\(inStock)\u{1}\(ordering.rawValue)"
        return SHA256.hash(data: Data(text.utf8)).prefix(12).map { String(format: "%02x", $0) }.joined()
    }

    /// The filters alone (no ordering, no page): every query with this key has the same `count`.
    var countKey: String {
        "\(search ?? "")\u{1}\(category ?? "")\u{1}\(minPrice.map(String.init) ?? "")\u{1}\(maxPrice.map(String.init) ?? "")\u{1}\(inStock)"
    }

    /// The filters that differ from the defaults, normalized, for the page links: every request sharing this
    /// query's cache entry gets the same links.
    var filters: [URLQueryItem] {
        var items: [URLQueryItem] = []
        if let search { items.append(URLQueryItem(name: "search", value: search)) }
        if let category { items.append(URLQueryItem(name: "category", value: category)) }
        if let minPrice { items.append(URLQueryItem(name: "min_price", value: Money.format(minPrice))) }
        if let maxPrice { items.append(URLQueryItem(name: "max_price", value: Money.format(maxPrice))) }
        if !inStock { items.append(URLQueryItem(name: "in_stock", value: "false")) }
        if ordering != .name { items.append(URLQueryItem(name: "ordering", value: ordering.rawValue)) }
        return items
    }

    /// The `LIKE` pattern for `search`, with the wildcards a shopper typed taken literally.
    var searchPattern: String? {
        search.map { text in
            var escaped = ""
            for character in text {
                if character == "\\" || character == "%" || character == "_" { escaped.append("\\") }
                escaped.append(character)
            }
            return "%\(escaped)%"
        }
    }
}
