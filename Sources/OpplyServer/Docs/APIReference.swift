import Foundation

/// What the API reference page shows of the OpenAPI document: operations by tag, webhooks and component schemas, with
/// every `$ref` already resolved. A typed model between the YAML and the HTML, so the page never guesses at shapes.
struct APIReference: Sendable {
    let title: String
    let version: String
    let introduction: String
    let groups: [Group]
    let webhooks: [Operation]
    let schemas: [Schema]

    /// The operations of one tag, in the order of the document's `tags` list.
    struct Group: Sendable {
        let tag: String
        let description: String
        let operations: [Operation]
    }

    /// One method on one path (or one webhook the shop sends, whose `path` is the webhook's name).
    struct Operation: Sendable {
        let anchor: String
        let method: String
        let path: String
        let summary: String
        let description: String
        let access: Access
        let parameters: [Parameter]
        let body: Body?
        let answers: [Answer]
    }

    /// Who may call an operation, read from its `security` and from how the document marks staff-only operations.
    enum Access: Sendable, Equatable {
        case anyone
        case customer
        case staff
        /// A webhook: the shop calls the receiver.
        case shop
    }

    /// A path, query, header or cookie parameter.
    struct Parameter: Sendable {
        let name: String
        let location: String
        let required: Bool
        let shape: Shape
        let description: String
    }

    /// A request body: each media type it may be sent as.
    struct Body: Sendable {
        let required: Bool
        let description: String
        let contents: [Content]
    }

    /// A schema as sent under one media type.
    struct Content: Sendable {
        let mediaType: String
        let shape: Shape?
    }

    /// One answer (`200`, `4XX`, `default`) of an operation.
    struct Answer: Sendable {
        let status: String
        let description: String
        let contents: [Content]
    }

    /// A named component schema, listed in the page's schema section and linked from everywhere it is used.
    struct Schema: Sendable {
        let name: String
        let shape: Shape
        let description: String
        /// The schemas it extends (`allOf` members that are references).
        let extends: [String]
        let properties: [Property]
    }

    /// One property of an object schema.
    struct Property: Sendable {
        let name: String
        let shape: Shape
        let required: Bool
        let description: String
    }

    /// A schema as the page names it: a link to a component, a scalar type, or a combination of those.
    indirect enum Shape: Sendable {
        case reference(String)
        case scalar(String)
        case array(Shape)
        case combination(String, [Shape])
        case object([Property])
    }
}

extension APIReference {
    /// The bundled `openapi.yaml`, read once per process: every application built in it renders the same page.
    static let bundled = Result { () throws(ConfigError) -> APIReference in
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"),
            let data = try? Data(contentsOf: url), let text = String(data: data, encoding: .utf8)
        else {
            throw ConfigError("API reference: openapi.yaml is missing from the bundle or not UTF-8")
        }
        return try OpenAPIReader.read(yaml: text)
    }
}
