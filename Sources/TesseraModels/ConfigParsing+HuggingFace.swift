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
    /// `model_type` llama / mistral map to `.llama`, qwen3 to `.qwen3`. Defaults follow
    /// transformers' config classes: `num_key_value_heads` = heads, `head_dim` = hidden / heads,
    /// `rope_theta` 10000 (also read from `rope_parameters.rope_theta`), untied embeddings.
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
        case "qwen3": architecture = .qwen3
        default: throw ModelFileError.unsupportedArchitecture(file: file, architecture: modelType)
        }
        if let activation = try json.optionalString("hidden_act"), activation != "silu" {
            throw ModelFileError.invalidConfig(file: file, field: "hidden_act", value: activation, reason: "only silu is supported")
        }
        let ropeParameters = json.object["rope_parameters"] as? [String: Any]
        for (field, scaling) in [("rope_scaling", json.object["rope_scaling"]), ("rope_parameters", ropeParameters as Any?)] {
            guard let scaling = scaling as? [String: Any] else { continue }
            let type = (scaling["rope_type"] ?? scaling["type"]) as? String ?? "default"
            guard type == "default" else {
                throw ModelFileError.invalidConfig(file: file, field: "\(field).rope_type", value: type, reason: "rope scaling is not supported")
            }
        }
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
        try Self.refuseUnimplemented(json, modelType: modelType, maxPositions: maxPositionEmbeddings,
                                     ropeParameters: ropeParameters)
    }

    /// Refuses, by key, config.json settings that change the model's math but that Tessera does
    /// not implement, so such a model fails to open instead of running silently wrong. A key
    /// that is absent, null or set to its neutral value is accepted. (`rope_scaling` /
    /// `rope_parameters` types and `hidden_act` are checked above.)
    private static func refuseUnimplemented(
        _ json: HFConfigJSON, modelType: String, maxPositions: Int, ropeParameters: [String: Any]?
    ) throws {
        func refuse(_ key: String, _ value: Any, _ reason: String) -> ModelFileError {
            .unsupportedConfig(file: json.file, key: key, value: "\(value)", reason: reason)
        }
        // Sliding-window attention. Mistral applies `sliding_window` whenever it is set; Qwen
        // configs carry a value (often 4096) but only use it with `use_sliding_window: true`
        // (transformers defaults that to false). Llama is treated like Mistral, to be safe.
        // A window at least as long as `max_position_embeddings` never hides a key, since no
        // sequence may be longer (see `maxModelLen`), so it is accepted.
        let windowOn = try modelType != "qwen3" || json.optionalBool("use_sliding_window") == true
        if windowOn, let window = try json.optionalInt("sliding_window"), window < maxPositions {
            throw refuse("sliding_window", window, "sliding-window attention is not implemented")
        }
        if let layerTypes = json.object["layer_types"] as? [Any],
           let other = layerTypes.first(where: { $0 as? String != "full_attention" }) {
            throw refuse("layer_types", other, "only full_attention layers are implemented")
        }
        for key in ["attention_bias", "mlp_bias"] {
            if try json.optionalBool(key) == true {
                throw refuse(key, "true", "linear biases are not implemented")
            }
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
