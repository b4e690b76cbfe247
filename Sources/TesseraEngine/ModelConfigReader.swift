import Foundation
import TesseraModels

/// Reads only a model's configuration (no weights): a .gguf file, a Hugging Face folder or its
/// config.json, or the `smollm2` alias. `tessera plan` works on configs alone this way.
public enum ModelConfigReader {
    public static func read(_ reference: String, store: ModelStore = ModelStore()) throws -> ModelConfig {
        let url = try OpenedModel.resolve(reference, store: store)
        var isDirectory: ObjCBool = false
        FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
        if isDirectory.boolValue {
            return try ModelConfig(huggingFaceConfig: url.appendingPathComponent("config.json"))
        }
        if url.pathExtension == "json" {
            return try ModelConfig(huggingFaceConfig: url)
        }
        return try ModelConfig(gguf: GGUFFile(url: url))
    }
}
