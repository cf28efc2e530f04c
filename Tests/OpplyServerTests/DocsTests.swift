import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import OpplyServer

/// The API reference at `/docs/`: complete against the contract, internally linked, escaped, and refusing a broken
/// document. The contract is scanned here with plain text patterns, independently of the reader under test.
@Suite struct DocsTests {
    static let contract = OperationsController.openAPIDocument.map { String(buffer: $0) } ?? ""

    /// The lines of the contract under the line `header` (which has `indent` spaces), up to the next line as far left.
    static func lines(under header: String, indent: Int) -> [Substring] {
        let lines = contract.split(separator: "\n")
        guard let start = lines.firstIndex(where: { $0 == String(repeating: " ", count: indent) + header }) else { return [] }
        let rest = lines[(start + 1)...]
        let end = rest.firstIndex { line in
            let depth = line.prefix { $0 == " " }.count
            return depth <= indent && !line.dropFirst(depth).hasPrefix("#")
        }
        return Array(rest[..<(end ?? rest.endIndex)])
    }

    /// The keys indented by `indent + 2` under `header`, each with the HTTP method keys indented by two more.
    static func keys(under header: String, indent: Int = 0) -> [(key: String, methods: [String])] {
        var found: [(key: String, methods: [String])] = []
        let pad = String(repeating: " ", count: indent + 2)
        for line in lines(under: header, indent: indent) where line.hasPrefix(pad) && line.hasSuffix(":") {
            let name = line.dropFirst(pad.count).dropLast()
            if !name.hasPrefix(" ") && !name.hasPrefix("#") {
                found.append((String(name), []))
            } else if let method = ["get", "put", "post", "delete", "patch"].first(where: { name == "  \($0)" }), !found.isEmpty {
                found[found.count - 1].methods.append(method)
            }
        }
        return found
    }

    static func page(_ client: some TestClientProtocol) async throws -> String {
        let page = try await client.send(.get, "/docs/")
        #expect(page.status == .ok)
        return page.text
    }

    @Test func everyOperationOfTheContractHasASectionAndAContentsLink() async throws {
        let operations = Self.keys(under: "paths:").flatMap { path in path.methods.map { "\($0.uppercased()) \(path.key)" } }
        let webhooks = Self.keys(under: "webhooks:").flatMap { hook in hook.methods.map { "\($0.uppercased()) \(hook.key)" } }
        #expect(operations.count > 40 && webhooks.count == 3, "the contract scan found \(operations.count) and \(webhooks.count)")
        try await withShop(.sqlite) { client, _ in
            let page = try await Self.page(client)
            let sections = page.matches(
                of: /<section class="docs-op" id="([^"]+)">\n<h3><span class="[^"]+">([A-Z]+)<\/span> <code>([^<]+)<\/code>/)
            let shown = sections.map { "\($0.2) \($0.3)" }
            #expect(shown.sorted() == (operations + webhooks).sorted())
            for section in sections {
                #expect(page.contains("<li><a href=\"#\(section.1)\">"), "\(section.2) \(section.3) is missing from the contents")
            }
            #expect(page.contains("id=\"op-fulfilOrder\""))
        }
    }

    @Test func everyLinkOnThePageLeadsToAnIdThatExistsOnce() async throws {
        try await withShop(.sqlite) { client, _ in
            let page = try await Self.page(client)
            let ids = page.matches(of: /\sid="([^"]+)"/).map { String($0.1) }
            #expect(Set(ids).count == ids.count, "repeated ids: \(Dictionary(grouping: ids) { $0 }.filter { $0.value.count > 1 }.keys)")
            let targets = Set(page.matches(of: /href="#([^"]*)"/).map { String($0.1) })
            #expect(targets.count > 100)
            #expect(targets.subtracting(ids).isEmpty, "links to nothing: \(targets.subtracting(ids).sorted())")
        }
    }

    @Test func everySchemaOfTheContractHasASectionWithItsProperties() async throws {
        let names = Self.keys(under: "schemas:", indent: 2).map(\.key)
        #expect(names.count > 30, "the contract scan found \(names.count) schemas")
        try await withShop(.sqlite) { client, _ in
            let page = try await Self.page(client)
            for name in names {
                #expect(page.contains("<section class=\"docs-schema\" id=\"schema-\(name)\">\n<h3>\(name)</h3>"), "\(name)")
            }
            let desk = try #require(page.firstMatch(of: /id="schema-DeskOrder">(?s)(.*?)<\/section>/)?.1)
            #expect(desk.contains("extends <a href=\"#schema-Order\">Order</a>"))
            #expect(desk.contains("<code>customer_username</code>"))
            let problem = try #require(page.firstMatch(of: /id="schema-Problem">(?s)(.*?)<\/section>/)?.1)
            #expect(problem.contains("<code>code</code>") && problem.contains("<a href=\"#schema-FieldError\">FieldError</a>"))
        }
    }

    @Test func thePageCarriesTheBackOfficeHeadersAndIsServedWithoutTheSlashToo() async throws {
        try await withShop(.sqlite) { client, shop in
            let page = try await client.send(.get, "/docs/")
            #expect(page.headers[.contentType] == "text/html; charset=utf-8")
            #expect(page.headers[.contentSecurityPolicy]?.contains("default-src 'self'") == true)
            #expect(page.headers[.xContentTypeOptions] == "nosniff")
            #expect(page.headers[.cacheControl] == "public, max-age=300")
            #expect(page.text.contains("<link rel=\"stylesheet\" href=\"\(shop.views.stylesheet.path)\">"))
            #expect(!page.text.contains("style=") && !page.text.contains("<script"))
            let bare = try await client.send(.get, "/docs")
            #expect(bare.status == .ok && bare.text == page.text)
            #expect(try await client.send(.get, "/").text.contains("href=\"/docs/\""))
        }
    }

    @Test func whoMayCallComesFromSecurityAndTheStaffMarks() throws {
        let reference = try APIReference.bundled.get()
        let operations = Dictionary(
            uniqueKeysWithValues: (reference.groups.flatMap(\.operations) + reference.webhooks).map { ($0.anchor, $0.access) })
        #expect(operations["op-register"] == .anyone)
        #expect(operations["op-listProducts"] == .anyone)
        #expect(operations["op-getMe"] == .customer)
        #expect(operations["op-updateCustomer"] == .customer, "a 403 for a customer changing is_staff is not staff-only")
        #expect(operations["op-fulfilOrder"] == .staff)
        #expect(operations["op-createProduct"] == .staff)
        #expect(operations["op-orderConfirmedWebhook"] == .shop)
        for operation in reference.groups.flatMap(\.operations) where operation.summary.hasSuffix("(staff)") {
            #expect(operation.access == .staff, "\(operation.anchor)")
        }
        #expect(reference.groups.map(\.tag) == ["identity", "catalog", "cart", "orders", "admin", "operations"])
    }

    static let hostile = """
        openapi: 3.1.0
        info:
          title: Shop <script>alert(1)</script>
          version: "1"
        tags:
          - name: things
            description: 'Tag <script>alert(2)</script>'
        paths:
          /things/{id}/:
            get:
              tags: [things]
              operationId: "getThing"
              summary: A "thing" & more
              description: |
                Says <script>alert(3)</script> and `<b>code</b>`.
                - it's a list
              parameters:
                - name: id
                  in: path
                  description: The <i>id</i>.
                  schema: {type: string, format: uuid}
              responses:
                '200':
                  description: A thing.
                  content:
                    application/json:
                      schema: {$ref: '#/components/schemas/Thing'}
        components:
          schemas:
            Thing:
              type: object
              description: <script>alert(4)</script>
              required: [name]
              properties:
                name: {type: string, description: "x\\" onmouseover=\\"alert(5)"}
        """

    @Test func textFromTheDocumentIsEscaped() throws {
        let html = ReferencePage(reference: try OpenAPIReader.read(yaml: Self.hostile), stylesheet: "/s.css", icon: "/i.svg").html
        #expect(!html.contains("<script") && !html.contains("<b>") && !html.contains("<i>") && !html.contains("\" onmouseover"))
        for number in 1...4 { #expect(html.contains("&lt;script&gt;alert(\(number))&lt;/script&gt;"), "alert(\(number))") }
        #expect(html.contains("A &quot;thing&quot; &amp; more"))
        #expect(html.contains("<code>&lt;b&gt;code&lt;/b&gt;</code>"))
        #expect(html.contains("<li>it&#39;s a list</li>"))
        #expect(html.contains("x&quot; onmouseover=&quot;alert(5)"))
        #expect(html.contains("<section class=\"docs-op\" id=\"op-getThing\">"))
        #expect(html.contains("<a href=\"#schema-Thing\">Thing</a>"))
        #expect(ReferencePage.escape("<&>\"'") == "&lt;&amp;&gt;&quot;&#39;")
    }

    @Test(arguments: [
        ("not: [yaml", "not valid YAML"),
        ("openapi: 3.1.0\ninfo: {title: T, version: '1'}\n", "no paths"),
        ("", "empty"),
        (
            "openapi: 3.1.0\ninfo: {title: T, version: '1'}\npaths:\n  /a/:\n    get:\n      responses:\n"
                + "        '200': {$ref: '#/components/responses/Nothing'}\n",
            "'#/components/responses/Nothing' points nowhere"
        ),
        (
            "openapi: 3.1.0\ninfo: {title: T, version: '1'}\npaths:\n  /a/:\n    get:\n      responses:\n"
                + "        '200':\n          description: ok\n          content:\n            application/json:\n"
                + "              schema: {$ref: '#/components/schemas/Missing'}\n",
            "'#/components/schemas/Missing' does not name a component schema"
        ),
    ])
    func aBrokenDocumentIsRefusedWithTheReason(yaml: String, reason: String) {
        #expect {
            try OpenAPIReader.read(yaml: yaml)
        } throws: { error in
            (error as? ConfigError)?.description.contains(reason) == true
        }
    }
}
