import Foundation

/// How the back office writes times, days, money and counts: UTC everywhere, so every member of staff reads the same.
enum Display {
    static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 0) ?? .current
        return calendar
    }()

    /// `2026-12-07 19:21 UTC`.
    static func time(_ date: Date) -> String {
        let c = utc.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        return String(format: "%04d-%02d-%02d %02d:%02d UTC", c.year ?? 0, c.month ?? 0, c.day ?? 0, c.hour ?? 0, c.minute ?? 0)
    }

    /// `2026-12-07`, as a date field shows it.
    static func day(_ date: Date) -> String {
        let c = utc.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", c.year ?? 0, c.month ?? 0, c.day ?? 0)
    }

    /// The start (UTC) of a day written `YYYY-MM-DD`; nil for anything else, an impossible day included.
    static func day(_ text: String) -> Date? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard text.count == 10, parts.count == 3, parts.allSatisfy({ $0.allSatisfy(\.isASCIIDigit) }),
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
            let date = utc.date(from: DateComponents(year: year, month: month, day: day)), Self.day(date) == text
        else { return nil }
        return date
    }

    static func startOfDay(_ date: Date) -> Date { utc.startOfDay(for: date) }

    /// `12.50 EUR`.
    static func money(_ minor: Int) -> String { "\(Money.format(minor)) \(Money.currency)" }

    /// `1,234`, or `10,000+` past `cap`: lists never count further than a page needs.
    static func count(_ n: Int, cap: Int = 10_000) -> String {
        n > cap ? "\(grouped(cap))+" : grouped(n)
    }

    static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return (n < 0 ? "-" : "") + out
    }

    /// A signed stock change: `+7`, `-3`.
    static func delta(_ n: Int) -> String { n > 0 ? "+\(n)" : "\(n)" }

    static func shortID(_ id: UUID) -> String { String(id.uuidString.lowercased().prefix(8)) }
}
