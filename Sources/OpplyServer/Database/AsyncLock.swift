import Synchronization

/// A first-come, first-served lock for async code: the SQLite writer connection is used by one task at a time,
/// so two tasks' statements never interleave inside one transaction. A waiter may give up after a timeout (a
/// writer stuck on a locked file must not make every request behind it wait as long).
final class AsyncLock: Sendable {
    private struct State {
        var locked = false
        var nextID = 0
        var waiters: [(id: Int, continuation: CheckedContinuation<Bool, Never>)] = []
    }
    private let state = Mutex(State())

    func withLock<T>(_ body: () async throws -> T) async rethrows -> T {
        _ = await lock(timeout: nil)
        defer { unlock() }
        return try await body()
    }

    /// Runs `body` holding the lock, or throws `timedOut` when the lock was not free within `timeout`.
    func withLock<T>(timeout: Duration, timedOut: @autoclosure () -> any Error, _ body: () async throws -> T) async throws -> T {
        guard await lock(timeout: timeout) else { throw timedOut() }
        defer { unlock() }
        return try await body()
    }

    /// Whether the lock was taken (false: the timeout passed first).
    private func lock(timeout: Duration?) async -> Bool {
        let id = state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        var timer: Alarm?
        let acquired = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let acquired = state.withLock { state in
                if state.locked {
                    state.waiters.append((id, continuation))
                    return false
                }
                state.locked = true
                return true
            }
            if acquired {
                continuation.resume(returning: true)
            } else if let timeout {
                timer = Alarm(after: timeout) { [self] in giveUp(id) }
            }
        }
        timer?.cancel()
        return acquired
    }

    private func giveUp(_ id: Int) {
        let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index).continuation
        }
        waiter?.resume(returning: false)
    }

    private func unlock() {
        let next = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            if state.waiters.isEmpty {
                state.locked = false
                return nil
            }
            return state.waiters.removeFirst().continuation
        }
        next?.resume(returning: true)
    }
}
