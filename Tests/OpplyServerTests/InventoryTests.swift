import Foundation
import SQLKit
import Testing

@testable import OpplyServer

/// Hammers each stock operation with concurrent callers, each in its own transaction, as requests would.
@Suite struct InventoryTests {
    func product(_ shop: Shop, stock: Int) async throws -> UUID {
        let id = UUID()
        try await shop.database.transaction { sql in
            try await shop.catalog.store.insert(
                id: id, name: "Last units", description: "", priceMinor: 100, category: nil, at: Date(), on: sql)
            _ = try await shop.inventory.adjust(id, by: stock, reason: "test stock", staff: nil, while: CatalogStore.live, on: sql)
        }
        return id
    }

    func levels(_ shop: Shop, _ id: UUID) async throws -> (onHand: Int, reserved: Int) {
        try await shop.database.read { sql in
            let row = try #require(try await sql.select().columns("on_hand", "reserved").from("products").where("id", .equal, id).first())
            return (try row.decode(column: "on_hand", as: Int.self), try row.decode(column: "reserved", as: Int.self))
        }
    }

    func concurrently(_ count: Int, _ body: @escaping @Sendable (Int) async throws -> Bool) async throws -> Int {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<count { group.addTask { try await body(index) } }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
    }

    @Test(arguments: TestStore.all)
    func fortyConcurrentReservationsOfOneUnitOnTenSucceedTenTimes(store: TestStore) async throws {
        try await withShop(store) { _, shop in
            let id = try await product(shop, stock: 10)
            let reserved = try await concurrently(40) { _ in
                try await shop.database.transaction { try await shop.inventory.reserve(id, 1, while: CatalogStore.live, on: $0) }
            }
            #expect(reserved == 10)
            let level = try await levels(shop, id)
            #expect(level.onHand == 10 && level.reserved == 10)
        }
    }

    @Test(arguments: TestStore.all)
    func fiftyConcurrentTakesOfOneUnitOnTenSucceedTenTimes(store: TestStore) async throws {
        try await withShop(store) { _, shop in
            let id = try await product(shop, stock: 10)
            let taken = try await concurrently(50) { _ in
                try await shop.database.transaction { try await shop.inventory.take(id, 1, on: $0) }
            }
            #expect(taken == 10)
            let level = try await levels(shop, id)
            #expect(level.onHand == 0 && level.reserved == 0)
        }
    }

    @Test(arguments: TestStore.all)
    func mixedOperationsKeepTheBooksBalanced(store: TestStore) async throws {
        try await withShop(store) { _, shop in
            let id = try await product(shop, stock: 20)
            // Each task reserves 2 and then either takes them (an order) or releases them (an abandoned cart);
            // a third of the tasks also try a direct take of 1 and put it back (a cancelled order).
            let succeeded = try await concurrently(30) { index in
                let reserved = try await shop.database.transaction {
                    try await shop.inventory.reserve(id, 2, while: CatalogStore.live, on: $0)
                }
                if reserved {
                    try await shop.database.transaction { sql in
                        if index % 2 == 0 {
                            _ = try await shop.inventory.take(id, 2, reserved: true, on: sql)
                        } else {
                            try await shop.inventory.release(id, 2, on: sql)
                        }
                    }
                }
                if index % 3 == 0, try await shop.database.transaction({ try await shop.inventory.take(id, 1, on: $0) }) {
                    try await shop.database.transaction { try await shop.inventory.putBack(id, 1, on: $0) }
                }
                return reserved && index % 2 == 0
            }
            let level = try await levels(shop, id)
            #expect(level.reserved == 0)
            #expect(level.onHand == 20 - 2 * succeeded)
            #expect(level.onHand >= 0)
        }
    }

    @Test(arguments: TestStore.all)
    func concurrentWriteOffsNeverGoBelowReserved(store: TestStore) async throws {
        try await withShop(store) { _, shop in
            let id = try await product(shop, stock: 10)
            _ = try await shop.database.transaction { try await shop.inventory.reserve(id, 4, while: CatalogStore.live, on: $0) }
            let adjusted = try await concurrently(20) { _ in
                try await shop.database.transaction {
                    try await shop.inventory.adjust(id, by: -1, reason: "write-off", staff: nil, while: CatalogStore.live, on: $0)
                }
                    == .adjusted
            }
            #expect(adjusted == 6)
            let level = try await levels(shop, id)
            #expect(level.onHand == 4 && level.reserved == 4)
        }
    }

    @Test(arguments: TestStore.all)
    func releasingMoreThanIsReservedIsRefusedAndRolledBack(store: TestStore) async throws {
        try await withShop(store) { _, shop in
            let id = try await product(shop, stock: 5)
            await #expect(throws: StockInvariantBroken.self) {
                try await shop.database.transaction { sql in
                    _ = try await shop.inventory.take(id, 1, on: sql)
                    try await shop.inventory.release(id, 1, on: sql)
                }
            }
            let level = try await levels(shop, id)
            #expect(level.onHand == 5 && level.reserved == 0, "the take was rolled back with the failed release")
            try await shop.expectStockInvariants()
        }
    }
}
