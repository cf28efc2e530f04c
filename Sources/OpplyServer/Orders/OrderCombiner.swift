import Synchronization

/// Orders arriving while a batch is being written wait here and form the next batch, so that many orders share one
/// transaction and one commit instead of each paying its own (docs/decisions/029). An order arriving when nothing is
/// being written starts a batch at once: no order ever waits for a timer. At most `queueBound` orders wait; one more
/// is answered `503` with `Retry-After`, never queued without end.
final class OrderCombiner: Sendable {
    /// Writes one batch, in arrival order, and gives each order its outcome, in the same order.
    typealias Write = @Sendable ([OrderRequest]) async -> [Result<PlacedOrder, any Error>]

    let batchSize: Int
    let queueBound: Int
    private let write: Write

    private struct Waiting {
        let request: OrderRequest
        let answer: CheckedContinuation<PlacedOrder, any Error>
    }
    private struct State {
        var waiting: [Waiting] = []
        var writing = false
    }
    private let state = Mutex(State())

    init(batchSize: Int, queueBound: Int, write: @escaping Write) {
        self.batchSize = batchSize
        self.queueBound = queueBound
        self.write = write
    }

    /// Places `request` with the next batch, and answers once that batch's transaction has committed (or failed).
    func place(_ request: OrderRequest) async throws -> PlacedOrder {
        try await withCheckedThrowingContinuation { answer in
            let start = state.withLock { state -> Bool? in
                guard state.waiting.count < queueBound else { return nil }
                state.waiting.append(Waiting(request: request, answer: answer))
                guard !state.writing else { return false }
                state.writing = true
                return true
            }
            switch start {
            case nil: answer.resume(throwing: AppError.busy(retryAfter: 1))
            case true?: Task { await writeUntilEmpty() }
            case false?: break
            }
        }
    }

    /// Writes batch after batch of what is waiting, each up to `batchSize` orders, until nothing is.
    private func writeUntilEmpty() async {
        while let batch = nextBatch() {
            let outcomes = await write(batch.map(\.request))
            for (waiting, outcome) in zip(batch, outcomes) { waiting.answer.resume(with: outcome) }
        }
    }

    private func nextBatch() -> [Waiting]? {
        state.withLock { state in
            guard !state.waiting.isEmpty else {
                state.writing = false
                return nil
            }
            let batch = Array(state.waiting.prefix(batchSize))
            state.waiting.removeFirst(batch.count)
            return batch
        }
    }
}
