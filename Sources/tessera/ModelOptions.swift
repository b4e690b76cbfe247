import ArgumentParser
import Foundation
import TesseraEngine
import TesseraModels

extension KVCacheDType: ExpressibleByArgument {}

/// Which model to load and how to hold its KV cache.
struct ModelOptions: ParsableArguments {
    @Option(help: "A .gguf file, a Hugging Face model folder (config.json + safetensors), or `smollm2` (the default model, fetched by `tessera pull`).")
    var model: String = ModelStore.defaultModel.alias

    @Option(help: "Element type of the KV cache: f32, f16 or bf16.")
    var kvCacheDtype: KVCacheDType = .f32

    @Option(help: "Tokens per KV-cache block.")
    var blockSize: Int = 16

    @Flag(name: .shortAndLong, help: "Print no progress while loading.")
    var quiet = false

    func validate() throws {
        guard blockSize >= 1 else { throw ValidationError("--block-size must be at least 1 (got \(blockSize))") }
    }

    /// Loads the model, showing progress on one rewritten line of standard error.
    func load() throws -> LoadedModel {
        let progress = ProgressLine(enabled: !quiet)
        let started = Date()
        let loaded = try LoadedModel.load(model) { progress.show($0) }
        progress.finish(String(format: "loaded %@ in %.1f s", loaded.source.lastPathComponent, Date().timeIntervalSince(started)))
        return loaded
    }
}
