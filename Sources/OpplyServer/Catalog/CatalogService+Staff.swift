import Foundation
import SQLKit

/// Staff changes to the catalog: each in one transaction with its audit row, then announced to every instance.
extension CatalogService {
    func createCategory(slug: String, name: String, by staff: Customer) async throws -> Category {
        let name = name.trimmingCharacters(in: .whitespacesAndNewlines)
        var problems = Self.problems(name: nil, description: nil, category: slug)
        if !(1...100).contains(name.count) || name.utf8.count > 400 {
            problems.append(FieldProblem("name", "Give a name of 1 to 100 characters."))
        }
        guard problems.isEmpty else { throw AppError.validation(problems) }
        return try await changing { sql in
            guard try await store.insertCategory(slug, name: name, on: sql) else {
                throw AppError.conflict(code: "category_exists", "A category with the slug '\(slug)' already exists.")
            }
            try await StaffAction(by: staff, .categoryCreated, record: slug, "“\(name)”", at: clock.now).record(on: sql)
            return Category(slug: slug, name: name, productCount: 0)
        }
    }

    func create(_ input: NewProduct, staff: Customer) async throws -> Product {
        var problems = Self.problems(name: input.name, description: input.description, category: input.category ?? nil)
        let price = Money.parse(input.price)
        if price == nil { problems.append(Self.priceProblem) }
        if !(0...1_000_000_000).contains(input.quantity) {
            problems.append(FieldProblem("quantity", "Must be a whole number from 0 to 1000000000."))
        }
        guard problems.isEmpty, let price else { throw AppError.validation(problems) }

        let id = UUID()
        let product = try await changing { sql in
            if let category = input.category { try await store.ensureCategory(category, on: sql) }
            try await store.insert(
                id: id, name: input.name, description: input.description ?? "", priceMinor: price, category: input.category, at: clock.now,
                on: sql)
            if input.quantity > 0 {
                _ = try await inventory.adjust(
                    id, by: input.quantity, reason: "initial stock", staff: staff.id, while: CatalogStore.live, on: sql)
            }
            let summary = "“\(input.name)” at \(Money.format(price)), \(input.quantity) in stock"
            try await StaffAction(by: staff, .productCreated, record: id, summary, at: clock.now).record(on: sql)
            return try await store.product(id, on: sql)
        }
        guard let product else { throw AppError.notFound }
        return product
    }

    func update(_ id: UUID, with changes: Changes, by staff: Customer) async throws -> Product {
        var problems = Self.problems(name: changes.name, description: changes.description, category: changes.category ?? nil)
        var price: Int?
        if let raw = changes.price {
            price = Money.parse(raw)
            if price == nil { problems.append(Self.priceProblem) }
        }
        guard problems.isEmpty else { throw AppError.validation(problems) }
        return try await changing { sql in
            guard var product = try await store.product(id, on: sql, lock: true) else { throw AppError.notFound }
            let before = product
            product.name = changes.name ?? product.name
            product.description = changes.description ?? product.description
            product.priceMinor = price ?? product.priceMinor
            if let category = changes.category {
                if let category { try await store.ensureCategory(category, on: sql) }
                product.category = category
            }
            product.updatedAt = clock.now
            try await store.update(product, at: product.updatedAt, on: sql)
            try await StaffAction(by: staff, .productEdited, record: id, Self.summary(from: before, to: product), at: clock.now).record(
                on: sql)
            return product
        }
    }

    /// Archives a product: hidden from the catalog and from carts, kept in past orders. Cart lines are taken out
    /// before the product row is locked (the order every cart path uses), and once more after, for lines that
    /// committed in between.
    func archive(_ id: UUID, by staff: Customer) async throws {
        try await changing { sql in
            try await carts.dropProduct(id, on: sql)
            guard try await store.archive(id, at: clock.now, on: sql) else { throw AppError.notFound }
            try await carts.dropProduct(id, on: sql)
            try await StaffAction(by: staff, .productArchived, record: id, "archived", at: clock.now).record(on: sql)
        }
    }

    func adjust(_ id: UUID, with input: Adjustment, staff: Customer) async throws -> Product {
        var problems: [FieldProblem] = []
        if input.adjustment == 0 || input.adjustment.magnitude > 1_000_000_000 {
            problems.append(FieldProblem("adjustment", "Must be a non-zero whole number of at most 1000000000 units either way."))
        }
        let reason = input.reason.trimmingCharacters(in: .whitespacesAndNewlines)
        if !(1...255).contains(reason.count) || reason.utf8.count > 1_020 {
            problems.append(FieldProblem("reason", "Give a reason of 1 to 255 characters."))
        }
        guard problems.isEmpty else { throw AppError.validation(problems) }
        return try await changing { sql in
            switch try await inventory.adjust(id, by: input.adjustment, reason: reason, staff: staff.id, while: CatalogStore.live, on: sql)
            {
            case .unknownProduct:
                throw AppError.notFound
            case .belowReserved:
                let available = try await inventory.available([id], while: CatalogStore.live, on: sql)[id] ?? 0
                throw AppError.conflict(
                    code: "stock_reserved", "Stock on hand cannot go below what carts hold; at most \(available) units can be removed now.")
            case .adjusted:
                try await store.touch(id, at: clock.now, on: sql)
                guard let product = try await store.product(id, on: sql) else { throw AppError.notFound }
                let change = input.adjustment > 0 ? "+\(input.adjustment)" : "\(input.adjustment)"
                let summary = "\(change) (\(reason)), \(product.quantity) available"
                try await StaffAction(by: staff, .stockAdjusted, record: id, summary, at: clock.now).record(on: sql)
                return product
            }
        }
    }

    func renameCategory(_ slug: String, to name: String, by staff: Customer) async throws -> Category {
        let name = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...100).contains(name.count), name.utf8.count <= 400 else {
            throw AppError.validation(field: "name", "Give a name of 1 to 100 characters.")
        }
        return try await changing { sql in
            guard try await store.renameCategory(slug, to: name, on: sql), let category = try await store.category(slug, on: sql) else {
                throw AppError.notFound
            }
            try await StaffAction(by: staff, .categoryRenamed, record: slug, "renamed “\(name)”", at: clock.now).record(on: sql)
            return category
        }
    }

    /// What an edit changed, for the audit trail: each field's old and new value (descriptions by length only).
    static func summary(from before: Product, to after: Product) -> String {
        var changes: [String] = []
        if before.name != after.name { changes.append("name “\(before.name)” → “\(after.name)”") }
        if before.priceMinor != after.priceMinor {
            changes.append("price \(Money.format(before.priceMinor)) → \(Money.format(after.priceMinor))")
        }
        if before.category != after.category { changes.append("category \(before.category ?? "none") → \(after.category ?? "none")") }
        if before.description != after.description { changes.append("description (\(after.description.count) characters)") }
        return changes.isEmpty ? "no change" : changes.joined(separator: "; ")
    }

    /// Runs a staff change in a transaction, then tells every instance (which also holds replica reads back until
    /// the replica has the change) and drops the cache here.
    private func changing<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        let result = try await store.primary.transaction(body)
        await announcer.catalogChanged()
        cache.invalidate()
        return result
    }
}
