import Foundation
import Synchronization

/// Orders arriving while batches are being written wait here and form the next batch, so that many orders share one
/// transaction and one commit instead of each paying its own (docs/decisions/029). At most `writers` batches are
/// written at once, and a new one starts only for an order whose products no batch being written holds: orders for a
/// hot product wait for the one batch that has it and go together in the next, rather than each starting a batch
/// that would queue on the product's row. An order that finds nothing waiting, a writer free and its products free is
/// written at once by its own task: no order ever waits for a timer. At most `queueBound` orders wait; one more is
/// answered `503` with `Retry-After`, never queued without end.
final class OrderCombiner: Sendable {
    /// Writes one batch, in arrival order, and gives each order its outcome, in the same order.
    typealias Write = @Sendable ([OrderRequest]) async -> [Result<PlacedOrder, any Error>]

    let batchSize: Int
    let queueBound: Int
    let writers: Int
    private let write: Write

    private struct Waiting {
        let request: OrderRequest
        let answer: CheckedContinuation<PlacedOrder, any Error>
    }
    private struct State {
        var waiting: [Waiting] = []
        var writing = 0
        /// The products of the batches being written, with how many batches hold each.
        var held: [UUID: Int] = [:]

        /// Whether a new batch may start for `products` now (and if so, it has started).
        mutating func start(for products: [UUID], writers: Int) -> Bool {
            guard writing < writers, !products.contains(where: { held[$0] != nil }) else { return false }
            writing += 1
            return true
        }

        mutating func hold(_ products: [UUID]) { for product in products { held[product, default: 0] += 1 } }

        mutating func release(_ products: [UUID]) {
            for product in products {
                held[product, default: 1] -= 1
                if held[product] == 0 { held[product] = nil }
            }
        }

        /// The next batch for a writer (one that just finished has released its products): up to `size` waiting
        /// orders, in arrival order, whose products no other batch holds; nil when there is none, and the writer stops
        /// (the batches holding the rest take them next).
        mutating func next(_ size: Int) -> [Waiting]? {
            var batch: [Waiting] = []
            var rest: [Waiting] = []
            for order in waiting {
                if batch.count < size, !order.request.products.contains(where: { held[$0] != nil }) {
                    batch.append(order)
                } else {
                    rest.append(order)
                }
            }
            guard !batch.isEmpty else {
                writing -= 1
                return nil
            }
            waiting = rest
            hold(batch.flatMap { $0.request.products })
            return batch
        }
    }
    private let state = Mutex(State())

    init(batchSize: Int, queueBound: Int, writers: Int, write: @escaping Write) {
        self.batchSize = batchSize
        self.queueBound = queueBound
        self.writers = writers
        self.write = write
    }

    /// How many orders wait for their batch now.
    var waiting: Int { state.withLock { $0.waiting.count } }

    /// Places `request` with the next batch, and answers once that batch's transaction has committed (or failed).
    func place(_ request: OrderRequest) async throws -> PlacedOrder {
        let products = request.products
        let alone = state.withLock { state in
            guard state.waiting.isEmpty, state.start(for: products, writers: writers) else { return false }
            state.hold(products)
            return true
        }
        if alone {
            let outcome = await write([request]).first ?? .failure(DatabaseUnavailable())
            let more = state.withLock { state in
                state.release(products)
                return state.next(batchSize)
            }
            if let more { Task { await writeBatches(from: more) } }
            return try outcome.get()
        }
        return try await withCheckedThrowingContinuation { answer in
            let start = state.withLock { state -> [Waiting]?? in
                guard state.waiting.count < queueBound else { return nil }
                state.waiting.append(Waiting(request: request, answer: answer))
                guard state.start(for: products, writers: writers) else { return .some(nil) }
                return .some(state.next(batchSize))
            }
            switch start {
            case nil: answer.resume(throwing: AppError.busy(retryAfter: 1))
            case .some(let batch?): Task { await writeBatches(from: batch) }
            case .some(nil): break
            }
        }
    }

    /// Writes `batch`, then batch after batch of what waits, each up to `batchSize` orders, until nothing does.
    private func writeBatches(from batch: [Waiting]) async {
        var batch = batch
        while true {
            let outcomes = await write(batch.map(\.request))
            for (index, waiting) in batch.enumerated() {
                waiting.answer.resume(with: index < outcomes.count ? outcomes[index] : .failure(DatabaseUnavailable()))
            }
            let done = batch.flatMap { $0.request.products }
            guard
                let next = state.withLock({ state in
                    state.release(done)
                    return state.next(batchSize)
                })
            else { return }
            batch = next
        }
    }
}

extension OrderRequest {
    /// The products an order names before its transaction (a cart's are known only inside it).
    var products: [UUID] {
        if case .lines(let lines) = wanted { return lines.map(\.product) }
        return []
    }
}
