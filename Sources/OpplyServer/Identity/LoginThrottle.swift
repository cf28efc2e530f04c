import Foundation
import Synchronization

/// Counts login attempts per (username, client address) in memory; past the limit a login answers `429`
/// until the window ends. Per instance by design: it slows guessing, the bcrypt cost does the rest.
final class LoginThrottle: Sendable {
    private struct Window {
        var failures: Int
        var startedAt: Date
    }
    private let windows = Mutex<[String: Window]>([:])
    private let limit: Int
    private let window: TimeInterval

    init(limit: Int, window: Duration) {
        self.limit = limit
        self.window = window.timeInterval
    }

    /// Counts one login attempt, or returns the seconds the caller must wait first. The attempt is counted before
    /// the password is checked, in one step, so parallel guesses cannot slip past the limit; a success clears it.
    func attempt(username: String, client: String, now: Date = Date()) -> Int? {
        windows.withLock { windows in
            if windows.count > 100_000 {
                windows = windows.filter { now.timeIntervalSince($0.value.startedAt) < window }
            }
            let key = Self.key(username, client)
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
