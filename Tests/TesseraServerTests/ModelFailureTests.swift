import Foundation
import HummingbirdTesting
import Logging
import Testing
import TestSupport
import TesseraEngine
import TesseraModels
import TesseraTensor
@testable import TesseraServer

/// When the model fails, clients get a 500 with an OpenAI error body (or an error event in a
/// stream), never a hang or an empty answer.
@Suite struct ModelFailureTests {
    final class Failing: StepExecutor, @unchecked Sendable {
        let config: ModelConfig
        let numBlocks = 16, blockSize = 4, contextParallelSize = 1
        struct Boom: Error {}

        init(config: ModelConfig) { self.config = config }
        func forward(_ batch: ForwardBatch) throws -> Tensor { throw Boom() }
    }

    static func withFailingServer(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let opened = try OpenedModel.open(Fixtures.url("models/tiny-llama").path)
        let engine = try EngineCore(executor: Failing(config: opened.config), tokenizer: opened.tokenizer)
        defer { engine.shutdown() }
        let server = OpenAIServer(engine: engine, tokenizer: try opened.requireTokenizer(),
                                  options: ServerOptions(port: 0, modelName: "tiny"), logger: Logger(label: "tessera.test"))
        try await server.application().test(.ahc(.http)) { client in try await body(client) }
    }

    @Test func wholeResponsesGet500() async throws {
        try await Self.withFailingServer { client in
            let response = try await client.post("/v1/completions", object: ["model": "tiny", "prompt": "Hi", "max_tokens": 4])
            #expect(response.status == .internalServerError)
            let error = try #require(try response.json()["error"] as? [String: Any])
            #expect(error["type"] as? String == "server_error")
            #expect((error["message"] as? String)?.contains("Boom") == true)
            // The engine refuses work after a failure: still a 500 with a body, at once.
            let again = try await client.post("/v1/completions", object: ["model": "tiny", "prompt": "Hi", "max_tokens": 4])
            #expect(again.status == .internalServerError)
            #expect((try again.json()["error"] as? [String: Any])?["type"] as? String == "server_error")
        }
    }

    @Test func streamsEndWithAnErrorEvent() async throws {
        try await Self.withFailingServer { client in
            let response = try await client.post("/v1/completions", object: [
                "model": "tiny", "prompt": "Hi", "max_tokens": 4, "stream": true,
            ])
            #expect(response.status == .ok)
            let events = response.events
            #expect(events.last == "[DONE]")
            let error = try #require(try events.dropLast().last.map(object)?["error"] as? [String: Any])
            #expect(error["type"] as? String == "server_error")
        }
    }
}
