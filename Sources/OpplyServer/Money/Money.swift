/// Money as integer minor units (cents), parsed from and printed as the API's two-decimal strings.
/// No floating point anywhere on the money path.
enum Money {
    static let currency = "EUR"
    static let maxMinor = 1_000_000_000  // 10,000,000.00

    /// `"12.50"`, `"12.5"` or `"12"` → 1250; nil for negatives, more than two decimals, or over 10,000,000.00.
    static func parse(_ text: String) -> Int? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.count <= 8, whole.allSatisfy(\.isASCIIDigit) else { return nil }
        var cents = 0
        if parts.count == 2 {
            let fraction = parts[1]
            guard (1...2).contains(fraction.count), fraction.allSatisfy(\.isASCIIDigit) else { return nil }
            cents = Int(fraction.count == 1 ? fraction + "0" : fraction) ?? 0
        }
        guard let units = Int(whole) else { return nil }
        let minor = units * 100 + cents
        return minor <= maxMinor ? minor : nil
    }

    static func format(_ minor: Int) -> String {
        let sign = minor < 0 ? "-" : ""
        let magnitude = minor.magnitude
        let cents = magnitude % 100
        return "\(sign)\(magnitude / 100).\(cents < 10 ? "0" : "")\(cents)"
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
