import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
import TesseraEngine
import TesseraTokenizer
@testable import TesseraServer

/// The sampling fields over HTTP (against the offline engine with the same params), echo, stop
/// token ids, /tokenize, /detokenize and /v1/models/{id}.
@Suite(.serialized) struct SamplingEndpointTests {
    private static func texts(_ body: [String: Any]) -> [String] {
        (body["choices"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String }
    }

    @Test func samplingFieldsReachTheEngine() async throws {
        try await ServerHarness.withServer { llm, client in
            let prompt = try #require(llm.tokenizer).encode("Hello world")
            let params = SamplingParams(
                temperature: 0.8, topK: 30, seed: 5, maxTokens: 12, ignoreEOS: true, presencePenalty: 0.7,
                frequencyPenalty: 0.4, repetitionPenalty: 1.3, logitBias: [7: 3, 9: -100], minP: 0.05)
            let offline = try await llm.generate([prompt], params)[0]
            let response = try await client.post("/v1/completions", object: [
                "model": "tiny", "prompt": prompt, "max_tokens": 12, "temperature": 0.8, "top_k": 30, "seed": 5,
                "ignore_eos": true, "presence_penalty": 0.7, "frequency_penalty": 0.4, "repetition_penalty": 1.3,
                "logit_bias": ["7": 3, "9": -100], "min_p": 0.05,
            ])
            #expect(response.status == .ok, "\(response.text)")
            #expect(Self.texts(try response.json()) == [offline.text])
            #expect(!offline.ids.contains(9))
        }
    }

    @Test func logitBiasBansAndForces() async throws {
        try await ServerHarness.withServer { llm, _ in
            let prompt = try #require(llm.tokenizer).encode("Hello world")
            let free = try await llm.generate([prompt], SamplingParams(maxTokens: 30, ignoreEOS: true))[0]
            let favourite = try #require(free.ids.first)
            for temperature: Float in [0, 1.5] {
                let banned = try await llm.generate(
                    [prompt], SamplingParams(temperature: temperature, seed: 3, maxTokens: 60, ignoreEOS: true, logitBias: [favourite: -100]))[0]
                #expect(!banned.ids.contains(favourite))
                let forced = try await llm.generate(
                    [prompt], SamplingParams(temperature: temperature, seed: 3, maxTokens: 20, ignoreEOS: true, logitBias: [42: 100]))[0]
                #expect(forced.ids == Array(repeating: 42, count: 20))
            }
        }
    }

    @Test func stopTokenIDsFinishWithStop() async throws {
        try await ServerHarness.withServer { llm, client in
            let prompt = try #require(llm.tokenizer).encode("Hello world")
            let free = try await llm.generate([prompt], SamplingParams(maxTokens: 10, ignoreEOS: true))[0]
            let fourth = free.ids[3]
            let cut = try #require(free.ids.firstIndex(of: fourth))
            let response = try await client.post("/v1/completions", object: [
                "model": "tiny", "prompt": prompt, "max_tokens": 10, "temperature": 0, "ignore_eos": true,
                "stop_token_ids": [fourth],
            ])
            let body = try response.json()
            let choice = try #require((body["choices"] as? [[String: Any]])?.first)
            #expect(choice["finish_reason"] as? String == "stop")
            #expect((body["usage"] as? [String: Int])?["completion_tokens"] == cut + 1)
            let text = try #require(llm.tokenizer).decode(Array(free.ids[..<cut]), skipSpecialTokens: true)
            #expect(choice["text"] as? String == text)
        }
    }

    @Test func echoPutsThePromptFirst() async throws {
        try await ServerHarness.withServer { _, client in
            let request: [String: Any] = ["model": "tiny", "prompt": "Once upon", "max_tokens": 6, "temperature": 0, "ignore_eos": true]
            let plain = Self.texts(try await client.post("/v1/completions", object: request).json())
            var echoed = request
            echoed["echo"] = true
            #expect(Self.texts(try await client.post("/v1/completions", object: echoed).json()) == plain.map { "Once upon" + $0 })
            echoed["stream"] = true
            let events = try await client.post("/v1/completions", object: echoed).events.dropLast()
            let streamed = try events.map { try Self.texts(object($0)).joined() }.joined()
            #expect(streamed == "Once upon" + plain[0])
        }
    }

    @Test func tokenizeAndDetokenize() async throws {
        try await ServerHarness.withServer(apiKey: "k") { llm, client in
            let tokenizer = try #require(llm.tokenizer)
            let key: HTTPFields = [.authorization: "Bearer k"]
            #expect(try await client.post("/tokenize", object: ["prompt": "Hello world"]).status == .unauthorized)
            let tokens = try await client.post("/tokenize", object: ["prompt": "Hello world"], headers: key).json()
            #expect(tokens["tokens"] as? [Int] == tokenizer.encode("Hello world"))
            #expect(tokens["count"] as? Int == tokenizer.encode("Hello world").count)
            #expect(tokens["max_model_len"] as? Int == ServerHarness.maxModelLen)
            let messages = [["role": "user", "content": "Hi"]]
            let chat = try await client.post("/tokenize", object: ["messages": messages], headers: key).json()
            let expected = try tokenizer.encodeChat([ChatMessage(role: "user", content: "Hi")], addGenerationPrompt: true)
            #expect(chat["tokens"] as? [Int] == expected)
            let text = try await client.post("/detokenize", object: ["tokens": tokenizer.encode("Hello world")], headers: key).json()
            #expect(text["prompt"] as? String == tokenizer.decode(tokenizer.encode("Hello world")))
            let bad = try await client.post("/detokenize", object: ["tokens": [999999]], headers: key)
            #expect(bad.status == .badRequest)
            #expect((try bad.json()["error"] as? [String: Any])?["param"] as? String == "tokens")
            let neither = try await client.post("/tokenize", object: ["model": "tiny"], headers: key)
            #expect((try neither.json()["error"] as? [String: Any])?["param"] as? String == "prompt")
            let wrongModel = try await client.post("/tokenize", object: ["model": "x", "prompt": "a"], headers: key)
            #expect((try wrongModel.json()["error"] as? [String: Any])?["param"] as? String == "model")
        }
    }

    @Test func oneModelByID() async throws {
        try await ServerHarness.withServer { _, client in
            let found = try await client.get("/v1/models/tiny")
            #expect(found.status == .ok)
            let model = try found.json()
            #expect(model["id"] as? String == "tiny" && model["object"] as? String == "model")
            let missing = try await client.get("/v1/models/org/other")
            #expect(missing.status == .notFound)
            let error = try #require(try missing.json()["error"] as? [String: Any])
            #expect(error["code"] as? String == "model_not_found")
            #expect((error["message"] as? String)?.contains("org/other") == true)
        }
    }
}
