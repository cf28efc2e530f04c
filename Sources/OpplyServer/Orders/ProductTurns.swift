import Foundation
import Synchronization

/// Orders for one product take turns in this instance, first come first served, so that at most `perProduct` of
/// them are in the database at once. On a hot product the rest wait here, in arrival order, instead of each holding
/// a pooled connection while it queues on the product's row in PostgreSQL; the row's queue stays short and the
/// waits even (`Benchmarks/run.sh pg-orders`, README). Orders for other products never wait.
final class ProductTurns: Sendable {
    let perProduct: Int
    /// How long an order may wait for its turn: one that gets it later answers `503` instead of going in, as when no
    /// database connection comes in time. No timer per waiter: the
    /// orders inside end within about the same time (they wait as long for a connection), and whenever one ends,
    /// every waiter past its time is turned away at once.
    let patience: Duration

    fileprivate struct Waiter {
        let deadline: ContinuousClock.Instant
        let admit: CheckedContinuation<Bool, Never>
    }
    fileprivate struct Queue {
        var inside = 0
        var waiting: [Waiter] = []  // a few dozen at most: removing the first is cheap
    }
    private let queues = Mutex<[UUID: Queue]>([:])

    init(perProduct: Int, patience: Duration) {
        self.perProduct = perProduct
        self.patience = patience
    }

    /// Runs `body` once it is the turn of every product in `products` (taken in ascending order, so orders with
    /// several products never wait for each other in a circle); `503` when a turn does not come within `patience`.
    func inTurn<T>(for products: [UUID], _ body: () async throws -> T) async throws -> T {
        var entered: [UUID] = []
        defer { for product in entered { leave(product) } }
        for product in Set(products).inLockOrder() {
            guard await enter(product) else { throw AppError.databaseUnavailable() }
            entered.append(product)
        }
        return try await body()
    }

    /// Whether this order got its turn for `product`: at once (no suspension, the usual case), or from the queue in time.
    private func enter(_ product: UUID) async -> Bool {
        if queues.withLock({ $0.admit(product, perProduct: perProduct) }) { return true }
        let deadline = ContinuousClock.now + patience
        return await withCheckedContinuation { admit in
            let now = queues.withLock { queues -> Bool in
                if queues.admit(product, perProduct: perProduct) { return true }  // a place freed meanwhile
                queues[product, default: Queue()].waiting.append(Waiter(deadline: deadline, admit: admit))
                return false
            }
            if now { admit.resume(returning: true) }
        }
    }

    /// Ends `product`'s turn for one order: the leaving order's place goes to the first waiter still in time, every
    /// waiter before it past its time is turned away, and an empty queue is forgotten.
    private func leave(_ product: UUID) {
        let (late, next) = queues.withLock { queues -> ([Waiter], Waiter?) in
            guard var queue = queues.removeValue(forKey: product) else { return ([], nil) }  // mutated unshared
            var late: [Waiter] = []
            var next: Waiter?
            while !queue.waiting.isEmpty {
                let waiter = queue.waiting.removeFirst()
                if waiter.deadline < ContinuousClock.now {
                    late.append(waiter)
                } else {
                    next = waiter
                    break
                }
            }
            if next == nil { queue.inside -= 1 }
            if queue.inside > 0 || !queue.waiting.isEmpty { queues[product] = queue }
            return (late, next)
        }
        for waiter in late { waiter.admit.resume(returning: false) }
        next?.admit.resume(returning: true)
    }
}

extension [UUID: ProductTurns.Queue] {
    /// Lets one more order in for `product` when fewer than `perProduct` are inside.
    fileprivate mutating func admit(_ product: UUID, perProduct: Int) -> Bool {
        guard self[product, default: ProductTurns.Queue()].inside < perProduct else { return false }
        self[product, default: ProductTurns.Queue()].inside += 1
        return true
    }
}
