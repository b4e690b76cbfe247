import Foundation

extension ModelConfig {
    /// The configuration in a Hugging Face `config.json`.
    public init(huggingFaceConfig url: URL) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            if !FileManager.default.fileExists(atPath: url.path) {
                throw ModelFileError.missingFile(path: url.path, what: "config.json")
            }
            throw ModelFileError.unreadable(path: url.path, reason: "\(error)")
        }
        try self.init(huggingFaceConfigJSON: data, file: url.path)
    }

    /// Parses the contents of a `config.json`; `file` names it in errors.
    ///
    /// `model_type` llama / mistral map to `.llama`, qwen2 to `.qwen2`, qwen3 to `.qwen3`.
    /// Defaults follow transformers' config classes: `num_key_value_heads` = heads, `head_dim` =
    /// hidden / heads, `rope_theta` 10000 (also read from `rope_parameters.rope_theta`), untied
    /// embeddings. Rope scaling (`rope_scaling`, or transformers 5's `rope_parameters`) may be
    /// linear, llama3 or yarn; attention biases are Qwen2's q/k/v ones or `attention_bias`'s
    /// q/k/v/o; Mistral's `sliding_window` is kept in ``slidingWindow``.
    public init(huggingFaceConfigJSON data: Data, file: String) throws {
        let json = try HFConfigJSON(data: data, file: file)
        let modelType = try json.string("model_type")
        if modelType == "deepseek_v2" || modelType == "deepseek_v3" {
            try self.init(deepSeekJSON: json, modelType: modelType)
            return
        }
        let architecture: Architecture
        switch modelType {
        case "llama", "mistral": architecture = .llama
        case "qwen2": architecture = .qwen2
        case "qwen3": architecture = .qwen3
        default: throw ModelFileError.unsupportedArchitecture(file: file, architecture: modelType)
        }
        if let activation = try json.optionalString("hidden_act"), activation != "silu" {
            throw ModelFileError.invalidConfig(file: file, field: "hidden_act", value: activation, reason: "only silu is supported")
        }
        let ropeParameters = json.object["rope_parameters"] as? [String: Any]
        let hidden = try json.int("hidden_size")
        let heads = try json.int("num_attention_heads")
        let eos: [Int]
        switch json.object["eos_token_id"] {
        case nil, is NSNull: eos = []
        case let list as [Any]:
            eos = try list.map { value in
                guard let id = HFConfigJSON.exactInt(value) else {
                    throw ModelFileError.invalidConfig(file: file, field: "eos_token_id", value: "\(value)", reason: "not an integer")
                }
                return id
            }
        default: eos = [try json.int("eos_token_id")]
        }
        let ropeTheta = try json.optionalDouble("rope_theta")
            ?? ropeParameters.flatMap { HFConfigJSON.double($0["rope_theta"]) }
            ?? 10_000
        self.init(
            architecture: architecture,
            vocabSize: try json.int("vocab_size"),
            hiddenSize: hidden,
            intermediateSize: try json.int("intermediate_size"),
            numLayers: try json.int("num_hidden_layers"),
            numHeads: heads,
            numKVHeads: try json.optionalInt("num_key_value_heads") ?? heads,
            headDim: try json.optionalInt("head_dim") ?? (heads > 0 ? hidden / heads : 0),
            ropeTheta: ropeTheta,
            rmsNormEps: Float(try json.optionalDouble("rms_norm_eps") ?? 1e-6),
            maxPositionEmbeddings: try json.optionalInt("max_position_embeddings") ?? 2048,
            tieWordEmbeddings: try json.optionalBool("tie_word_embeddings") ?? false,
            bosTokenID: try json.optionalInt("bos_token_id"),
            eosTokenIDs: eos
        )
        try validate(file: file, names: [
            .vocabSize: "vocab_size", .hiddenSize: "hidden_size", .intermediateSize: "intermediate_size",
            .numLayers: "num_hidden_layers", .numHeads: "num_attention_heads", .numKVHeads: "num_key_value_heads",
            .headDim: "head_dim", .ropeTheta: "rope_theta", .rmsNormEps: "rms_norm_eps",
            .maxPositionEmbeddings: "max_position_embeddings", .bosTokenID: "bos_token_id", .eosTokenIDs: "eos_token_id",
        ])
        try readRopeScaling(json, ropeParameters: ropeParameters)
        try readAttentionBiases(json, modelType: modelType)
        try readSlidingWindow(json, modelType: modelType)
        try Self.refuseUnimplemented(json, ropeParameters: ropeParameters)
    }

    /// The rope scaling of `rope_scaling` (hub configs) or else `rope_parameters` (transformers
    /// 5), as transformers reads them: `rope_scaling` wins when both are set, `rope_type` or the
    /// older `type` names the kind, a top-level `original_max_position_embeddings` wins over the
    /// dictionary's, and `max_position_embeddings` is the fallback. `default` is plain rotary.
    private mutating func readRopeScaling(_ json: HFConfigJSON, ropeParameters: [String: Any]?) throws {
        let file = json.file
        let field: String
        let scaling: [String: Any]
        if let hub = json.object["rope_scaling"] as? [String: Any], !hub.isEmpty {
            (field, scaling) = ("rope_scaling", hub)
        } else if let parameters = ropeParameters {
            (field, scaling) = ("rope_parameters", parameters)
        } else {
            return
        }
        let type = (scaling["rope_type"] ?? scaling["type"]) as? String ?? "default"
        func number(_ key: String) throws -> Double {
            guard let value = scaling[key], !(value is NSNull) else { throw ModelFileError.missingField(file: file, field: "\(field).\(key)") }
            guard let number = HFConfigJSON.double(value) else {
                throw ModelFileError.invalidConfig(file: file, field: "\(field).\(key)", value: "\(value)", reason: "expected a number")
            }
            return number
        }
        func optionalNumber(_ key: String) throws -> Double? {
            guard let value = scaling[key], !(value is NSNull) else { return nil }
            return try number(key)
        }
        func originalLength() throws -> Int {
            if let top = try json.optionalInt("original_max_position_embeddings") { return top }
            if let value = scaling["original_max_position_embeddings"], !(value is NSNull) {
                guard let length = HFConfigJSON.exactInt(value) else {
                    throw ModelFileError.invalidConfig(file: file, field: "\(field).original_max_position_embeddings",
                                                       value: "\(value)", reason: "expected an integer")
                }
                return length
            }
            return maxPositionEmbeddings
        }
        switch type {
        case "default":
            return
        case "linear":
            ropeScaling = .linear(factor: try number("factor"))
        case "llama3":
            ropeScaling = .llama3(Llama3RopeScaling(
                factor: try number("factor"), lowFrequencyFactor: try number("low_freq_factor"),
                highFrequencyFactor: try number("high_freq_factor"), originalMaxPositions: try originalLength()))
        case "yarn":
            var y = YaRNScaling(factor: try number("factor"), originalMaxPositions: try originalLength())
            // transformers: `beta_fast or 32`, `beta_slow or 1` (0 means the default too).
            if let fast = try optionalNumber("beta_fast"), fast != 0 { y.betaFast = fast }
            if let slow = try optionalNumber("beta_slow"), slow != 0 { y.betaSlow = slow }
            // Only the cosines and sines are scaled for these architectures (no softmax mscale^2,
            // which only DeepSeek applies): by mscale / mscale_all_dim when both are set, else by
            // 0.1 ln(factor) + 1.
            let mscale = try optionalNumber("mscale") ?? 0, allDim = try optionalNumber("mscale_all_dim") ?? 0
            if mscale != 0, allDim != 0 {
                y.mscale = mscale
                y.mscaleAllDim = allDim
            }
            if let truncate = scaling["truncate"], !(truncate is NSNull) {
                guard let flag = truncate as? Bool else {
                    throw ModelFileError.invalidConfig(file: file, field: "\(field).truncate", value: "\(truncate)", reason: "expected true or false")
                }
                y.truncate = flag
            }
            if let given = try optionalNumber("attention_factor"), abs(given - y.rotaryScale) > 1e-12 * max(1, abs(given)) {
                throw ModelFileError.unsupportedConfig(
                    file: file, key: "\(field).attention_factor", value: "\(given)",
                    reason: "an attention factor other than YaRN's own (\(y.rotaryScale)) is not implemented")
            }
            yarn = y
        case "dynamic":
            throw ModelFileError.unsupportedConfig(
                file: file, key: "\(field).rope_type", value: type,
                reason: "dynamic NTK scaling is not implemented: its frequencies depend on the current sequence length, "
                    + "which does not fit a KV cache whose keys were rotated at earlier lengths")
        default:
            throw ModelFileError.unsupportedConfig(file: file, key: "\(field).rope_type", value: type,
                                                   reason: "only default, linear, llama3 and yarn rope scaling are implemented")
        }
        try validateRopeScaling(file: file, field: field)
    }

    /// Qwen2 always has q/k/v biases (and none on o_proj); Llama and Qwen3 have q/k/v/o biases
    /// when `attention_bias` is true. Mistral has no such switch: transformers ignores the key.
    private mutating func readAttentionBiases(_ json: HFConfigJSON, modelType: String) throws {
        switch modelType {
        case "qwen2":
            attentionQKVBias = true
        case "llama", "qwen3":
            let on = try json.optionalBool("attention_bias") ?? false
            attentionQKVBias = on
            attentionOutputBias = on
        default:
            break
        }
    }

    /// Sliding-window attention. Mistral applies `sliding_window` whenever it is set: it becomes
    /// ``slidingWindow`` (nil when absent, null, or at least `max_position_embeddings` long,
    /// since no sequence may be longer; see `maxModelLen`). Qwen2/Qwen3 configs carry a value but
    /// use it only with `use_sliding_window: true`, and then only from layer `max_window_layers`
    /// on, which is not implemented: refused. A Llama config with a window is refused too
    /// (transformers' Llama has no window; the key would mean a model converted wrongly).
    private mutating func readSlidingWindow(_ json: HFConfigJSON, modelType: String) throws {
        func refuse(_ key: String, _ value: Any, _ reason: String) -> ModelFileError {
            .unsupportedConfig(file: json.file, key: key, value: "\(value)", reason: reason)
        }
        let window = try json.optionalInt("sliding_window")
        switch modelType {
        case "mistral":
            if let window {
                guard window > 0 else {
                    throw ModelFileError.invalidConfig(file: json.file, field: "sliding_window", value: "\(window)", reason: "must be positive or null")
                }
                slidingWindow = window < maxPositionEmbeddings ? window : nil
            }
        case "qwen2", "qwen3":
            if try json.optionalBool("use_sliding_window") == true {
                throw refuse("use_sliding_window", true,
                             "sliding windows on the layers from max_window_layers on are not implemented")
            }
        default:
            if let window, window < maxPositionEmbeddings {
                throw refuse("sliding_window", window, "a sliding window in a \(modelType) config is not implemented")
            }
        }
    }

    /// Refuses, by key, config.json settings that change the model's math but that Tessera does
    /// not implement, so such a model fails to open instead of running silently wrong. A key
    /// that is absent, null or set to its neutral value is accepted. (Rope scaling, attention
    /// biases, sliding windows and `hidden_act` are checked above.)
    private static func refuseUnimplemented(_ json: HFConfigJSON, ropeParameters: [String: Any]?) throws {
        func refuse(_ key: String, _ value: Any, _ reason: String) -> ModelFileError {
            .unsupportedConfig(file: json.file, key: key, value: "\(value)", reason: reason)
        }
        if let layerTypes = json.object["layer_types"] as? [Any],
           let other = layerTypes.first(where: { $0 as? String != "full_attention" }) {
            throw refuse("layer_types", other, "only full_attention layers are implemented")
        }
        if try json.optionalBool("mlp_bias") == true {
            throw refuse("mlp_bias", "true", "linear biases are not implemented")
        }
        for key in ["attn_logit_softcapping", "final_logit_softcapping"] {
            if let cap = try json.optionalDouble(key) {
                throw refuse(key, cap, "logit soft-capping is not implemented")
            }
        }
        // transformers 5 may move `partial_rotary_factor` into `rope_parameters`.
        let partialFactors: [(String, Double?)] = [
            ("partial_rotary_factor", try json.optionalDouble("partial_rotary_factor")),
            ("rope_parameters.partial_rotary_factor", HFConfigJSON.double(ropeParameters?["partial_rotary_factor"])),
        ]
        for case let (key, factor?) in partialFactors where factor != 1 {
            throw refuse(key, factor, "partial rotary embeddings are not implemented")
        }
    }
}

/// Typed, error-reporting access to the top level of a config.json. `null` counts as absent.
struct HFConfigJSON {
    let object: [String: Any]
    let file: String

    init(data: Data, file: String) throws {
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw ModelFileError.invalidValue(file: file, what: "JSON", reason: "\(error)")
        }
        guard let object = parsed as? [String: Any] else {
            throw ModelFileError.invalidValue(file: file, what: "JSON", reason: "the top level is not an object")
        }
        self.object = object
        self.file = file
    }

    /// An integral JSON number as `Int` (rejects booleans, fractions and strings).
    static func exactInt(_ value: Any?) -> Int? {
        guard let number = value as? NSNumber, !isBool(number) else { return nil }
        let type = String(cString: number.objCType)
        if type == "d" || type == "f" { return Int(exactly: number.doubleValue) }
        return number.intValue
    }

    static func double(_ value: Any?) -> Double? {
        guard let number = value as? NSNumber, !isBool(number) else { return nil }
        return number.doubleValue
    }

    private static func isBool(_ number: NSNumber) -> Bool {
        #if canImport(Darwin)
        return CFGetTypeID(number) == CFBooleanGetTypeID()
        #else
        // JSON booleans arrive as NSNumbers of type char ("c"); JSON never yields Int8 otherwise.
        return String(cString: number.objCType) == "c"
        #endif
    }

    private func present(_ key: String) -> Any? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        return value
    }

    private func invalid(_ key: String, _ value: Any, _ expected: String) -> ModelFileError {
        .invalidConfig(file: file, field: key, value: "\(value)", reason: "expected \(expected)")
    }

    func string(_ key: String) throws -> String {
        guard let value = present(key) else { throw ModelFileError.missingField(file: file, field: key) }
        guard let string = value as? String else { throw invalid(key, value, "a string") }
        return string
    }

    func optionalString(_ key: String) throws -> String? {
        try present(key) == nil ? nil : string(key)
    }

    func int(_ key: String) throws -> Int {
        guard let value = present(key) else { throw ModelFileError.missingField(file: file, field: key) }
        guard let int = Self.exactInt(value) else { throw invalid(key, value, "an integer") }
        return int
    }

    func optionalInt(_ key: String) throws -> Int? {
        try present(key) == nil ? nil : int(key)
    }

    func optionalDouble(_ key: String) throws -> Double? {
        guard let value = present(key) else { return nil }
        guard let double = Self.double(value) else { throw invalid(key, value, "a number") }
        return double
    }

    func optionalBool(_ key: String) throws -> Bool? {
        guard let value = present(key) else { return nil }
        guard let number = value as? NSNumber, Self.isBool(number) else { throw invalid(key, value, "true or false") }
        return number.boolValue
    }
}
