import Foundation
import TesseraTokenizer

/// The entry point for loading a model: a `.gguf` file, or a Hugging Face folder with
/// `config.json` and safetensors weights.
public struct ModelFiles: Sendable {
    public let config: ModelConfig
    public let weights: any WeightSource
    /// The tokenizer stored in a GGUF file; nil for Hugging Face folders, whose tokenizer is
    /// described by `tokenizerJSONURL` and `tokenizerConfigURL`.
    public let tokenizerSpec: TokenizerSpec?
    public let tokenizerJSONURL: URL?
    public let tokenizerConfigURL: URL?

    public init(
        config: ModelConfig, weights: any WeightSource, tokenizerSpec: TokenizerSpec?,
        tokenizerJSONURL: URL?, tokenizerConfigURL: URL?
    ) {
        self.config = config
        self.weights = weights
        self.tokenizerSpec = tokenizerSpec
        self.tokenizerJSONURL = tokenizerJSONURL
        self.tokenizerConfigURL = tokenizerConfigURL
    }

    /// Opens a GGUF file or a Hugging Face model folder. Throws `ModelFileError` naming the
    /// path when something is missing or invalid.
    public static func open(_ url: URL) throws -> ModelFiles {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw ModelFileError.missingFile(path: url.path, what: "model file or folder")
        }
        return isDirectory.boolValue ? try openFolder(url) : try openGGUF(url)
    }

    static func openGGUF(_ url: URL) throws -> ModelFiles {
        let file = try GGUFFile(url: url)
        let config = try ModelConfig(gguf: file)
        let weights = try GGUFWeightSource(file: file)
        let tokenizer = file.metadata["tokenizer.ggml.model"] == nil ? nil : try TokenizerSpec(gguf: file)
        return ModelFiles(config: config, weights: weights, tokenizerSpec: tokenizer, tokenizerJSONURL: nil, tokenizerConfigURL: nil)
    }

    static func openFolder(_ folder: URL) throws -> ModelFiles {
        let configURL = folder.appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: configURL.path) else {
            throw ModelFileError.missingFile(path: configURL.path, what: "config.json")
        }
        var config = try ModelConfig(huggingFaceConfig: configURL)
        let generationURL = folder.appendingPathComponent("generation_config.json")
        if FileManager.default.fileExists(atPath: generationURL.path) {
            for id in try generationEOS(generationURL) where !config.eosTokenIDs.contains(id) {
                guard (0..<config.vocabSize).contains(id) else {
                    throw ModelFileError.invalidConfig(file: generationURL.path, field: "eos_token_id", value: "\(id)",
                                                       reason: "outside the vocabulary (size \(config.vocabSize))")
                }
                config.eosTokenIDs.append(id)
            }
        }
        let weights = try SafetensorsWeightSource(folder: folder)
        func optional(_ name: String) -> URL? {
            let url = folder.appendingPathComponent(name)
            return FileManager.default.fileExists(atPath: url.path) ? url : nil
        }
        return ModelFiles(
            config: config, weights: weights, tokenizerSpec: nil,
            tokenizerJSONURL: optional("tokenizer.json"), tokenizerConfigURL: optional("tokenizer_config.json"))
    }

    /// The end-of-sequence ids of a `generation_config.json` (`eos_token_id`: an integer, a
    /// list of them, or null/absent). They are added to config.json's, as generation stops at
    /// any of them (Llama 3.1 lists `<|eot_id|>` and `<|eom_id|>` there).
    static func generationEOS(_ url: URL) throws -> [Int] {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ModelFileError.unreadable(path: url.path, reason: "\(error)")
        }
        let json = try HFConfigJSON(data: data, file: url.path)
        switch json.object["eos_token_id"] {
        case nil, is NSNull: return []
        case let list as [Any]:
            return try list.map { value in
                guard let id = HFConfigJSON.exactInt(value) else {
                    throw ModelFileError.invalidConfig(file: url.path, field: "eos_token_id", value: "\(value)", reason: "not an integer")
                }
                return id
            }
        default: return [try json.int("eos_token_id")]
        }
    }
}
