import Foundation
import Hummingbird

/// The fields of an HTML form sent as `application/x-www-form-urlencoded`, in the order sent (a field may repeat:
/// the orders ticked on the order desk).
struct Form: Sendable {
    private(set) var fields: [(name: String, value: String)] = []

    /// The most a form's body may hold: a product's 5,000-character description, written in any script, fits.
    static let maxSize = 64 * 1024

    init() {}

    init(encoded text: String) {
        fields = text.split(separator: "&").compactMap { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.decode(parts[0]), !name.isEmpty else { return nil }
            return (name, parts.count > 1 ? Self.decode(parts[1]) ?? "" : "")
        }
    }

    /// Reads a request's form; `415` for another kind of body, `413` past `maxSize`.
    init(from request: Request) async throws {
        let type = request.headers[.contentType]?.lowercased() ?? ""
        guard type.hasPrefix("application/x-www-form-urlencoded") else {
            throw AppError(
                .unsupportedMediaType, code: "unsupported_media_type", title: "Unsupported media type",
                detail: "Forms are sent as application/x-www-form-urlencoded.")
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maxSize)
        } catch {
            throw AppError(.contentTooLarge, code: "payload_too_large", title: "Payload too large", detail: "Forms are limited to 64 KiB.")
        }
        self.init(encoded: String(buffer: body))
    }

    subscript(name: String) -> String? { fields.first { $0.name == name }?.value }

    /// A field's value with surrounding spaces removed; nil when it is absent or blank.
    func text(_ name: String) -> String? {
        guard let value = self[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else { return nil }
        return value
    }

    func all(_ name: String) -> [String] { fields.filter { $0.name == name }.map(\.value) }

    private static func decode(_ part: Substring) -> String? {
        part.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }
}
