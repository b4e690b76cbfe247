import Foundation
import Testing
import TesseraEngine
import TestSupport

/// Opening a folder reports what is really wrong with it.
@Suite struct OpenedModelTests {
    /// tiny-llama's config and tokenizer, without its weights.
    func folderWithoutWeights() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-noweights-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for name in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
            try FileManager.default.copyItem(
                at: Fixtures.url("models/tiny-llama/\(name)"), to: folder.appendingPathComponent(name))
        }
        return folder
    }

    @Test func aFolderWithoutWeightsSaysSo() throws {
        let folder = try folderWithoutWeights()
        defer { try? FileManager.default.removeItem(at: folder) }
        do {
            _ = try OpenedModel.open(folder.path)
            Issue.record("a folder without weights opened")
        } catch {
            let message = "\(error)"
            #expect(message.contains("safetensors"), "\(message)")
            #expect(!message.contains("tokenizer"), "\(message)")
        }
    }

    @Test func dummyWeightsNeedNoWeightFilesButKeepTheTokenizer() throws {
        let folder = try folderWithoutWeights()
        defer { try? FileManager.default.removeItem(at: folder) }
        let opened = try OpenedModel.open(folder.path, loadFormat: .dummy)
        let tokenizer = try opened.requireTokenizer()
        #expect(tokenizer.decode(tokenizer.encode("hello world")) == "hello world")
    }

    @Test func aDummyRunOfACorruptTokenizerReportsIt() throws {
        let folder = try folderWithoutWeights()
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data("{ not json".utf8).write(to: folder.appendingPathComponent("tokenizer.json"))
        #expect(throws: (any Error).self) { try OpenedModel.open(folder.path, loadFormat: .dummy) }
    }
}
