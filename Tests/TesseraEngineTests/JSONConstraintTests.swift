import Foundation
import TestSupport
import Testing
import TesseraTokenizer
@testable import TesseraEngine

/// Structured outputs: the schema compiler, the incremental recognizer, token masks (against a
/// brute-force check) and constrained greedy runs of the random-weight model.
@Suite struct JSONConstraintTests {
    static func grammar(_ schema: String) throws -> JSONSchemaGrammar { try JSONSchemaGrammar(schemaText: schema) }

    /// Whether `text` is a valid prefix (and whether a whole document) under `schema`.
    static func read(_ schema: String, _ text: String) throws -> (prefix: Bool, complete: Bool) {
        var recognizer = JSONRecognizer(grammar: try grammar(schema))
        guard recognizer.accept(text) else { return (false, false) }
        return (true, recognizer.isComplete)
    }

    static let person = """
    {"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},"tags":{"type":"array","items":{"type":"string"},"maxItems":2}},"required":["name"],"additionalProperties":false}
    """

    @Test func objectsTakeTheirPropertiesInOrderAndMaySkipOptionalOnes() throws {
        #expect(try Self.read(Self.person, #"{"name":"Ann","age":3,"tags":["a","b"]}"#) == (true, true))
        #expect(try Self.read(Self.person, #"{"name":"Ann"}"#) == (true, true))
        #expect(try Self.read(Self.person, #"{"name":"Ann","tags":[]}"#) == (true, true))
        #expect(try Self.read(Self.person, #"{"name":"A"#) == (true, false))
        #expect(try Self.read(Self.person, #"{"age":3"#).prefix == false)  // required name skipped
        #expect(try Self.read(Self.person, #"{}"#).prefix == false)
        #expect(try Self.read(Self.person, #"{"name":"Ann","tags":["a","b","c"]"#).prefix == false)  // maxItems
        #expect(try Self.read(Self.person, #"{"name":"Ann","age":3.5"#).prefix == false)  // integer
        #expect(try Self.read(Self.person, #"{"name":"Ann","other":1"#).prefix == false)  // additionalProperties
        #expect(try Self.read(Self.person, #"{"name":"Ann"} "#).prefix == false)  // no whitespace
        #expect(try Self.read(Self.person, #"{"name":"Ann"}x"#).prefix == false)
    }

    @Test func scalarsEnumsConstAndTypeLists() throws {
        #expect(try Self.read(#"{"type":"number"}"#, "-12.5e+3") == (true, true))
        #expect(try Self.read(#"{"type":"number"}"#, "01").prefix == false)
        #expect(try Self.read(#"{"type":"number"}"#, "1.") == (true, false))
        #expect(try Self.read(#"{"type":"integer"}"#, "-7") == (true, true))
        #expect(try Self.read(#"{"type":"integer"}"#, "1e3").prefix == false)
        #expect(try Self.read(#"{"type":"boolean"}"#, "false") == (true, true))
        #expect(try Self.read(#"{"type":"boolean"}"#, "nul").prefix == false)
        #expect(try Self.read(#"{"type":"null"}"#, "null") == (true, true))
        #expect(try Self.read(#"{"enum":["red","green",3]}"#, #""green""#) == (true, true))
        #expect(try Self.read(#"{"enum":["red","green",3]}"#, "3") == (true, true))
        #expect(try Self.read(#"{"enum":["red","green",3]}"#, #""blue""#).prefix == false)
        #expect(try Self.read(#"{"const":{"a":[1,true]}}"#, #"{"a":[1,true]}"#) == (true, true))
        #expect(try Self.read(#"{"type":["string","null"]}"#, "null") == (true, true))
        #expect(try Self.read(#"{"type":["string","null"]}"#, "1").prefix == false)
        // Numbers are bounded: 16 integer digits.
        #expect(try Self.read(#"{"type":"integer"}"#, String(repeating: "1", count: 16)) == (true, true))
        #expect(try Self.read(#"{"type":"integer"}"#, String(repeating: "1", count: 17)).prefix == false)
    }

    @Test func stringsWithEscapes() throws {
        let s = #"{"type":"string"}"#
        #expect(try Self.read(s, #""a\"b\\c\n\u00e9\/""#) == (true, true))
        #expect(try Self.read(s, "\"h\u{e9}llo \u{1F600}\"") == (true, true))
        #expect(try Self.read(s, #""\x""#).prefix == false)
        #expect(try Self.read(s, #""\u12g""#).prefix == false)
        #expect(try Self.read(s, "\"a\nb\"").prefix == false)  // raw control character
        var recognizer = JSONRecognizer(grammar: try Self.grammar(s))
        let opened = recognizer.accept([0x22, 0xC3])
        #expect(opened)
        #expect(recognizer.advanced(0x22) == nil)  // a character cut short
        let closed = recognizer.accept([0xA9, 0x22])
        #expect(closed && recognizer.isComplete)
    }

    @Test func anyOfRefsAndArrays() throws {
        let schema = """
        {"$defs":{"point":{"type":"object","properties":{"x":{"type":"number"},"y":{"type":"number"}},"required":["x","y"]}},
         "type":"object","properties":{"shape":{"anyOf":[{"$ref":"#/$defs/point"},{"type":"array","items":{"$ref":"#/$defs/point"},"minItems":2}]}},
         "required":["shape"]}
        """
        #expect(try Self.read(schema, #"{"shape":{"x":1,"y":2}}"#) == (true, true))
        #expect(try Self.read(schema, #"{"shape":[{"x":1,"y":2},{"x":0,"y":0}]}"#) == (true, true))
        #expect(try Self.read(schema, #"{"shape":[{"x":1,"y":2}]"#).prefix == false)  // minItems 2
        #expect(try Self.read(schema, #"{"shape":{"x":1}"#).prefix == false)
        let tree = ##"{"definitions":{"node":{"type":"object","properties":{"kids":{"type":"array","items":{"$ref":"#/definitions/node"}}}}},"$ref":"#/definitions/node"}"##
        #expect(try Self.read(tree, #"{"kids":[{"kids":[{}]},{}]}"#) == (true, true))
        // json_object: any keys, any values, no top-level non-object.
        var object = JSONRecognizer(grammar: .anyObject())
        #expect(object.accept(#"{"a":[1,{"b":null}],"c":"d"}"#) && object.isComplete)
        #expect(JSONRecognizer(grammar: .anyObject()).advanced(UInt8(ascii: "[")) == nil)
    }

    @Test func unsupportedKeywordsAreRefusedByName() throws {
        for keyword in ["pattern", "format", "minLength", "maxLength", "minimum", "maximum", "patternProperties",
                        "allOf", "not", "if", "prefixItems", "uniqueItems"] {
            let schema = #"{"type":"object","properties":{"a":{"type":"string","\#(keyword)":1}}}"#
            #expect(throws: JSONSchemaError.self) { try Self.grammar(schema) }
            do { _ = try Self.grammar(schema) } catch let error as JSONSchemaError { #expect(error.keyword == keyword) }
        }
        #expect(throws: JSONSchemaError.self) { try Self.grammar(#"{"$ref":"http://x/y"}"#) }
        #expect(throws: JSONSchemaError.self) { try Self.grammar(#"{"properties":{},"required":["a"]}"#) }
    }

    // MARK: - Masks

    static let tokenizer = Result {
        try Tokenizer(tokenizerJSON: Fixtures.url("models/tiny-llama/tokenizer.json"),
                      tokenizerConfig: Fixtures.url("models/tiny-llama/tokenizer_config.json"))
    }

    /// The trie walk's mask equals testing every token's bytes one by one.
    @Test func masksEqualABruteForceCheck() throws {
        let tokenizer = try Self.tokenizer.get()
        let trie = VocabularyTrie(tokenizer: tokenizer)
        let grammar = try Self.grammar(Self.person)
        for prefix in ["", "{", #"{"na"#, #"{"name":"#, #"{"name":"A"#, #"{"name":"A\"#, #"{"name":"A","#, #"{"name":"A","age":1"#,
                       #"{"name":"A","tags":["#, #"{"name":"A","tags":["x","y""#] {
            var state = JSONRecognizer(grammar: grammar)
            let fed = state.accept(prefix)
            #expect(fed)
            let mask = trie.allowed(from: state)
            var brute = TokenMask(count: tokenizer.vocabularySize)
            for id in 0..<tokenizer.vocabularySize where !tokenizer.isSpecialToken(id) {
                let bytes = tokenizer.tokenBytes(id)
                var copy = state
                if !bytes.isEmpty && copy.accept(bytes) { brute.insert(id) }
            }
            #expect(mask == brute, "prefix \(prefix)")
            #expect(!mask.isEmpty)
        }
    }

    /// Masks prefetched in the background after each accepted token (the engine's way) equal
    /// masks computed on the spot, state after state, and land in the shared cache.
    @Test func prefetchedMasksEqualDirectOnes() throws {
        let tokenizer = try Self.tokenizer.get()
        let trie = VocabularyTrie(tokenizer: tokenizer)
        let grammar = try Self.grammar(Self.person)
        let cache = MaskCache()
        let constraint = JSONConstraintState(grammar: grammar, trie: trie, cache: cache)
        var direct = JSONRecognizer(grammar: grammar)
        for piece in ["{", #""name""#, ":", #""Ad"#, #"a""#, ",", #""age""#, ":", "4", "2", "}"] {
            #expect(constraint.mask() == trie.allowed(from: direct), "before \(piece)")
            let accepted = constraint.accept(Array(piece.utf8))
            let fed = direct.accept(piece)
            #expect(accepted && fed, "\(piece)")
            constraint.prefetchMask()
        }
        #expect(constraint.mask() == trie.allowed(from: direct))
        #expect(cache.contains(direct))
    }

    @Test func maskCostIsMeasured() throws {
        let tokenizer = try Self.tokenizer.get()
        let trie = VocabularyTrie(tokenizer: tokenizer)
        var state = JSONRecognizer(grammar: try Self.grammar(Self.person))
        let fed = state.accept(#"{"name":"A"#)
        #expect(fed)
        let start = Date()
        let rounds = 20
        for _ in 0..<rounds { _ = trie.allowed(from: state) }
        let perMask = Date().timeIntervalSince(start) / Double(rounds)
        print("JSON mask inside a string: \(String(format: "%.2f", perMask * 1000)) ms uncached over \(trie.nodeCount) trie nodes, vocabulary \(tokenizer.vocabularySize)")
        #expect(perMask < 1)
    }

    /// The cost of an uncached mask over SmolLM2's 49152-token vocabulary (printed; cached
    /// masks, the common case inside strings, cost a dictionary lookup).
    @Test func maskCostOnSmolLM2() async throws {
        let llm = try await LLM(model: Fixtures.smolLM2().path, cache: CacheSettings(maxModelLen: 128))
        defer { llm.shutdown() }
        let tokenizer = try #require(llm.tokenizer)
        let built = Date()
        let trie = VocabularyTrie(tokenizer: tokenizer)
        let buildTime = Date().timeIntervalSince(built)
        for prefix in [#"{"name":"A"#, #"{"name":"A","#, #"{"name":"A","age":1"#] {
            var state = JSONRecognizer(grammar: try Self.grammar(Self.person))
            let fed = state.accept(prefix)
            #expect(fed)
            let start = Date()
            let rounds = 5
            var allowed = 0
            for _ in 0..<rounds { allowed = trie.allowed(from: state).ids.count }
            let perMask = Date().timeIntervalSince(start) / Double(rounds)
            print("SmolLM2 mask after \(prefix): \(String(format: "%.2f", perMask * 1000)) ms, \(allowed) tokens allowed; trie \(trie.nodeCount) nodes built in \(String(format: "%.0f", buildTime * 1000)) ms")
        }
    }

    // MARK: - Constrained runs of the random-weight model

    static let schemas = [
        person,
        #"{"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":4}"#,
        #"{"type":"object","properties":{"ok":{"type":"boolean"},"why":{"type":["string","null"]},"level":{"enum":["low","high"]}},"required":["ok","why","level"],"additionalProperties":false}"#,
        #"{"anyOf":[{"type":"number"},{"type":"object","properties":{"v":{"const":1}},"required":["v"]}]}"#,
    ]

    @Test func constrainedGreedyRunsOfRandomWeightsGiveValidJSON() async throws {
        let llm = try await LLM(model: Fixtures.url("models/tiny-llama").path, cache: CacheSettings(maxModelLen: 512))
        defer { llm.shutdown() }
        let prompts = ["Hello", "JSON please:", "1 2 3"]
        // Free output is not JSON.
        let free = try await llm.generate(prompts, SamplingParams(maxTokens: 20))
        #expect(free.contains { (try? JSONSerialization.jsonObject(with: Data($0.text.utf8), options: .fragmentsAllowed)) == nil })
        for schemaText in Self.schemas + ["json_object"] {
            let grammar = schemaText == "json_object" ? JSONSchemaGrammar.anyObject() : try Self.grammar(schemaText)
            let outputs = try await llm.generate(prompts, SamplingParams(maxTokens: 200, constraint: grammar))
            for output in outputs {
                if output.finishReason == .length { continue }
                #expect(output.finishReason == .stop)
                var recognizer = JSONRecognizer(grammar: grammar)
                let read = recognizer.accept(output.text)
                #expect(read && recognizer.isComplete, "\(schemaText): \(output.text)")
                #expect((try? JSONSerialization.jsonObject(with: Data(output.text.utf8), options: .fragmentsAllowed)) != nil,
                        "\(output.text)")
                if schemaText != "json_object", case let value = try JSONValue.parse(output.text) {
                    #expect(Self.validates(value, try JSONValue.parse(schemaText)), "\(schemaText): \(output.text)")
                }
            }
            #expect(outputs.contains { $0.finishReason == .stop }, "\(schemaText)")
        }
    }

    /// A small independent validator for the schemas above (no $ref).
    static func validates(_ value: JSONValue, _ schema: JSONValue) -> Bool {
        if let constant = schema["const"] { return constant == value }
        if case .array(let options)? = schema["enum"] { return options.contains(value) }
        if case .array(let branches)? = schema["anyOf"] { return branches.contains { validates(value, $0) } }
        var types: [String] = []
        if case .string(let t)? = schema["type"] { types = [t] }
        if case .array(let list)? = schema["type"] { types = list.compactMap { if case .string(let t) = $0 { t } else { nil } } }
        let fits = types.isEmpty || types.contains { type in
            switch (type, value) {
            case ("null", .null), ("boolean", .bool), ("string", .string), ("number", .number), ("array", .array), ("object", .object): true
            case ("integer", .number(let n)): Int(n) != nil
            default: false
            }
        }
        guard fits else { return false }
        if case .array(let items) = value {
            if case .number(let min)? = schema["minItems"], items.count < Int(min)! { return false }
            if case .number(let max)? = schema["maxItems"], items.count > Int(max)! { return false }
            if let itemSchema = schema["items"] { return items.allSatisfy { validates($0, itemSchema) } }
        }
        if case .object(let members) = value {
            if case .array(let required)? = schema["required"] {
                for case .string(let name) in required where !members.contains(where: { $0.0 == name }) { return false }
            }
            if case .object(let properties)? = schema["properties"] {
                for (key, sub) in members {
                    if let propertySchema = properties.first(where: { $0.0 == key })?.1 {
                        if !validates(sub, propertySchema) { return false }
                    } else if schema["additionalProperties"] == .bool(false) { return false }
                }
            }
        }
        return true
    }
}
