import Crypto
import Foundation

/// A staff member signed in to the back office: who, the token their forms carry against cross-site requests, and
/// the message the next page shows (the outcome of the form just sent).
struct StaffSession: Sendable {
    let staff: Customer
    /// What the cookie holds; only its SHA-256 is stored, so a copy of the table signs no one in.
    let token: String
    let csrf: String
    var flash: String?

    /// How long a session lives without a request, and at most.
    static let idle: TimeInterval = 30 * 60
    static let lifetime: TimeInterval = 12 * 60 * 60
    /// A session's last request is written at most this often, not on every page.
    static let touchEvery: TimeInterval = 60

    /// The stored form of a cookie's token.
    static func hash(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Whether `sent` is this session's CSRF token, compared in constant time.
    func accepts(csrf sent: String) -> Bool {
        let expected = Array(csrf.utf8)
        let given = Array(sent.utf8)
        guard expected.count == given.count else { return false }
        return zip(expected, given).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
