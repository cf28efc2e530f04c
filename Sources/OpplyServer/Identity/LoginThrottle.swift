import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Counts login attempts per (username, client address) and sign-ins and registrations per client address (IPv6
/// per /64) in memory; past either limit the attempt answers `429` until the window ends, before any password is
/// hashed. Per instance by design: it slows guessing and keeps one client from taking every hashing thread, the
/// bcrypt cost does the rest.
final class LoginThrottle: Sendable {
    private struct Window {
        var failures: Int
        var startedAt: Date
    }
    private let windows = Mutex<[String: Window]>([:])
    private let addresses = Mutex<[String: Window]>([:])
    private let limit: Int
    private let addressLimit: Int
    private let window: TimeInterval

    init(limit: Int, window: Duration, addressLimit: Int = 30) {
        self.limit = limit
        self.addressLimit = addressLimit
        self.window = window.timeInterval
    }

    /// Counts one sign-in or registration from `client`, whatever the username, or returns the seconds it must wait.
    func attempt(from client: String, now: Date = Date()) -> Int? {
        Self.count(Self.network(of: client), in: addresses, limit: addressLimit, window: window, now: now)
    }

    /// Gives back an address's attempt that signed someone in: the address limit is for guesses and sign-up floods.
    func refund(_ client: String) {
        addresses.withLock { addresses in
            let key = Self.network(of: client)
            if let failures = addresses[key]?.failures, failures > 0 { addresses[key]?.failures = failures - 1 }
        }
    }

    /// The part of an address one client is assumed to hold: all of an IPv4 address, an IPv6 address's /64.
    static func network(of client: String) -> String {
        guard client.contains(":") else { return client }
        var address = in6_addr()
        guard inet_pton(AF_INET6, client, &address) == 1 else { return client }
        return withUnsafeBytes(of: address) { bytes in bytes.prefix(8).map { String(format: "%02x", $0) }.joined() } + "::/64"
    }

    /// Counts one login attempt, or returns the seconds the caller must wait first. The attempt is counted before
    /// the password is checked, in one step, so parallel guesses cannot slip past the limit; a success clears it.
    func attempt(username: String, client: String, now: Date = Date()) -> Int? {
        Self.count(Self.key(username, client), in: windows, limit: limit, window: window, now: now)
    }

    /// Counts one attempt under `key`, or returns the seconds to wait when the window's `limit` is spent.
    private static func count(_ key: String, in windows: borrowing Mutex<[String: Window]>, limit: Int, window: TimeInterval, now: Date)
        -> Int?
    {
        windows.withLock { windows in
            if windows.count > 100_000 {
                windows = windows.filter { now.timeIntervalSince($0.value.startedAt) < window }
            }
            guard let entry = windows[key], now.timeIntervalSince(entry.startedAt) < window else {
                windows[key] = Window(failures: 1, startedAt: now)
                return nil
            }
            guard entry.failures < limit else {
                return max(1, Int((entry.startedAt.timeIntervalSince(now) + window).rounded(.up)))
            }
            windows[key]?.failures = entry.failures + 1
            return nil
        }
    }

    func recordSuccess(username: String, client: String) {
        _ = windows.withLock { $0.removeValue(forKey: Self.key(username, client)) }
    }

    private static func key(_ username: String, _ client: String) -> String {
        username.lowercased() + "\u{0}" + client
    }
}
