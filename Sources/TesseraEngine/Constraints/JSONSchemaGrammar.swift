/// Why a schema (or response format) cannot be used.
public enum JSONSchemaError: Error, Equatable, CustomStringConvertible {
    case notJSON(String)
    /// A keyword this engine does not enforce, named, with where it was found.
    case unsupportedKeyword(String, path: String)
    case invalid(String, path: String)

    public var description: String {
        switch self {
        case .notJSON(let why): "the schema is not valid JSON: \(why)"
        case .unsupportedKeyword(let keyword, let path):
            "the JSON schema keyword '\(keyword)' (at \(path)) is not supported by constrained decoding"
        case .invalid(let why, let path): "the JSON schema is invalid at \(path): \(why)"
        }
    }

    /// The keyword refused, if that is the problem.
    public var keyword: String? {
        if case .unsupportedKeyword(let keyword, _) = self { return keyword }
        return nil
    }
}

/// One node of a compiled schema: what a JSON value at that place may be.
enum SchemaNode: Sendable, Hashable {
    struct Property: Sendable, Hashable {
        var name: String
        /// `"name"`, quotes included, as emitted.
        var keyBytes: [UInt8]
        var node: Int32
        var required: Bool
    }

    /// Placeholder while a `$ref` target compiles.
    case pending
    /// Alternatives (anyOf, type lists, enum, booleans).
    case union([Int32])
    /// With properties: exactly those (schema order, optional ones skippable). Without:
    /// any keys, each value of `free` (nil: no keys at all).
    case object(properties: [Property], free: Int32?)
    case array(items: Int32, min: Int, max: Int?)
    case string
    case number(integer: Bool)
    /// Exactly these bytes (const, enum members, true, false, null; tool-call markers).
    case literal([UInt8])
    /// These nodes one after the other (tool calls: marker, JSON, marker); empty: nothing.
    case sequence([Int32])
}

/// A JSON schema (or "any JSON object") compiled for constrained decoding: a graph of
/// `SchemaNode`s, node `root` first. Compact output: no whitespace anywhere.
public struct JSONSchemaGrammar: Sendable, Hashable {
    var nodes: [SchemaNode]
    var root: Int32
    /// Whether node i can match no bytes at all (an empty sequence, or a union or sequence of such).
    let nullable: [Bool]
    /// A canonical text of the schema; requests with equal keys share token-mask caches.
    public let key: String

    /// The keywords compiled and enforced.
    public static let supportedKeywords: Set<String> = [
        "type", "properties", "required", "additionalProperties", "enum", "const", "anyOf", "oneOf", "$ref",
        "$defs", "definitions", "items", "minItems", "maxItems",
    ]
    /// Keywords that only annotate, accepted and ignored.
    public static let annotationKeywords: Set<String> = [
        "title", "description", "$schema", "$id", "$comment", "default", "examples", "deprecated", "readOnly",
        "writeOnly", "strict", "name",
    ]
    /// Keywords refused by name with a 400 (any other unknown keyword is refused too).
    public static let refusedKeywords: [String] = [
        "pattern", "format", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
        "multipleOf", "patternProperties", "propertyNames", "minProperties", "maxProperties", "dependentRequired",
        "dependentSchemas", "unevaluatedProperties", "unevaluatedItems", "allOf", "not", "if", "then", "else",
        "prefixItems", "additionalItems", "contains", "minContains", "maxContains", "uniqueItems", "contentEncoding",
        "contentMediaType", "$anchor", "$dynamicRef",
    ]

    /// Any JSON object (OpenAI's `json_object` mode).
    public static func anyObject() -> JSONSchemaGrammar {
        var compiler = SchemaCompiler(document: .object([]))
        let any = compiler.anyValue()
        let root = compiler.add(.object(properties: [], free: any))
        return JSONSchemaGrammar(nodes: compiler.nodes, root: root, key: "json_object")
    }

    /// Compiles a JSON schema; throws naming the first keyword it cannot enforce.
    public init(schema: JSONValue) throws(JSONSchemaError) {
        var compiler = SchemaCompiler(document: schema)
        let root = try compiler.compile(schema, path: "#")
        self.init(nodes: compiler.nodes, root: root, key: schema.compactText)
    }

    public init(schemaText: String) throws(JSONSchemaError) {
        try self.init(schema: JSONValue.parse(schemaText))
    }

    init(nodes: [SchemaNode], root: Int32, key: String) {
        self.nodes = nodes
        self.root = root
        self.key = key
        nullable = Self.nullable(nodes)
    }

    /// A fixed point: nothing is nullable until shown to be (so `$ref` cycles end).
    private static func nullable(_ nodes: [SchemaNode]) -> [Bool] {
        var known = [Bool](repeating: false, count: nodes.count)
        var changed = true
        while changed {
            changed = false
            for (i, node) in nodes.enumerated() where !known[i] {
                let now: Bool
                switch node {
                case .sequence(let items): now = items.allSatisfy { known[Int($0)] }
                case .union(let alternatives): now = alternatives.contains { known[Int($0)] }
                default: now = false
                }
                if now {
                    known[i] = true
                    changed = true
                }
            }
        }
        return known
    }

    public static func == (a: JSONSchemaGrammar, b: JSONSchemaGrammar) -> Bool { a.key == b.key }
    public func hash(into hasher: inout Hasher) { hasher.combine(key) }
}

struct SchemaCompiler {
    /// The schema whose `$ref`s resolve (one per tool when tool calls are compiled together).
    var document: JSONValue
    var nodes: [SchemaNode] = []
    var refs: [String: Int32] = [:]
    var anyNode: Int32?

    init(document: JSONValue) { self.document = document }

    mutating func add(_ node: SchemaNode) -> Int32 {
        nodes.append(node)
        return Int32(nodes.count - 1)
    }

    mutating func literal(_ text: String) -> Int32 { add(.literal(Array(text.utf8))) }

    /// Any JSON value.
    mutating func anyValue() -> Int32 {
        if let anyNode { return anyNode }
        let id = add(.pending)
        anyNode = id
        let object = add(.object(properties: [], free: id))
        let array = add(.array(items: id, min: 0, max: nil))
        let alternatives = [object, array, add(.string), add(.number(integer: false)), literal("true"), literal("false"), literal("null")]
        nodes[Int(id)] = .union(alternatives)
        return id
    }

    mutating func compile(_ schema: JSONValue, path: String) throws(JSONSchemaError) -> Int32 {
        switch schema {
        case .bool(true): return anyValue()
        case .bool(false): throw .invalid("the schema 'false' accepts nothing", path: path)
        case .object(let members):
            for (key, _) in members {
                if JSONSchemaGrammar.supportedKeywords.contains(key) || JSONSchemaGrammar.annotationKeywords.contains(key) { continue }
                throw .unsupportedKeyword(key, path: path)
            }
        default: throw .invalid("a schema must be an object or a boolean", path: path)
        }
        if case .string(let ref)? = schema["$ref"] { return try reference(ref, path: path) }
        if schema["$ref"] != nil { throw .invalid("'$ref' must be a string", path: path) }
        if let constant = schema["const"] { return add(.literal(Array(constant.compactText.utf8))) }
        if let values = schema["enum"] {
            guard case .array(let items) = values, !items.isEmpty else { throw .invalid("'enum' must be a non-empty array", path: path) }
            return add(.union(items.map { add(.literal(Array($0.compactText.utf8))) }))
        }
        for keyword in ["anyOf", "oneOf"] {
            guard let given = schema[keyword] else { continue }
            guard case .array(let branches) = given, !branches.isEmpty else {
                throw .invalid("'\(keyword)' must be a non-empty array", path: path)
            }
            var alternatives: [Int32] = []
            for (index, branch) in branches.enumerated() {
                alternatives.append(try compile(branch, path: "\(path)/\(keyword)/\(index)"))
            }
            return add(.union(alternatives))
        }
        var types: [String]
        switch schema["type"] {
        case .string(let type)?: types = [type]
        case .array(let list)?:
            types = []
            for item in list {
                guard case .string(let type) = item else { throw .invalid("'type' lists must hold strings", path: path) }
                types.append(type)
            }
            guard !types.isEmpty else { throw .invalid("'type' must not be an empty list", path: path) }
        case nil:
            if schema["properties"] != nil || schema["additionalProperties"] != nil || schema["required"] != nil {
                types = ["object"]
            } else if schema["items"] != nil || schema["minItems"] != nil || schema["maxItems"] != nil {
                types = ["array"]
            } else {
                return anyValue()
            }
        default: throw .invalid("'type' must be a string or a list of strings", path: path)
        }
        var alternatives: [Int32] = []
        for type in types {
            switch type {
            case "object": alternatives.append(try object(schema, path: path))
            case "array": alternatives.append(try array(schema, path: path))
            case "string": alternatives.append(add(.string))
            case "number": alternatives.append(add(.number(integer: false)))
            case "integer": alternatives.append(add(.number(integer: true)))
            case "boolean": alternatives.append(add(.union([literal("true"), literal("false")])))
            case "null": alternatives.append(literal("null"))
            default: throw .invalid("unknown type '\(type)'", path: path)
            }
        }
        return alternatives.count == 1 ? alternatives[0] : add(.union(alternatives))
    }

    mutating func reference(_ ref: String, path: String) throws(JSONSchemaError) -> Int32 {
        if let known = refs[ref] { return known }
        var target = document
        if ref != "#" {
            guard ref.hasPrefix("#/") else {
                throw .invalid("only local references ('#/$defs/...', '#/definitions/...') are supported, got '\(ref)'", path: path)
            }
            for raw in ref.dropFirst(2).split(separator: "/", omittingEmptySubsequences: false) {
                let part = raw.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
                guard let next = target[part] else { throw .invalid("'$ref' '\(ref)' points at nothing", path: path) }
                target = next
            }
        }
        // Reserved first, so that a recursive reference finds it.
        let id = add(.pending)
        refs[ref] = id
        let compiled = try compile(target, path: ref)
        nodes[Int(id)] = .union([compiled])
        return id
    }

    mutating func object(_ schema: JSONValue, path: String) throws(JSONSchemaError) -> Int32 {
        var required: Set<String> = []
        if let given = schema["required"] {
            guard case .array(let names) = given else { throw .invalid("'required' must be an array", path: path) }
            for name in names {
                guard case .string(let name) = name else { throw .invalid("'required' must hold strings", path: path) }
                required.insert(name)
            }
        }
        var properties: [SchemaNode.Property] = []
        if let given = schema["properties"] {
            guard case .object(let members) = given else { throw .invalid("'properties' must be an object", path: path) }
            var seen: Set<String> = []
            for (name, sub) in members where seen.insert(name).inserted {
                let node = try compile(sub, path: "\(path)/properties/\(name)")
                properties.append(.init(name: name, keyBytes: Array(JSONValue.quoted(name).utf8), node: node, required: required.contains(name)))
            }
        }
        if let missing = required.sorted().first(where: { name in !properties.contains { $0.name == name } }) {
            throw .invalid("'required' names '\(missing)', which 'properties' does not define", path: path)
        }
        if !properties.isEmpty { return add(.object(properties: properties, free: nil)) }
        switch schema["additionalProperties"] {
        case .bool(false)?: return add(.object(properties: [], free: nil))
        case nil, .bool(true)?: return add(.object(properties: [], free: anyValue()))
        case let sub?: return add(.object(properties: [], free: try compile(sub, path: "\(path)/additionalProperties")))
        }
    }

    mutating func array(_ schema: JSONValue, path: String) throws(JSONSchemaError) -> Int32 {
        func count(_ keyword: String) throws(JSONSchemaError) -> Int? {
            guard let value = schema[keyword] else { return nil }
            guard case .number(let text) = value, let n = Int(text), n >= 0 else {
                throw .invalid("'\(keyword)' must be a non-negative integer", path: path)
            }
            return n
        }
        let min = try count("minItems") ?? 0
        let max = try count("maxItems")
        if let max, max < min { throw .invalid("'maxItems' is below 'minItems'", path: path) }
        let items: Int32
        switch schema["items"] {
        case nil: items = anyValue()
        case .array?: throw .unsupportedKeyword("items (as a list; prefixItems)", path: path)
        case let sub?: items = try compile(sub, path: "\(path)/items")
        }
        return add(.array(items: items, min: min, max: max))
    }
}
