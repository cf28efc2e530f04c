/// What every back-office page shows around its content: the title, the navigation, who is signed in (with the
/// sign-out form's CSRF token) and the outcome of the last form.
struct Layout: Sendable {
    struct NavItem: Sendable {
        let label: String
        let href: String
        let current: Bool
    }

    let title: String
    let stylesheet: String
    let script: String
    let icon: String
    let staff: String?
    let csrf: String?
    let notice: Notice?
    let nav: [NavItem]

    static let sections = [
        ("Dashboard", "/admin/"), ("Orders", "/admin/orders/"), ("Products", "/admin/products/"), ("Categories", "/admin/categories/"),
        ("Customers", "/admin/customers/"), ("Webhooks", "/admin/webhooks/"), ("Audit", "/admin/audit/"),
    ]

    init(_ title: String, section: String? = nil, session: StaffSession?, views: Views) {
        self.title = title
        stylesheet = views.stylesheet.path
        script = views.script.path
        icon = views.icon.path
        staff = session?.staff.username
        csrf = session?.csrf
        notice = session?.flash.flatMap(Notice.init(stored:))
        nav = session == nil ? [] : Self.sections.map { NavItem(label: $0.0, href: $0.1, current: $0.0 == section) }
    }
}

/// The outcome of a form, shown once on the page it leads to: kept in the session between the `POST` and the `GET`.
struct Notice: Sendable {
    let text: String
    let error: Bool

    init(_ text: String, error: Bool = false) {
        self.text = text
        self.error = error
    }

    /// The session's stored form: `ok` or `error`, a newline, the text.
    init?(stored: String) {
        let parts = stored.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        self.init(String(parts[1]), error: parts[0] == "error")
    }

    var stored: String { (error ? "error\n" : "ok\n") + text }
}

/// One choice of a `<select>`: what it sends, what it shows, and whether it is the one chosen.
struct Choice: Sendable {
    let value: String
    let label: String
    let selected: Bool
}
