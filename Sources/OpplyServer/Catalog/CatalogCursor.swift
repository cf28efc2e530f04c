import Crypto
import Foundation

/// A position in the product list for cursor mode: the row a page starts after (or ends before), as its ordering
/// value and id. The page is then a keyset range on an index, so it costs the same at any depth.
struct CatalogCursor: Codable, Sendable, Equatable {
    enum Direction: String, Codable, Sendable {
        case after = "a"
        case before = "b"
    }

    var direction: Direction
    var id: UUID
    /// The ordering value for `name` and `price`; `created_at` never changes, so its value is read back by `id`
    /// rather than carried (a timestamp would not survive the trip through a string on both engines exactly).
    var name: String?
    var price: Int?
    /// Which filters and ordering this cursor belongs to (`ProductQuery.scope`).
    var scope: String

    private enum CodingKeys: String, CodingKey {
        case direction = "d"
        case id = "i"
        case name = "n"
        case price = "p"
        case scope = "s"
    }

    /// The cursor just past `product` in `direction`, for `query`.
    init(_ direction: Direction, of product: Product, for query: ProductQuery) {
        self.direction = direction
        self.id = product.id
        self.scope = query.scope
        switch query.ordering {
        case .name, .nameDescending: name = product.name
        case .price, .priceDescending: price = product.priceMinor
        case .createdAt, .createdAtDescending: break
        }
    }
}

/// Signs cursors so a client cannot forge a position (or a scope): `base64url(json).base64url(HMAC-SHA256)`, with a
/// key derived from the JWT secret, so every instance of one deployment accepts the others' cursors.
struct CursorSigner: Sendable {
    private let key: SymmetricKey

    init(secret: String) {
        let derived = HMAC<SHA256>.authenticationCode(
            for: Data("opply catalog cursor v1".utf8), using: SymmetricKey(data: Data(secret.utf8)))
        key = SymmetricKey(data: Data(derived))
    }

    func encode(_ cursor: CatalogCursor) -> String {
        let payload = (try? JSONEncoder().encode(cursor)) ?? Data()
        let mac = HMAC<SHA256>.authenticationCode(for: payload, using: key)
        return Self.base64url(payload) + "." + Self.base64url(Data(mac))
    }

    /// The cursor `raw` stands for, checked against `query`; a forged, damaged or foreign cursor is a `400`.
    func decode(_ raw: String, for query: ProductQuery) throws -> CatalogCursor {
        let parts = raw.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let payload = Self.data(base64url: parts[0]), let mac = Self.data(base64url: parts[1]),
            HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: payload, using: key),
            let cursor = try? JSONDecoder().decode(CatalogCursor.self, from: payload)
        else { throw AppError.validation(field: "cursor", "Not a cursor this server issued; start again with cursor= (empty).") }
        guard cursor.scope == query.scope else {
            throw AppError.validation(
                field: "cursor", "This cursor belongs to other filters or another ordering; start again with cursor= (empty).")
        }
        return cursor
    }

    static func base64url(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func data(base64url text: Substring) -> Data? {
        guard text.count <= 2048, text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
            return nil
        }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64)
    }
}
