import Foundation
import Synchronization

/// Counts failed logins per (username, client address) in memory; past the limit a login answers `429`
/// until the window ends. Per instance by design: it slows guessing, the bcrypt cost does the rest.
final class LoginThrottle: Sendable {
    private struct Window { var failures: Int; var startedAt: Date }
    private let windows = Mutex<[String: Window]>([:])
    private let limit: Int
    private let window: TimeInterval

    init(limit: Int, window: Duration) {
        self.limit = limit
        self.window = window.timeInterval
    }

    /// Seconds the caller must wait before trying again, or nil when a login may be attempted.
    func retryAfter(username: String, client: String, now: Date = Date()) -> Int? {
        windows.withLock { windows in
            guard let entry = windows[Self.key(username, client)] else { return nil }
            let remaining = entry.startedAt.timeIntervalSince(now) + window
            guard remaining > 0 else { return nil }
            return entry.failures >= limit ? max(1, Int(remaining.rounded(.up))) : nil
        }
    }

    func recordFailure(username: String, client: String, now: Date = Date()) {
        windows.withLock { windows in
            if windows.count > 100_000 {
                windows = windows.filter { now.timeIntervalSince($0.value.startedAt) < window }
            }
            let key = Self.key(username, client)
            if let entry = windows[key], now.timeIntervalSince(entry.startedAt) < window {
                windows[key]?.failures = entry.failures + 1
            } else {
                windows[key] = Window(failures: 1, startedAt: now)
            }
        }
    }

    func recordSuccess(username: String, client: String) {
        _ = windows.withLock { $0.removeValue(forKey: Self.key(username, client)) }
    }

    private static func key(_ username: String, _ client: String) -> String {
        username.lowercased() + "\u{0}" + client
    }
}
