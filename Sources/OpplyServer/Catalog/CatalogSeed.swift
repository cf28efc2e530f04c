import Foundation
import SQLKit

/// A demo catalog: realistic food and drink products across 20 categories, inserted in batches.
extension Shop {
    static let seedCategories: [(slug: String, nouns: [String], price: ClosedRange<Int>)] = [
        ("coffee", ["Espresso Beans", "Filter Coffee", "Cold Brew Concentrate", "Decaf Beans"], 599...2_499),
        ("tea", ["Green Tea", "Earl Grey", "Chai Blend", "Rooibos", "Sencha"], 299...1_899),
        ("plant-milks", ["Oat Milk", "Almond Milk", "Soy Milk", "Coconut Drink", "Pea Milk"], 149...449),
        ("juices", ["Orange Juice", "Apple Juice", "Pressed Beetroot", "Carrot Ginger Shot"], 199...699),
        ("soft-drinks", ["Sparkling Lemonade", "Ginger Beer", "Tonic Water", "Cola"], 99...399),
        ("mineral-water", ["Still Water", "Sparkling Water", "Alkaline Water"], 49...249),
        ("beer", ["Pale Ale", "Pilsner", "Stout", "IPA", "Wheat Beer"], 149...599),
        ("wine", ["Rioja", "Pinot Grigio", "Sauvignon Blanc", "Malbec", "Prosecco"], 699...3_999),
        ("spirits", ["London Dry Gin", "Spiced Rum", "Single Malt", "Vodka"], 1_999...6_999),
        ("snacks", ["Sea Salt Crisps", "Trail Mix", "Rice Cakes", "Pretzels"], 99...499),
        ("chocolate", ["Dark Chocolate 70%", "Milk Chocolate", "Hazelnut Praline", "Cocoa Nibs"], 149...799),
        ("bakery", ["Sourdough Loaf", "Rye Bread", "Croissants", "Bagels"], 199...699),
        ("dairy", ["Greek Yoghurt", "Aged Cheddar", "Butter", "Kefir"], 129...899),
        ("cereals", ["Granola", "Porridge Oats", "Muesli", "Bran Flakes"], 199...699),
        ("pasta-and-rice", ["Spaghetti", "Penne", "Basmati Rice", "Arborio Rice"], 99...499),
        ("sauces", ["Tomato Passata", "Pesto", "Hot Sauce", "Soy Sauce"], 149...599),
        ("oils-and-vinegars", ["Extra Virgin Olive Oil", "Balsamic Vinegar", "Rapeseed Oil"], 299...1_999),
        ("spices", ["Smoked Paprika", "Ground Cumin", "Black Pepper", "Turmeric"], 149...599),
        ("frozen", ["Frozen Berries", "Garden Peas", "Vanilla Ice Cream", "Edamame"], 199...799),
        ("kombucha", ["Ginger Kombucha", "Raspberry Kombucha", "Original Kombucha"], 249...499),
    ]
    static let seedMakers = ["Alpine", "Harvest", "Nordic", "Sunrise", "Meadow", "Coastal", "Old Mill", "Wild Valley", "Urban", "Terra"]
    static let seedSizes = ["250 g", "500 g", "1 kg", "330 ml", "500 ml", "1 l", "6 x 330 ml", "12 pack"]

    /// Inserts `products` demo products (with stock) in batches of `batchSize`, each batch one transaction; `progress`
    /// hears how many are in after each batch. 5,000 a batch keeps within PostgreSQL's 65,535 binds a statement (9 a
    /// product, 7 an adjustment).
    public func seedCatalog(products count: Int, batchSize: Int = 5_000, progress: (Int) -> Void = { _ in }) async throws {
        var generator = SystemRandomNumberGenerator()
        try await database.transaction { sql in
            for category in Self.seedCategories {
                try await catalog.store.ensureCategory(category.slug, on: sql)
            }
        }
        var made = 0
        while made < count {
            let size = min(batchSize, count - made)
            var batch: [(id: UUID, name: String, description: String, priceMinor: Int, category: String)] = []
            var stock: [(UUID, Int)] = []
            for index in made..<(made + size) {
                let category = Self.seedCategories[index % Self.seedCategories.count]
                let noun = category.nouns.randomElement(using: &generator) ?? "Product"
                let maker = Self.seedMakers.randomElement(using: &generator) ?? "House"
                let packSize = Self.seedSizes.randomElement(using: &generator) ?? "1 unit"
                let id = UUID()
                batch.append(
                    (
                        id, "\(maker) \(noun) \(packSize) #\(index + 1)",
                        "\(noun) from \(maker), \(packSize). Supplied to cafés, restaurants and shops.",
                        Int.random(in: category.price, using: &generator), category.slug
                    ))
                stock.append((id, Int.random(in: 0...500, using: &generator)))
            }
            let now = clock.now
            try await database.transaction { sql in
                try await catalog.store.insert(batch: batch, at: now, on: sql)
                try await inventory.stockNewProducts(stock.filter { $0.1 > 0 }, reason: "seed", on: sql)
            }
            made += size
            progress(made)
        }
        catalog.cache.invalidate()
    }
}
