import Foundation

/// The rules for usernames, e-mails and names, shared by registration and changes (and the CLI).
extension IdentityService {
    /// A username or e-mail as it is stored and looked up: trimmed and in Unicode NFC, so one name typed with a
    /// precomposed `é` or with `e` and a combining accent is the same account.
    static func normalized(_ text: String) -> String {
        text.trimmingCharacters(in: .whitespaces).precomposedStringWithCanonicalMapping
    }

    /// Django's rule (`^[\w.@+-]+\Z`), on Unicode scalars: letters and digits of any script and `@.+-_`, nothing
    /// else (no combining marks left after NFC), 1 to 150 of them.
    static func usernameProblem(_ username: String) -> String? {
        let allowed: Set<Unicode.Scalar> = ["@", ".", "+", "-", "_"]
        let letterOrDigit: Set<Unicode.GeneralCategory> = [
            .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter, .decimalNumber, .letterNumber,
            .otherNumber,
        ]
        guard (1...150).contains(username.unicodeScalars.count) else { return "Enter a username of 1 to 150 characters." }
        guard username.unicodeScalars.allSatisfy({ allowed.contains($0) || letterOrDigit.contains($0.properties.generalCategory) })
        else {
            return "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."
        }
        return nil
    }

    /// An address of at most 254 bytes (RFC 5321), its local part at most 64, a domain of letter-or-digit labels.
    static func emailProblem(_ email: String) -> String? {
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        let invalid = "Enter a valid email address."
        guard email.utf8.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[0].utf8.count <= 64,
            !email.contains(where: { $0.isWhitespace || $0.isNewline })
        else { return invalid }
        let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2,
            labels.allSatisfy({
                !$0.isEmpty && $0.count <= 63 && !$0.hasPrefix("-") && !$0.hasSuffix("-")
                    && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" }
            })
        else { return invalid }
        return nil
    }

    static func nameProblems(first: String?, last: String?) -> [FieldProblem] {
        var problems: [FieldProblem] = []
        for (field, name) in [("first_name", first), ("last_name", last)] {
            if let name, name.count > 150 || name.utf8.count > 600 {
                problems.append(FieldProblem(field, "Ensure this field has no more than 150 characters."))
            }
        }
        return problems
    }
}
