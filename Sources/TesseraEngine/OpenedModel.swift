import Foundation
import TesseraModels
import TesseraTensor
import TesseraTokenizer

/// How linear layers' weights are held once loaded.
public enum WeightFormat: String, Sendable, CaseIterable {
    /// As the file stores them (quantised blocks, f16, bf16, f32), multiplied by the kernels for
    /// that format: the fast default.
    case stored
    /// Widened to f32 at load time: the exact path, which the parity suites run on.
    case f32
}

/// Where weights come from: the model's files, or seeded random values of the same shapes.
public enum LoadFormat: String, Sendable, CaseIterable {
    case auto
    /// Random weights for the model's config.json (`DummyWeightSource`); no weight file needed.
    case dummy
}

/// A model opened but not yet loaded: its configuration, a source of its weights (read later by
/// each rank, only its shard) and its tokenizer.
public struct OpenedModel: Sendable {
    public let config: ModelConfig
    public let weights: any WeightSource
    /// Nil only for a dummy-weight model whose folder ships no tokenizer.
    public let tokenizer: Tokenizer?
    public let source: URL

    /// Resolves `reference` (a .gguf file, a Hugging Face folder, or the alias `smollm2`) and
    /// opens it, its linear layers to be held as `weightFormat` says; `progress` hears of every
    /// weight as the ranks read it.
    public static func open(
        _ reference: String, loadFormat: LoadFormat = .auto, weightFormat: WeightFormat = .stored,
        store: ModelStore = ModelStore(), progress: @escaping @Sendable (String) -> Void = { _ in }
    ) throws -> OpenedModel {
        let url = try resolve(reference, store: store)
        progress("opening \(url.path)")
        switch loadFormat {
        case .auto:
            let files = try ModelFiles.open(url)
            let weights: any WeightSource = weightFormat == .f32 ? DequantizedWeights(files.weights) : files.weights
            return OpenedModel(
                config: files.config, weights: ProgressReportingWeights(base: weights, report: progress),
                tokenizer: try makeTokenizer(files, source: url), source: url)
        case .dummy:
            let config = try ModelConfigReader.read(url.path, store: store)
            return OpenedModel(
                config: config, weights: DummyWeightSource(config: config),
                tokenizer: try dummyRunTokenizer(url), source: url)
        }
    }

    /// The tokenizer, or an error saying this model has none.
    public func requireTokenizer() throws -> Tokenizer {
        guard let tokenizer else { throw ModelReferenceError.noTokenizer(source.path) }
        return tokenizer
    }

    public static func resolve(_ reference: String, store: ModelStore) throws -> URL {
        if reference == ModelStore.defaultModel.alias {
            let path = store.defaultModelPath
            guard FileManager.default.fileExists(atPath: path.path) else {
                throw ModelReferenceError.notPulled(path.path)
            }
            return path
        }
        let url = URL(fileURLWithPath: reference)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ModelReferenceError.notFound(reference)
        }
        return url
    }

    /// Only the tokenizer of a model file or folder; no weights are read.
    public static func loadTokenizer(_ url: URL) throws -> Tokenizer {
        try makeTokenizer(ModelFiles.open(url), source: url)
    }

    /// The tokenizer of a model run with dummy weights, which needs no weight files: a folder's
    /// tokenizer.json, or a GGUF's tokenizer metadata; nil when there is none. Any other
    /// failure (a corrupt GGUF, an unreadable tokenizer.json) is reported as it is.
    private static func dummyRunTokenizer(_ url: URL) throws -> Tokenizer? {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
        guard isDirectory.boolValue else {
            let files = try ModelFiles.open(url)
            return files.tokenizerSpec == nil ? nil : try makeTokenizer(files, source: url)
        }
        let json = url.appendingPathComponent("tokenizer.json")
        guard FileManager.default.fileExists(atPath: json.path) else { return nil }
        let config = url.appendingPathComponent("tokenizer_config.json")
        return try Tokenizer(
            tokenizerJSON: json, tokenizerConfig: FileManager.default.fileExists(atPath: config.path) ? config : nil)
    }

    private static func makeTokenizer(_ files: ModelFiles, source: URL) throws -> Tokenizer {
        if let spec = files.tokenizerSpec { return try Tokenizer(spec: spec) }
        if let json = files.tokenizerJSONURL {
            return try Tokenizer(tokenizerJSON: json, tokenizerConfig: files.tokenizerConfigURL)
        }
        throw ModelReferenceError.noTokenizer(source.path)
    }
}

/// Passes loads through and reports "weights i/n" as each tensor (or shard of one) is read.
private final class ProgressReportingWeights: StoredWeightSource, @unchecked Sendable {
    let base: any WeightSource
    let report: @Sendable (String) -> Void
    private let lock = NSLock()
    private var loaded = 0

    init(base: any WeightSource, report: @escaping @Sendable (String) -> Void) {
        self.base = base
        self.report = report
    }

    var tensorInfos: [String: TensorInfo] { base.tensorInfos }

    func load(_ name: String) throws -> Tensor {
        defer { tick(name) }
        return try base.load(name)
    }

    func load(_ name: String, rows: Range<Int>) throws -> Tensor {
        defer { tick(name) }
        return try base.load(name, rows: rows)
    }

    func load(_ name: String, rows: Range<Int>, columns: Range<Int>) throws -> Tensor {
        defer { tick(name) }
        return try base.load(name, rows: rows, columns: columns)
    }

    func stored(_ name: String, rows: Range<Int>, columns: Range<Int>?) throws -> WeightMatrix? {
        guard let base = base as? any StoredWeightSource else { return nil }
        defer { tick(name) }
        return try base.stored(name, rows: rows, columns: columns)
    }

    func unloadableReason(_ name: String) -> ModelFileError? {
        (base as? any StoredWeightSource)?.unloadableReason(name)
    }

    private func tick(_ name: String) {
        let count = lock.withLock { loaded += 1; return loaded }
        report("weights: \(count) loads, last \(name)")
    }
}

public enum ModelReferenceError: Error, CustomStringConvertible {
    case notPulled(String)
    case notFound(String)
    case noTokenizer(String)

    public var description: String {
        switch self {
        case .notPulled(let path):
            "the default model is not downloaded yet (expected \(path)); run `tessera pull` first"
        case .notFound(let reference):
            "model '\(reference)' not found: give a .gguf file, a Hugging Face model folder, or `smollm2`"
        case .noTokenizer(let path):
            "\(path) has no tokenizer (no tokenizer metadata in the GGUF, no tokenizer.json in the folder)"
        }
    }
}
