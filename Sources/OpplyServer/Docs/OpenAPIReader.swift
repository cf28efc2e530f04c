import Foundation
import Yams

/// Reads an OpenAPI 3 document into an `APIReference`, following `$ref`s. A missing part or a reference that points
/// nowhere is a `ConfigError` naming it, so a broken document stops the server instead of showing a thin page.
/// Yams' `Node` keeps the document's key order (its `Any` trees are unordered dictionaries), so operations, answers and
/// properties appear as written.
struct OpenAPIReader {
    private let root: Node
    private static let methods: Set = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    /// The reference the YAML text describes.
    static func read(yaml: String) throws(ConfigError) -> APIReference {
        do {
            guard let root = try Yams.compose(yaml: yaml), root.mapping != nil else {
                throw ConfigError("API reference: the OpenAPI document is empty")
            }
            return try OpenAPIReader(root: root).reference()
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError("API reference: the OpenAPI document is not valid YAML: \(error)")
        }
    }

    private func reference() throws -> APIReference {
        guard let info = root.field("info"), let title = info.text("title"), let paths = root.field("paths")?.mapping else {
            throw ConfigError("API reference: the OpenAPI document has no info.title or no paths")
        }
        var operations: [(tag: String, operation: APIReference.Operation)] = []
        for (path, item) in paths {
            operations += try self.operations(at: path.string ?? "", item: item, webhook: false)
        }
        var webhooks: [APIReference.Operation] = []
        for (name, item) in root.field("webhooks")?.mapping ?? [:] {
            webhooks += try self.operations(at: name.string ?? "", item: item, webhook: true).map(\.operation)
        }
        var schemas: [APIReference.Schema] = []
        for (name, node) in root.field("components")?.field("schemas")?.mapping ?? [:] {
            schemas.append(try schema(named: name.string ?? "", node))
        }
        let introduction = [info.text("summary"), info.text("description")].compactMap { $0 }.joined(separator: "\n\n")
        return APIReference(
            title: title, version: info.text("version") ?? "", introduction: introduction, groups: groups(of: operations),
            webhooks: webhooks, schemas: schemas)
    }

    /// Operations by their first tag: the document's `tags` list first, in its order, then tags met only on
    /// operations. An operation with several tags is listed once, so each anchor exists once.
    private func groups(of operations: [(tag: String, operation: APIReference.Operation)]) -> [APIReference.Group] {
        var order: [String] = []
        var descriptions: [String: String] = [:]
        for tag in root.field("tags")?.array() ?? [] {
            guard let name = tag.text("name") else { continue }
            order.append(name)
            descriptions[name] = tag.text("description")
        }
        for (tag, _) in operations where !order.contains(tag) { order.append(tag) }
        return order.compactMap { tag in
            let members = operations.filter { $0.tag == tag }.map(\.operation)
            return members.isEmpty ? nil : APIReference.Group(tag: tag, description: descriptions[tag] ?? "", operations: members)
        }
    }

    private func operations(at path: String, item: Node, webhook: Bool) throws -> [(tag: String, operation: APIReference.Operation)] {
        let item = try resolved(item)
        let shared = try (item.field("parameters")?.array() ?? []).map(parameter)
        var operations: [(tag: String, operation: APIReference.Operation)] = []
        for (key, node) in item.mapping ?? [:] {
            guard let method = key.string, Self.methods.contains(method) else { continue }
            let tag = node.field("tags")?.array().first?.string ?? "other"
            operations.append((tag, try operation(method, path, node, shared: shared, webhook: webhook)))
        }
        return operations
    }

    private func operation(_ method: String, _ path: String, _ node: Node, shared: [APIReference.Parameter], webhook: Bool) throws
        -> APIReference.Operation
    {
        let own = try (node.field("parameters")?.array() ?? []).map(parameter)
        // An operation's parameter replaces the path's parameter of the same name and place.
        let parameters = shared.filter { old in !own.contains { $0.name == old.name && $0.location == old.location } } + own
        var answers: [APIReference.Answer] = []
        for (status, answer) in node.field("responses")?.mapping ?? [:] {
            answers.append(try self.answer(status.string ?? "", answer))
        }
        let summary = node.text("summary") ?? node.text("operationId") ?? ""
        let anchorName = node.text("operationId") ?? "\(method)-\(path)"
        return APIReference.Operation(
            anchor: "op-" + Self.slug(anchorName), method: method.uppercased(), path: path, summary: summary,
            description: node.text("description") ?? "",
            access: webhook ? .shop : access(node, summary: summary, answers: answers), parameters: parameters,
            body: try node.field("requestBody").map(body), answers: answers)
    }

    /// Anyone when no security requirement applies or one of them is empty (signing in optional); staff when the
    /// document says so (a summary ending in "(staff)" or a `403` answer "staff only"); else a signed-in customer.
    private func access(_ node: Node, summary: String, answers: [APIReference.Answer]) -> APIReference.Access {
        let requirements = (node.field("security") ?? root.field("security"))?.array() ?? []
        if requirements.isEmpty || requirements.contains(where: { $0.mapping?.isEmpty ?? true }) { return .anyone }
        let staffOnly =
            summary.lowercased().hasSuffix("(staff)")
            || answers.contains { $0.status == "403" && $0.description.lowercased().contains("staff only") }
        return staffOnly ? .staff : .customer
    }

    private func parameter(_ node: Node) throws -> APIReference.Parameter {
        let target = try resolved(node)
        guard let name = target.text("name"), let location = target.text("in") else {
            throw ConfigError("API reference: a parameter has no name or no 'in' (\(node.text("$ref") ?? "inline"))")
        }
        let schema = target.field("schema") ?? target.field("content")?.mapping?.first?.value.field("schema")
        return APIReference.Parameter(
            name: name, location: location, required: location == "path" || target.field("required")?.bool == true,
            shape: try schema.map(shape) ?? .scalar("any"), description: node.text("description") ?? target.text("description") ?? "")
    }

    private func body(_ node: Node) throws -> APIReference.Body {
        let target = try resolved(node)
        return APIReference.Body(
            required: target.field("required")?.bool == true, description: node.text("description") ?? target.text("description") ?? "",
            contents: try contents(of: target))
    }

    /// An answer's own `description` wins over the one of the answer it refers to.
    private func answer(_ status: String, _ node: Node) throws -> APIReference.Answer {
        let target = try resolved(node)
        return APIReference.Answer(
            status: status, description: node.text("description") ?? target.text("description") ?? "", contents: try contents(of: target))
    }

    private func contents(of node: Node) throws -> [APIReference.Content] {
        var contents: [APIReference.Content] = []
        for (mediaType, media) in node.field("content")?.mapping ?? [:] {
            contents.append(APIReference.Content(mediaType: mediaType.string ?? "", shape: try media.field("schema").map(shape)))
        }
        return contents
    }
}

extension OpenAPIReader {
    private func schema(named name: String, _ node: Node) throws -> APIReference.Schema {
        let members = node.field("allOf")?.array() ?? []
        let extends = try members.compactMap { $0.text("$ref") }.map(schemaName)
        var properties = try self.properties(of: node)
        for member in members where member.field("$ref") == nil { properties += try self.properties(of: member) }
        let isObject = !properties.isEmpty || !extends.isEmpty
        return APIReference.Schema(
            name: name, shape: isObject ? .scalar("object") : try shape(node), description: node.text("description") ?? "",
            extends: extends, properties: properties)
    }

    private func properties(of node: Node) throws -> [APIReference.Property] {
        let required = Set(node.field("required")?.array().compactMap(\.string) ?? [])
        var properties: [APIReference.Property] = []
        for (key, value) in node.field("properties")?.mapping ?? [:] {
            let name = key.string ?? ""
            properties.append(
                APIReference.Property(
                    name: name, shape: try shape(value), required: required.contains(name), description: value.text("description") ?? ""))
        }
        return properties
    }

    /// A schema as the page names it; references to component schemas stay links, so recursive schemas end.
    private func shape(_ node: Node) throws -> APIReference.Shape {
        if let reference = node.text("$ref") { return .reference(try schemaName(reference)) }
        for (key, word) in [("oneOf", "one of"), ("anyOf", "any of"), ("allOf", "all of")] {
            if let members = node.field(key)?.array() { return .combination(word, try members.map(shape)) }
        }
        let types = node.field("type").map { $0.sequence == nil ? [$0.string ?? ""] : $0.array().compactMap(\.string) } ?? []
        if types.contains("array") || node.field("items") != nil {
            return .array(try node.field("items").map(shape) ?? .scalar("any"))
        }
        if node.field("properties")?.mapping?.isEmpty == false { return .object(try properties(of: node)) }
        if let values = node.field("additionalProperties"), values.mapping != nil {
            return .combination("map of", [try shape(values)])
        }
        return .scalar(Self.describe(node, types: types))
    }

    /// "string (uuid) or null", "integer, default 10", "string, one of: EUR", "= order.confirmed".
    private static func describe(_ node: Node, types: [String]) -> String {
        let format = node.text("format").map { " (\($0))" } ?? ""
        var text = types.map { $0 == "null" ? $0 : $0 + format }.joined(separator: " or ")
        if let constant = node.field("const") { text += (text.isEmpty ? "= " : " = ") + (constant.string ?? "") }
        if let values = node.field("enum")?.array() {
            text += (text.isEmpty ? "" : ", ") + "one of: " + values.compactMap(\.string).joined(separator: ", ")
        }
        if let value = node.field("default")?.string { text += ", default " + value }
        return text.isEmpty ? "any" : text
    }

    /// The name of the component schema `reference` points to; it must exist.
    private func schemaName(_ reference: String) throws -> String {
        let prefix = "#/components/schemas/"
        guard reference.hasPrefix(prefix),
            root.field("components")?.field("schemas")?.field(String(reference.dropFirst(prefix.count))) != nil
        else {
            throw ConfigError("API reference: the schema reference '\(reference)' does not name a component schema")
        }
        return String(reference.dropFirst(prefix.count))
    }

    /// `node` itself, or what its `$ref` chain ends at.
    private func resolved(_ node: Node) throws -> Node {
        var node = node
        var hops = 0
        while let reference = node.text("$ref") {
            hops += 1
            guard hops <= 16, reference.hasPrefix("#/") else {
                throw ConfigError("API reference: the reference '\(reference)' is not local or goes round in circles")
            }
            var target: Node? = root
            for token in reference.dropFirst(2).split(separator: "/", omittingEmptySubsequences: false) {
                target = target?.field(String(token).replacing("~1", with: "/").replacing("~0", with: "~"))
            }
            guard let target else { throw ConfigError("API reference: the reference '\(reference)' points nowhere") }
            node = target
        }
        return node
    }

    /// An HTML id from a name: letters, digits, `-`, `_` and `.` kept, anything else `-`.
    static func slug(_ name: String) -> String {
        String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) ? $0 : "-" })
    }
}

extension Node {
    /// The value under `key` in a mapping (or at index `key` in a sequence), matching the key's text whatever its
    /// YAML type, so `'200'` and `200` are both found as "200".
    fileprivate func field(_ key: String) -> Node? {
        if let mapping { return mapping.first { $0.key.string == key }?.value }
        return Int(key).flatMap { index in array().indices.contains(index) ? array()[index] : nil }
    }

    /// The text of the scalar under `key`.
    fileprivate func text(_ key: String) -> String? { field(key)?.scalar?.string }
}
