import Foundation
import Hummingbird
import NIOCore

/// How large a route's request body may be: what its largest valid request needs, with room for JSON escapes.
struct BodyLimit: Sendable {
    let bytes: Int
    /// Identity, cart, stock adjustments, notes and reasons: a few fields of at most a few hundred characters.
    static let small = BodyLimit(bytes: 4 * 1024)
    /// An order of up to 100 lines.
    static let order = BodyLimit(bytes: 32 * 1024)
    /// A webhook endpoint (a URL of up to 2,000 bytes, its events and description).
    static let webhook = BodyLimit(bytes: 16 * 1024)
    /// A staff product write: a 5,000-character description, every character escaped.
    static let product = BodyLimit(bytes: 64 * 1024)
}

/// The API's JSON: `snake_case` keys, RFC 3339 UTC timestamps, and request bodies decoded with field-level errors.
enum JSONCoding {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Timestamp.format(date))
        }
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }()

    /// The most any request body may hold (a route's own `BodyLimit` is smaller).
    static let maxBodySize = 1 << 20

    /// The request body, up to `limit` bytes (`413` past that; `400` when its framing is broken, such as a bad chunk):
    /// no route buffers more than it can use, so slow or stalled uploads cannot fill memory. A body must be sent as
    /// JSON (`415` otherwise), which also keeps cross-site HTML forms from posting to the API.
    static func body(of request: Request, limit: BodyLimit = .small) async throws -> ByteBuffer {
        let body: ByteBuffer
        do {
            var request = request
            body = try await request.collectBody(upTo: limit.bytes)
        } catch is NIOTooManyBytesError {
            throw AppError.payloadTooLarge(limit: limit.bytes)
        } catch {
            throw AppError.validation(field: "body", "The request body could not be read.")
        }
        guard body.readableBytes == 0 || isJSON(request.headers[.contentType]) else { throw AppError.unsupportedMediaType }
        return body
    }

    /// `application/json` or `application/<anything>+json`, with any parameters (such as `charset`).
    static func isJSON(_ contentType: String?) -> Bool {
        guard let type = contentType?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() else { return false }
        return type == "application/json" || (type.hasPrefix("application/") && type.hasSuffix("+json"))
    }

    /// Decodes a JSON request body, answering `413` past `limit` and `400` naming the field on any decoding problem.
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, limit: BodyLimit = .small) async throws -> T {
        try decode(type, from: try await body(of: request, limit: limit))
    }

    static func decode<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer) throws -> T {
        guard buffer.readableBytes > 0 else { throw AppError.validation(field: "body", "A JSON body is required.") }
        if containsEscapedNUL(buffer.readableBytesView),
            let object = try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView), options: [.fragmentsAllowed])
        {
            throw AppError.validation([nulProblem(in: object, path: "") ?? FieldProblem("body", "Must not contain NUL characters.")])
        }
        do {
            return try decoder.decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            if case .dataCorrupted(let context) = error, context.codingPath.isEmpty,
                let object = try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView), options: [.fragmentsAllowed])
            {
                // The body is valid JSON: Foundation reports a number that does not fit an `Int` this way, without a path.
                throw AppError.validation([numberProblem(in: object, path: "") ?? FieldProblem("body", "Invalid value.")])
            }
            throw AppError.validation([problem(for: error)])
        } catch let error as AppError {
            throw error
        } catch {
            throw AppError.validation(field: "body", "Malformed JSON.")
        }
    }

    static func problem(for error: DecodingError) -> FieldProblem {
        switch error {
        case .keyNotFound(let key, let context):
            return FieldProblem(path(context.codingPath + [key]), "This field is required.")
        case .typeMismatch(let type, let context):
            return FieldProblem(path(context.codingPath), "Expected \(describe(type)).")
        case .valueNotFound(let type, let context):
            return FieldProblem(path(context.codingPath), "Expected \(describe(type)), got null.")
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return FieldProblem("body", "Malformed JSON.") }
            return FieldProblem(path(context.codingPath), "Invalid value.")
        @unknown default:
            return FieldProblem("body", "Malformed JSON.")
        }
    }

    /// The first number in a JSON value that is not a whole number an `Int` can hold.
    static func numberProblem(in value: Any, path: String) -> FieldProblem? {
        switch value {
        case let object as [String: Any]:
            for key in object.keys.sorted() {
                if let problem = numberProblem(in: object[key] as Any, path: path.isEmpty ? key : "\(path).\(key)") { return problem }
            }
        case let array as [Any]:
            for (index, element) in array.enumerated() {
                if let problem = numberProblem(in: element, path: "\(path)[\(index)]") { return problem }
            }
        case let number as NSNumber where !(number is Bool):
            let double = number.doubleValue
            if double.rounded() != double || double.magnitude >= 9.0e18 {
                return FieldProblem(path.isEmpty ? "body" : path, "Expected a whole number.")
            }
        default:
            break
        }
        return nil
    }

    /// Whether the JSON text has a `\u0000` escape (a raw NUL is not valid JSON). PostgreSQL text cannot hold NUL
    /// and SQLite would cut the text there, so such a value is refused for every store alike.
    static func containsEscapedNUL(_ bytes: ByteBufferView) -> Bool {
        let escape = Array("u0000".utf8)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            guard bytes[index] == UInt8(ascii: "\\") else {
                index += 1
                continue
            }
            let rest = bytes[(index + 1)...]
            if rest.starts(with: escape) { return true }
            index += 2  // an escape is a backslash and the character after it
        }
        return false
    }

    /// The path of the first string (or key) holding a NUL character.
    static func nulProblem(in value: Any, path: String) -> FieldProblem? {
        switch value {
        case let object as [String: Any]:
            for key in object.keys.sorted() {
                let keyPath = path.isEmpty ? key : "\(path).\(key)"
                if key.contains("\u{0}") { return FieldProblem(path.isEmpty ? "body" : path, "Must not contain NUL characters.") }
                if let problem = nulProblem(in: object[key] as Any, path: keyPath) { return problem }
            }
        case let array as [Any]:
            for (index, element) in array.enumerated() {
                if let problem = nulProblem(in: element, path: "\(path)[\(index)]") { return problem }
            }
        case let text as String where text.contains("\u{0}"):
            return FieldProblem(path.isEmpty ? "body" : path, "Must not contain NUL characters.")
        default:
            break
        }
        return nil
    }

    /// `order_items[1].quantity` from a coding path, in the API's snake_case.
    static func path(_ codingPath: [any CodingKey]) -> String {
        var result = ""
        for key in codingPath {
            if let index = key.intValue {
                result += "[\(index)]"
            } else {
                if !result.isEmpty { result += "." }
                result += snakeCase(key.stringValue)
            }
        }
        return result.isEmpty ? "body" : result
    }

    static func snakeCase(_ name: String) -> String {
        var result = ""
        for character in name {
            if character.isUppercase {
                result += "_" + character.lowercased()
            } else {
                result.append(character)
            }
        }
        return result
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type: "a whole number"
        case is Bool.Type: "true or false"
        case is [Any].Type: "a list"
        default: "a \(String(describing: type).lowercased())"
        }
    }
}

/// RFC 3339 timestamps: written in UTC, whole seconds (`2026-11-26T09:30:00Z`); read with any offset.
enum Timestamp {
    static func format(_ date: Date) -> String {
        date.formatted(.iso8601)
    }

    /// RFC 3339 with or without fractional seconds; a `+` offset that arrived as a space (an unencoded `+`) is read back.
    /// Impossible times (`2026-02-30`, `T24:00:00`, a `+24:00` offset) are nil, not rolled over.
    static func parse(_ text: String) -> Date? {
        var text = text
        if text.count > 19, text[text.index(text.startIndex, offsetBy: 19)] == " " {
            text.replaceSubrange(text.index(text.startIndex, offsetBy: 19)...text.index(text.startIndex, offsetBy: 19), with: "+")
        }
        guard let parts = text.wholeMatch(of: /(\d{4}-\d{2}-\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-](\d{2}):(\d{2}))/),
            Display.day(String(parts.1)) != nil, let hour = Int(parts.2), hour < 24, let minute = Int(parts.3), minute < 60,
            let second = Int(parts.4), second < 60, (parts.7.flatMap { Int($0) } ?? 0) < 24, (parts.8.flatMap { Int($0) } ?? 0) < 60
        else { return nil }
        return (try? Date.ISO8601FormatStyle().parse(text))
            ?? (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text))
    }
}

extension Response {
    /// A JSON response in the API's encoding.
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        let data = try JSONCoding.encoder.encode(value)
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
