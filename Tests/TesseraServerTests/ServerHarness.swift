import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import TestSupport
import TesseraEngine
@testable import TesseraServer

/// A server over the tiny random-weight Llama (with the tiny Qwen-style tokenizer), run live on
/// a free loopback port for each test.
enum ServerHarness {
    static let modelName = "tiny"
    static let maxModelLen = 128

    static func llm() async throws -> LLM {
        try await LLM(model: Fixtures.url("models/tiny-llama").path,
                      cache: CacheSettings(blockSize: 4, budgetBytesPerRank: 4 << 20, maxModelLen: maxModelLen),
                      options: EngineOptions(maxNumSeqs: 8))
    }

    static func withServer<T: Sendable>(
        apiKey: String? = nil, maxQueue: Int = 32, maxBodyBytes: Int = 1 << 20,
        _ body: @Sendable (LLM, any TestClientProtocol) async throws -> T
    ) async throws -> T {
        let llm = try await llm()
        defer { llm.shutdown() }
        let server = OpenAIServer(
            engine: llm.engine, tokenizer: llm.tokenizer!,
            options: ServerOptions(port: 0, apiKey: apiKey, modelName: modelName, maxQueue: maxQueue, maxBodyBytes: maxBodyBytes),
            logger: Logger(label: "tessera.test"))
        return try await server.application().test(.ahc(.http)) { client in try await body(llm, client) }
    }
}

extension TestClientProtocol {
    /// POSTs a JSON body (given as text, so malformed bodies can be sent too).
    func post(_ uri: String, json: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        var headers = headers
        headers[.contentType] = "application/json"
        return try await execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: json))
    }

    func post(_ uri: String, object: [String: Any], headers: HTTPFields = [:]) async throws -> TestResponse {
        let data = try JSONSerialization.data(withJSONObject: object)
        return try await post(uri, json: String(decoding: data, as: UTF8.self), headers: headers)
    }

    func get(_ uri: String, headers: HTTPFields = [:]) async throws -> TestResponse {
        try await execute(uri: uri, method: .get, headers: headers)
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }

    func json() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
    }

    /// The `data:` payloads of a server-sent-event body, in order.
    var events: [String] {
        text.components(separatedBy: "\n\n").compactMap { event in
            event.hasPrefix("data: ") ? String(event.dropFirst(6)) : nil
        }
    }
}

func object(_ json: String) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] ?? [:]
}
