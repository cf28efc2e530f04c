/// The HTML of the API reference page, written out from an `APIReference`. Every text from the document goes through
/// `escape`; descriptions get a little Markdown (paragraphs, `-` lists, `code`). No inline style or script: the page
/// lives under the back office's `default-src 'self'` policy and uses its stylesheet.
struct ReferencePage {
    let reference: APIReference
    let stylesheet: String
    let icon: String

    /// Text made safe to put in HTML content and in quoted attributes.
    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    static func schemaAnchor(_ name: String) -> String { "schema-" + OpenAPIReader.slug(name) }
    static func tagAnchor(_ name: String) -> String { "tag-" + OpenAPIReader.slug(name) }

    var html: String {
        let title = Self.escape(reference.title)
        var html = """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>API reference · \(title)</title>
            <link rel="icon" href="\(Self.escape(icon))" type="image/svg+xml">
            <link rel="stylesheet" href="\(Self.escape(stylesheet))">
            </head>
            <body>
            <a class="skip" href="#main">Skip to content</a>
            <header class="top"><a class="brand" href="/">Opply <span>API reference</span></a></header>
            <main id="main" class="docs">
            <h1>\(title) <span class="docs-version">\(Self.escape(reference.version))</span></h1>
            <p>Rendered from <a href="/openapi.yaml">/openapi.yaml</a>, the contract the server is tested against.</p>

            """
        html += contents()
        html += "<section id=\"introduction\">\n<h2>Introduction</h2>\n\(Self.prose(reference.introduction))</section>\n"
        for group in reference.groups {
            html += "<section class=\"docs-tag\" id=\"\(Self.tagAnchor(group.tag))\">\n<h2>\(Self.escape(group.tag))</h2>\n"
            html += Self.prose(group.description) + group.operations.map(operation).joined() + "</section>\n"
        }
        if !reference.webhooks.isEmpty {
            html += "<section class=\"docs-tag\" id=\"webhooks\">\n<h2>Webhooks</h2>\n"
            html += "<p>What the shop sends to a registered endpoint.</p>\n"
            html += reference.webhooks.map(operation).joined() + "</section>\n"
        }
        html += "<section id=\"schemas\">\n<h2>Schemas</h2>\n" + reference.schemas.map(schema).joined() + "</section>\n"
        return html + "</main>\n</body>\n</html>\n"
    }

    /// The table of contents: every tag and operation, the webhooks and the schemas.
    private func contents() -> String {
        func entries(_ operations: [APIReference.Operation]) -> String {
            let items = operations.map { operation in
                "<li><a href=\"#\(operation.anchor)\">\(Self.method(operation.method)) <code>\(Self.escape(operation.path))</code></a> "
                    + "<span class=\"docs-summary\">\(Self.inline(operation.summary))</span></li>\n"
            }
            return "<ol class=\"docs-ops\">\n" + items.joined() + "</ol>\n"
        }
        var html = "<nav class=\"docs-toc\" aria-labelledby=\"contents\">\n<h2 id=\"contents\">Contents</h2>\n<ol>\n"
        html += "<li><a href=\"#introduction\">Introduction</a></li>\n"
        for group in reference.groups {
            html += "<li><a href=\"#\(Self.tagAnchor(group.tag))\">\(Self.escape(group.tag))</a>\n" + entries(group.operations) + "</li>\n"
        }
        if !reference.webhooks.isEmpty { html += "<li><a href=\"#webhooks\">Webhooks</a>\n" + entries(reference.webhooks) + "</li>\n" }
        let schemas = reference.schemas.map { "<a href=\"#\(Self.schemaAnchor($0.name))\">\(Self.escape($0.name))</a>" }
        html += "<li><a href=\"#schemas\">Schemas</a>\n<p class=\"docs-schema-list\">" + schemas.joined(separator: " ") + "</p></li>\n"
        return html + "</ol>\n</nav>\n"
    }

    private func operation(_ operation: APIReference.Operation) -> String {
        var html = "<section class=\"docs-op\" id=\"\(operation.anchor)\">\n"
        html += "<h3>\(Self.method(operation.method)) <code>\(Self.escape(operation.path))</code></h3>\n"
        html += "<p class=\"docs-summary\">\(Self.inline(operation.summary))</p>\n"
        html += "<p class=\"docs-access\">Who may call it: \(Self.access(operation.access))</p>\n"
        html += Self.prose(operation.description)
        if !operation.parameters.isEmpty {
            let rows = operation.parameters.map { parameter in
                Self.row([
                    "<code>\(Self.escape(parameter.name))</code>", Self.escape(parameter.location), parameter.required ? "yes" : "no",
                    Self.type(parameter.shape), Self.inline(parameter.description),
                ])
            }
            html += "<h4>Parameters</h4>\n" + Self.table(["Name", "In", "Required", "Type", "Description"], rows)
        }
        if let body = operation.body {
            html += "<h4>Request body</h4>\n<p>\(body.required ? "Required." : "Optional.") \(Self.inline(body.description))</p>\n"
            html += "<ul class=\"docs-contents\">\n" + body.contents.map { "<li>\(Self.content($0))</li>\n" }.joined() + "</ul>\n"
        }
        let rows = operation.answers.map { answer in
            Self.row([
                "<span class=\"docs-status\">\(Self.escape(answer.status))</span>", Self.prose(answer.description),
                answer.contents.map(Self.content).joined(separator: "<br>"),
            ])
        }
        html += "<h4>Answers</h4>\n" + Self.table(["Status", "Description", "Body"], rows)
        return html + "</section>\n"
    }

    private func schema(_ schema: APIReference.Schema) -> String {
        var html = "<section class=\"docs-schema\" id=\"\(Self.schemaAnchor(schema.name))\">\n"
        html += "<h3>\(Self.escape(schema.name))</h3>\n<p class=\"docs-type\">Type: \(Self.type(schema.shape))"
        if !schema.extends.isEmpty {
            html += "; extends " + schema.extends.map { Self.type(.reference($0)) }.joined(separator: ", ")
        }
        html += "</p>\n" + Self.prose(schema.description)
        if !schema.properties.isEmpty {
            let rows = schema.properties.map { property in
                Self.row([
                    "<code>\(Self.escape(property.name))</code>", Self.type(property.shape), property.required ? "yes" : "no",
                    Self.inline(property.description),
                ])
            }
            html += Self.table(["Property", "Type", "Required", "Description"], rows)
        }
        return html + "</section>\n"
    }
}

extension ReferencePage {
    private static func method(_ method: String) -> String {
        "<span class=\"docs-method docs-\(escape(method.lowercased()))\">\(escape(method))</span>"
    }

    private static func access(_ access: APIReference.Access) -> String {
        switch access {
        case .anyone: return "<strong class=\"docs-anyone\">anyone</strong> (no token needed)"
        case .customer: return "<strong class=\"docs-customer\">a signed-in customer</strong> (<code>Authorization: Bearer</code>)"
        case .staff: return "<strong class=\"docs-staff\">staff</strong> only (a staff account's bearer token)"
        case .shop: return "<strong class=\"docs-shop\">the shop</strong>, calling your endpoint"
        }
    }

    private static func content(_ content: APIReference.Content) -> String {
        "<code>\(escape(content.mediaType))</code>" + (content.shape.map { ": " + type($0) } ?? "")
    }

    /// A schema's type, with component schemas as links to their section.
    static func type(_ shape: APIReference.Shape) -> String {
        switch shape {
        case .reference(let name): return "<a href=\"#\(schemaAnchor(name))\">\(escape(name))</a>"
        case .scalar(let text): return "<span class=\"docs-scalar\">\(escape(text))</span>"
        case .array(let item): return "array of " + type(item)
        case .combination(let word, let members): return escape(word) + " " + members.map(type).joined(separator: " | ")
        case .object(let properties):
            let fields = properties.map { "<code>\(escape($0.name))</code>: \(type($0.shape))" }
            return "object { " + fields.joined(separator: ", ") + " }"
        }
    }

    private static func table(_ headings: [String], _ rows: [String]) -> String {
        let head = headings.map { "<th scope=\"col\">\($0)</th>" }.joined()
        return "<table>\n<thead><tr>\(head)</tr></thead>\n<tbody>\n" + rows.joined() + "</tbody>\n</table>\n"
    }

    private static func row(_ cells: [String]) -> String {
        "<tr>" + cells.map { "<td>\($0)</td>" }.joined() + "</tr>\n"
    }

    /// One line of text, escaped, with `code` spans.
    static func inline(_ text: String) -> String {
        escape(text).split(separator: "`", omittingEmptySubsequences: false).enumerated()
            .map { $0.offset.isMultiple(of: 2) ? String($0.element) : "<code>\($0.element)</code>" }.joined()
    }

    /// A description as paragraphs and `-` lists; an indented line continues the list item above it.
    static func prose(_ text: String) -> String {
        var html = ""
        var paragraph: [Substring] = []
        var items: [[Substring]] = []
        func flush() {
            if !paragraph.isEmpty { html += "<p>" + inline(paragraph.joined(separator: " ")) + "</p>\n" }
            if !items.isEmpty {
                html += "<ul>\n" + items.map { "<li>" + inline($0.joined(separator: " ")) + "</li>\n" }.joined() + "</ul>\n"
            }
            paragraph = []
            items = []
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.drop { $0 == " " }
            if trimmed.isEmpty {
                flush()
            } else if trimmed.hasPrefix("- ") {
                if !paragraph.isEmpty { flush() }
                items.append([trimmed.dropFirst(2)])
            } else if !items.isEmpty && line.first == " " {
                items[items.count - 1].append(trimmed)
            } else {
                if !items.isEmpty { flush() }
                paragraph.append(trimmed)
            }
        }
        flush()
        return html
    }
}
