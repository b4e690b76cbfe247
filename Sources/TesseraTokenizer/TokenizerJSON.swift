import Foundation

extension Tokenizer {
    /// Loads a Hugging Face tokenizer folder's `tokenizer.json` and, optionally, its
    /// `tokenizer_config.json` (chat template, BOS/EOS, `add_bos_token`).
    public convenience init(tokenizerJSON: URL, tokenizerConfig: URL?) throws {
        let spec = try TokenizerSpec(tokenizerJSON: tokenizerJSON, tokenizerConfig: tokenizerConfig)
        do {
            try self.init(spec: spec)
        } catch TokenizerError.invalidSpec(let problem) {
            throw TokenizerError.invalidFile(file: tokenizerJSON.path, field: "model", problem: problem)
        }
    }
}

extension TokenizerSpec {
    /// Builds a spec from Hugging Face files, accepting the byte-level BPE layouts of GPT-2,
    /// SmolLM2, Qwen2/3 and Llama 3; anything else is rejected with the field that differs.
    public init(tokenizerJSON: URL, tokenizerConfig: URL?) throws {
        var reader = try TokenizerJSONReader(url: tokenizerJSON)
        self = try reader.spec()
        if let tokenizerConfig {
            try TokenizerConfigReader(url: tokenizerConfig).apply(to: &self, postProcessorSetsBOS: reader.postProcessorSetsBOS)
        }
    }
}

/// A JSON object with the file it came from, so every error can name file and field.
struct JSONObject {
    let file: String
    let path: String
    let values: [String: Any]

    static func load(_ url: URL) throws -> JSONObject {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw TokenizerError.invalidFile(file: url.path, field: "(file)", problem: "cannot be read: \(error.localizedDescription)")
        }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw TokenizerError.invalidFile(file: url.path, field: "(file)", problem: "is not valid JSON: \(error.localizedDescription)")
        }
        guard let values = parsed as? [String: Any] else {
            throw TokenizerError.invalidFile(file: url.path, field: "(file)", problem: "top level is not a JSON object")
        }
        return JSONObject(file: url.path, path: "", values: values)
    }

    func fail(_ field: String, _ problem: String) -> TokenizerError {
        .invalidFile(file: file, field: path.isEmpty ? field : "\(path).\(field)", problem: problem)
    }

    func has(_ key: String) -> Bool {
        if let value = values[key], !(value is NSNull) { return true }
        return false
    }

    func object(_ key: String) throws -> JSONObject? {
        guard has(key) else { return nil }
        guard let dict = values[key] as? [String: Any] else { throw fail(key, "expected an object") }
        return JSONObject(file: file, path: path.isEmpty ? key : "\(path).\(key)", values: dict)
    }

    func requiredObject(_ key: String) throws -> JSONObject {
        guard let object = try object(key) else { throw fail(key, "is missing") }
        return object
    }

    func string(_ key: String) throws -> String? {
        guard has(key) else { return nil }
        guard let s = values[key] as? String else { throw fail(key, "expected a string") }
        return s
    }

    func bool(_ key: String) throws -> Bool? {
        guard has(key) else { return nil }
        guard let b = values[key] as? Bool else { throw fail(key, "expected true or false") }
        return b
    }

    func int(_ key: String) throws -> Int? {
        guard has(key) else { return nil }
        guard let n = values[key] as? Int else { throw fail(key, "expected an integer") }
        return n
    }

    func array(_ key: String) throws -> [Any]? {
        guard has(key) else { return nil }
        guard let a = values[key] as? [Any] else { throw fail(key, "expected an array") }
        return a
    }

    /// Array elements that are objects, each with its index in the path.
    func objects(_ key: String) throws -> [JSONObject] {
        guard let items = try array(key) else { return [] }
        return try items.enumerated().map { i, item in
            guard let dict = item as? [String: Any] else { throw fail("\(key)[\(i)]", "expected an object") }
            return JSONObject(file: file, path: (path.isEmpty ? key : "\(path).\(key)") + "[\(i)]", values: dict)
        }
    }

    /// A compact rendering of a value for error messages.
    func describe(_ key: String) -> String {
        guard let value = values[key] else { return "nothing" }
        guard JSONSerialization.isValidJSONObject([value]),
              let data = try? JSONSerialization.data(withJSONObject: [value], options: [.sortedKeys]),
              var text = String(data: data, encoding: .utf8)
        else { return "\(value)" }
        text = String(text.dropFirst().dropLast())
        return text.count > 300 ? String(text.prefix(300)) + "..." : text
    }
}

/// Reads `tokenizer.json`.
struct TokenizerJSONReader {
    let root: JSONObject
    /// Whether the post-processor prepends a special token (transformers keeps that unless
    /// tokenizer_config.json sets add_bos_token explicitly).
    private(set) var postProcessorSetsBOS = false

    init(url: URL) throws {
        root = try JSONObject.load(url)
    }

    static let qwen2Pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let llama3Pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    mutating func spec() throws -> TokenizerSpec {
        let model = try root.requiredObject("model")
        if let type = try model.string("type"), type != "BPE" {
            throw model.fail("type", "\"\(type)\" is not supported (only byte-level BPE)")
        }
        if try model.bool("byte_fallback") == true { throw model.fail("byte_fallback", "true is not supported") }
        if let dropout = model.values["dropout"] as? Double, dropout > 0 { throw model.fail("dropout", "BPE dropout is not supported") }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let affix = try model.string(key), !affix.isEmpty { throw model.fail(key, "\"\(affix)\" is not supported") }
        }

        // Tokens by id: the vocabulary, then added tokens (which may extend it).
        guard let vocab = model.values["vocab"] as? [String: Any] else { throw model.fail("vocab", "expected an object of token -> id") }
        var byID: [Int: String] = [:]
        for (token, value) in vocab {
            guard let id = value as? Int, id >= 0 else { throw model.fail("vocab", "token \"\(token)\" has a non-integer id") }
            if byID[id] != nil { throw model.fail("vocab", "id \(id) is used twice") }
            byID[id] = token
        }
        var special = Set<Int>(), added = Set<Int>()
        for entry in try root.objects("added_tokens") {
            guard let id = try entry.int("id"), id >= 0 else { throw entry.fail("id", "is missing") }
            guard let content = try entry.string("content"), !content.isEmpty else { throw entry.fail("content", "is missing or empty") }
            for flag in ["lstrip", "rstrip", "single_word"] where try entry.bool(flag) == true {
                throw entry.fail(flag, "true is not supported")
            }
            byID[id] = content
            if try entry.bool("special") == true { special.insert(id) } else { added.insert(id) }
        }
        let count = (byID.keys.max() ?? -1) + 1
        guard count > 0 else { throw model.fail("vocab", "is empty") }
        var tokens: [String] = []
        tokens.reserveCapacity(count)
        for id in 0..<count {
            // A hole can also mean two keys JSONSerialization merged as canonically equivalent.
            guard let token = byID[id] else { throw model.fail("vocab", "no token has id \(id) (ids must be contiguous from 0)") }
            tokens.append(token)
        }

        var merges: [String] = []
        let rawMerges = try model.array("merges") ?? []
        merges.reserveCapacity(rawMerges.count)
        for (i, merge) in rawMerges.enumerated() {
            if let text = merge as? String {
                merges.append(text)
            } else if let pair = merge as? [String], pair.count == 2, !pair[0].unicodeScalars.contains(" "), !pair[1].unicodeScalars.contains(" ") {
                merges.append(pair[0] + " " + pair[1])
            } else {
                throw model.fail("merges[\(i)]", "expected \"left right\" or [\"left\", \"right\"] without spaces")
            }
        }

        let normalizer = try readNormalizer()
        let preTokenizer = try readPreTokenizer()
        try checkDecoder()
        let (prefix, suffix) = try readPostProcessor()
        postProcessorSetsBOS = prefix != nil

        var spec = TokenizerSpec(
            tokens: tokens, merges: merges, specialTokenIDs: special, addedTokenIDs: added,
            preTokenizer: preTokenizer, bosTokenID: prefix, eosTokenID: suffix,
            addBOS: prefix != nil, chatTemplate: nil)
        spec.addEOS = suffix != nil
        spec.normalizer = normalizer
        spec.ignoreMerges = try model.bool("ignore_merges") ?? false
        return spec
    }

    private func readNormalizer() throws -> TokenizerSpec.Normalizer {
        guard let normalizer = try root.object("normalizer") else { return .none }
        switch try normalizer.string("type") {
        case "NFC": return .nfc
        case "Sequence" where (try normalizer.array("normalizers") ?? []).isEmpty: return .none
        default: throw root.fail("normalizer", "\(root.describe("normalizer")) is not supported (only null or NFC)")
        }
    }

    /// Recognises the pre-tokenizer layouts of the supported families.
    private func readPreTokenizer() throws -> TokenizerSpec.PreTokenizer {
        guard let pre = try root.object("pre_tokenizer") else {
            throw root.fail("pre_tokenizer", "is missing (byte-level BPE needs a ByteLevel pre-tokenizer)")
        }
        let unsupported = root.fail("pre_tokenizer", "\(root.describe("pre_tokenizer")) is not a supported layout "
            + "(ByteLevel; Sequence[Digits(individual_digits), ByteLevel]; Sequence[Split(Qwen2 or Llama 3 regex), ByteLevel(use_regex=false)])")
        func isByteLevel(_ o: JSONObject, regex: Bool) throws -> Bool {
            try o.string("type") == "ByteLevel" && (try o.bool("add_prefix_space") ?? false) == false
                && (try o.bool("use_regex") ?? true) == regex
        }
        switch try pre.string("type") {
        case "ByteLevel":
            guard try isByteLevel(pre, regex: true) else { throw unsupported }
            return .gpt2
        case "Sequence":
            let steps = try pre.objects("pretokenizers")
            guard steps.count == 2 else { throw unsupported }
            if try steps[0].string("type") == "Digits" {
                guard try steps[0].bool("individual_digits") == true, try isByteLevel(steps[1], regex: true) else { throw unsupported }
                return .smollm
            }
            guard try steps[0].string("type") == "Split", try isByteLevel(steps[1], regex: false),
                  let pattern = try steps[0].object("pattern"), let regex = try pattern.string("Regex"),
                  (try steps[0].string("behavior")) == "Isolated", (try steps[0].bool("invert") ?? false) == false
            else { throw unsupported }
            switch regex {
            case Self.qwen2Pattern: return .qwen2
            case Self.llama3Pattern: return .llama3
            default: throw root.fail("pre_tokenizer.pretokenizers[0].pattern.Regex", "unsupported split pattern \"\(regex)\"")
            }
        default:
            throw unsupported
        }
    }

    private func checkDecoder() throws {
        guard let decoder = try root.object("decoder") else {
            throw root.fail("decoder", "is missing (byte-level BPE needs a ByteLevel decoder)")
        }
        guard try decoder.string("type") == "ByteLevel" else {
            throw root.fail("decoder", "\(root.describe("decoder")) is not supported (only ByteLevel)")
        }
    }

    /// The special tokens the post-processor puts before and after a single sequence.
    private func readPostProcessor() throws -> (prefix: Int?, suffix: Int?) {
        guard let post = try root.object("post_processor") else { return (nil, nil) }
        var steps = [post]
        if try post.string("type") == "Sequence" { steps = try post.objects("processors") }
        var prefix: Int?, suffix: Int?
        for step in steps {
            switch try step.string("type") {
            case "ByteLevel":
                continue
            case "TemplateProcessing":
                let specials = try step.object("special_tokens")
                var seenSequence = false
                for (i, item) in (try step.array("single") ?? []).enumerated() {
                    guard let dict = item as? [String: Any] else { throw step.fail("single[\(i)]", "expected an object") }
                    if dict["Sequence"] != nil {
                        seenSequence = true
                        continue
                    }
                    guard let token = dict["SpecialToken"] as? [String: Any], let name = token["id"] as? String,
                          let entry = try specials?.object(name), let ids = try entry.array("ids") as? [Int], ids.count == 1
                    else { throw step.fail("single[\(i)]", "expected a Sequence or a SpecialToken with one id") }
                    if seenSequence {
                        guard suffix == nil else { throw step.fail("single", "more than one token after the sequence is not supported") }
                        suffix = ids[0]
                    } else {
                        guard prefix == nil else { throw step.fail("single", "more than one token before the sequence is not supported") }
                        prefix = ids[0]
                    }
                }
            default:
                throw root.fail("post_processor", "\(root.describe("post_processor")) is not supported")
            }
        }
        return (prefix, suffix)
    }
}

/// Reads `tokenizer_config.json`: chat template, special tokens, `add_bos_token`.
/// `clean_up_tokenization_spaces` is deliberately ignored: transformers 5 skips that clean-up
/// for BPE models (it would delete real spaces before punctuation).
struct TokenizerConfigReader {
    let config: JSONObject
    let url: URL

    init(url: URL) throws {
        self.url = url
        config = try JSONObject.load(url)
    }

    func apply(to spec: inout TokenizerSpec, postProcessorSetsBOS: Bool) throws {
        spec.chatTemplate = try chatTemplate() ?? spec.chatTemplate
        if let bos = try tokenID("bos_token", in: spec) { spec.bosTokenID = bos }
        if let eos = try tokenID("eos_token", in: spec) { spec.eosTokenID = eos }
        // transformers registers every named special token as a special added token.
        for key in ["bos_token", "eos_token", "unk_token", "pad_token"] {
            if let id = try tokenID(key, in: spec) { spec.specialTokenIDs.insert(id) }
        }
        for key in ["additional_special_tokens", "extra_special_tokens"] {
            guard let list = config.values[key] as? [Any] else { continue }
            for (i, item) in list.enumerated() {
                guard let content = Self.content(item) else { throw config.fail("\(key)[\(i)]", "expected a string or {content}") }
                guard let id = Self.id(of: content, in: spec) else { throw config.fail("\(key)[\(i)]", "\"\(content)\" is not in the vocabulary") }
                spec.specialTokenIDs.insert(id)
            }
        }
        spec.addedTokenIDs.subtract(spec.specialTokenIDs)
        // An explicit add_bos_token / add_eos_token makes transformers rebuild the post-processor.
        if let addBOS = try config.bool("add_bos_token") {
            spec.addBOS = addBOS && spec.bosTokenID != nil
        } else if !postProcessorSetsBOS {
            spec.addBOS = false
        }
        if let addEOS = try config.bool("add_eos_token") { spec.addEOS = addEOS && spec.eosTokenID != nil }
    }

    /// `chat_template` as a string, or a list of `{name, template}` (the one named "default"),
    /// or a `chat_template.jinja` file next to the config (newer transformers save it there).
    private func chatTemplate() throws -> String? {
        if let value = config.values["chat_template"], !(value is NSNull) {
            if let text = value as? String { return text }
            guard let list = value as? [[String: Any]] else { throw config.fail("chat_template", "expected a string or a list of {name, template}") }
            let named = list.first { ($0["name"] as? String) == "default" }
            guard let template = named?["template"] as? String else {
                throw config.fail("chat_template", "no template named \"default\" among \(list.compactMap { $0["name"] as? String })")
            }
            return template
        }
        let sibling = url.deletingLastPathComponent().appendingPathComponent("chat_template.jinja")
        return try? String(contentsOf: sibling, encoding: .utf8)
    }

    private func tokenID(_ key: String, in spec: TokenizerSpec) throws -> Int? {
        guard config.has(key) else { return nil }
        guard let content = Self.content(config.values[key]!) else { throw config.fail(key, "expected a string or {\"content\": ...}") }
        guard let id = Self.id(of: content, in: spec) else { throw config.fail(key, "\"\(content)\" is not in the vocabulary") }
        return id
    }

    private static func content(_ value: Any) -> String? {
        if let s = value as? String { return s }
        return (value as? [String: Any])?["content"] as? String
    }

    /// Exact (byte-wise) lookup; later ids win, like the vocabulary map.
    private static func id(of content: String, in spec: TokenizerSpec) -> Int? {
        let key = Array(content.utf8)
        return spec.tokens.lastIndex { $0.utf8.elementsEqual(key) }
    }
}
