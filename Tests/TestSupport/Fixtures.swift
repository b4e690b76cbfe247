import Foundation
import TesseraModels

/// Paths to the committed fixtures (`Tests/Fixtures`) and the downloaded default model.
public enum Fixtures {
    public static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()   // TestSupport
        .deletingLastPathComponent()   // Tests
        .appendingPathComponent("Fixtures", isDirectory: true)

    public static func url(_ relativePath: String) -> URL {
        root.appendingPathComponent(relativePath)
    }

    /// Parsed JSON of a fixture file.
    public static func json(_ relativePath: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url(relativePath)))
    }

    /// The SmolLM2 GGUF fetched by `tessera pull` (`make test` runs it first).
    /// Throws, never skips, when it is missing: the parity tests must run in CI.
    public static func smolLM2() throws -> URL {
        let path = ModelStore().defaultModelPath
        guard FileManager.default.fileExists(atPath: path.path) else {
            throw FixtureError.missingModel(path.path)
        }
        return path
    }
}

public enum FixtureError: Error, CustomStringConvertible {
    case missingModel(String)
    public var description: String {
        switch self {
        case .missingModel(let path):
            "default model not found at \(path); run `make model` (or `tessera pull`) first"
        }
    }
}
