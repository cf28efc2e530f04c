import Foundation
import Synchronization
import Testing

@testable import OpplyServer

/// The queue a hot product's orders wait in: bounded, first come first served, never across products.
@Suite struct ProductTurnsTests {
    /// Counts the orders inside at once and the most there ever were.
    final class Inside: Sendable {
        private let counts = Mutex((now: 0, most: 0))
        func enter() {
            counts.withLock {
                $0.now += 1
                $0.most = max($0.most, $0.now)
            }
        }
        func leave() { counts.withLock { $0.now -= 1 } }
        var most: Int { counts.withLock { $0.most } }
    }

    /// What ran, in the order it ran.
    final class Log: Sendable {
        private let entries = Mutex<[Int]>([])
        func append(_ entry: Int) { entries.withLock { $0.append(entry) } }
        var all: [Int] { entries.withLock { $0 } }
    }

    @Test func atMostPerProductOrdersOfOneProductAreInsideAndAllGetTheirTurn() async throws {
        let turns = ProductTurns(perProduct: 3, patience: .seconds(30))
        let product = UUID()
        let inside = Inside()
        let done = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<40 {
                group.addTask {
                    try await turns.inTurn(for: [product]) {
                        inside.enter()
                        try await Task.sleep(for: .milliseconds(2))
                        inside.leave()
                        return 1
                    }
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(done == 40)
        #expect(inside.most == 3)
    }

    @Test func waitersGoInInArrivalOrder() async throws {
        let turns = ProductTurns(perProduct: 1, patience: .seconds(30))
        let product = UUID()
        let order = Log()
        let (holding, held) = AsyncStream.makeStream(of: Void.self)
        let (released, release) = AsyncStream.makeStream(of: Void.self)
        async let first: Void = turns.inTurn(for: [product]) {
            held.yield()
            for await _ in released { break }
        }
        for await _ in holding { break }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<5 {
                group.addTask { try await turns.inTurn(for: [product]) { order.append(index) } }
                try await Task.sleep(for: .milliseconds(20))  // each waiter queues before the next starts
            }
            release.yield()
            try await group.waitForAll()
        }
        try await first
        #expect(order.all == [0, 1, 2, 3, 4])
    }

    @Test func anOrderForAnotherProductDoesNotWaitAndOneGivenItsTurnTooLateGets503() async throws {
        let turns = ProductTurns(perProduct: 1, patience: .milliseconds(100))
        let hot = UUID()
        let (holding, held) = AsyncStream.makeStream(of: Void.self)
        async let first: Void = turns.inTurn(for: [hot]) {
            held.yield()
            try await Task.sleep(for: .milliseconds(400))
        }
        for await _ in holding { break }
        #expect(try await turns.inTurn(for: [UUID()]) { true })
        // A two-product order waits for the hot one's turn, gets it after its patience, goes not in, and holds nothing.
        let other = UUID()
        let ran = Log()
        await #expect {
            try await turns.inTurn(for: [other, hot]) { ran.append(1) }
        } throws: { ($0 as? AppError)?.code == "database_unavailable" }
        #expect(ran.all.isEmpty)
        try await first
        #expect(try await turns.inTurn(for: [other]) { true })
        #expect(try await turns.inTurn(for: [hot]) { true })
    }
}
