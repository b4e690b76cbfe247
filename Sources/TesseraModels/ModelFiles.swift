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
        let config = try ModelConfig(huggingFaceConfig: configURL)
        let weights = try SafetensorsWeightSource(folder: folder)
        func optional(_ name: String) -> URL? {
            let url = folder.appendingPathComponent(name)
            return FileManager.default.fileExists(atPath: url.path) ? url : nil
        }
        return ModelFiles(
            config: config, weights: weights, tokenizerSpec: nil,
            tokenizerJSONURL: optional("tokenizer.json"), tokenizerConfigURL: optional("tokenizer_config.json"))
    }
}
