import Foundation
import HummingbirdTesting
import Testing
import TesseraEngine
import TesseraTokenizer
@testable import TesseraServer

/// Completions and chat completions over HTTP against the offline engine API's results.
@Suite(.serialized) struct CompletionEndpointTests {
    @Test func greedyCompletionEqualsTheOfflineEngine() async throws {
        try await ServerHarness.withServer { llm, client in
            let offline = try await llm.generate(["Hello world"], SamplingParams(maxTokens: 12, ignoreEOS: true))[0]
            let response = try await client.post("/v1/completions", object: [
                "model": "tiny", "prompt": "Hello world", "max_tokens": 12, "temperature": 0, "ignore_eos": true,
            ])
            #expect(response.status == .ok)
            let body = try response.json()
            let choices = try #require(body["choices"] as? [[String: Any]])
            #expect(choices.count == 1)
            #expect(choices[0]["text"] as? String == offline.text)
            #expect(choices[0]["finish_reason"] as? String == "length")
            #expect(body["object"] as? String == "text_completion")
            let usage = try #require(body["usage"] as? [String: Int])
            #expect(usage["prompt_tokens"] == offline.promptIDs.count)
            #expect(usage["completion_tokens"] == 12)
            #expect(usage["total_tokens"] == offline.promptIDs.count + 12)
        }
    }

    @Test func streamedCompletionAddsUpToTheWholeOne() async throws {
        try await ServerHarness.withServer { _, client in
            let request: [String: Any] = ["model": "tiny", "prompt": "Once upon", "max_tokens": 20, "temperature": 0, "ignore_eos": true]
            let whole = try await client.post("/v1/completions", object: request).json()
            var streaming = request
            streaming["stream"] = true
            streaming["stream_options"] = ["include_usage": true]
            let response = try await client.post("/v1/completions", object: streaming)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/event-stream")
            let events = response.events
            #expect(events.last == "[DONE]")
            let chunks = try events.dropLast().map(object)
            let text = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first?["text"] as? String }.joined()
            let wholeChoices = try #require(whole["choices"] as? [[String: Any]])
            #expect(text == wholeChoices[0]["text"] as? String)
            let finishes = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String }
            #expect(finishes == ["length"])
            // Not known yet, or not asked for: sent as explicit nulls, as OpenAI does.
            let choices = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first }
            #expect(!choices.isEmpty && choices.allSatisfy { $0["logprobs"] is NSNull })
            #expect(choices.dropLast().allSatisfy { $0["finish_reason"] is NSNull })
            let usageChunk = try #require(chunks.last)
            #expect((usageChunk["choices"] as? [Any])?.isEmpty == true)
            #expect((usageChunk["usage"] as? [String: Int])?["completion_tokens"] == 20)
        }
    }

    @Test func chatUsesTheChatTemplateAndStreamsARoleFirst() async throws {
        try await ServerHarness.withServer { llm, client in
            let tokenizer = try #require(llm.tokenizer)
            let ids = try tokenizer.encodeChat([ChatMessage(role: "user", content: "Hi there")], addGenerationPrompt: true)
            let offline = try await llm.generate([ids], SamplingParams(maxTokens: 10, ignoreEOS: true))[0]
            let request: [String: Any] = [
                "model": "tiny", "messages": [["role": "user", "content": "Hi there"]],
                "max_completion_tokens": 10, "temperature": 0, "ignore_eos": true,
            ]
            let body = try await client.post("/v1/chat/completions", object: request).json()
            #expect(body["object"] as? String == "chat.completion")
            let choice = try #require((body["choices"] as? [[String: Any]])?.first)
            let message = try #require(choice["message"] as? [String: Any])
            #expect(message["role"] as? String == "assistant")
            #expect(message["content"] as? String == offline.text)
            #expect((body["usage"] as? [String: Int])?["prompt_tokens"] == ids.count)

            var streaming = request
            streaming["stream"] = true
            let events = try await client.post("/v1/chat/completions", object: streaming).events
            #expect(events.last == "[DONE]")
            let deltas = try events.dropLast().map(object).compactMap { ($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any] }
            #expect(deltas.first?["role"] as? String == "assistant")
            #expect(deltas.compactMap { $0["content"] as? String }.joined() == offline.text)
        }
    }

    @Test func severalChoicesAreSeededPerChoiceAndReproducible() async throws {
        try await ServerHarness.withServer { llm, client in
            let request: [String: Any] = [
                "model": "tiny", "prompt": "The", "max_tokens": 8, "temperature": 1, "seed": 7, "n": 3, "ignore_eos": true,
            ]
            let first = try #require(try await client.post("/v1/completions", object: request).json()["choices"] as? [[String: Any]])
            let again = try #require(try await client.post("/v1/completions", object: request).json()["choices"] as? [[String: Any]])
            #expect(first.map { $0["index"] as? Int } == [0, 1, 2])
            #expect(first.map { $0["text"] as? String } == again.map { $0["text"] as? String })
            for index in 0..<3 {
                let params = SamplingParams(temperature: 1, seed: UInt64(7 + index), maxTokens: 8, ignoreEOS: true)
                let offline = try await llm.generate(["The"], params)[0]
                #expect(first[index]["text"] as? String == offline.text)
            }
        }
    }

    @Test func logprobsDescribeTheChosenTokens() async throws {
        try await ServerHarness.withServer { _, client in
            let completion = try await client.post("/v1/completions", object: [
                "model": "tiny", "prompt": "Hello", "max_tokens": 6, "temperature": 0, "logprobs": 3, "ignore_eos": true,
            ]).json()
            let choice = try #require((completion["choices"] as? [[String: Any]])?.first)
            let logprobs = try #require(choice["logprobs"] as? [String: Any])
            let tokens = try #require(logprobs["tokens"] as? [String])
            let values = try #require(logprobs["token_logprobs"] as? [Double])
            let tops = try #require(logprobs["top_logprobs"] as? [[String: Double]])
            #expect(tokens.count == 6 && values.count == 6 && tops.count == 6)
            #expect(tokens.joined() == choice["text"] as? String)
            for (value, top) in zip(values, tops) {
                #expect(value <= 0)
                // Greedy: the chosen token is the likeliest, so nothing in the top list beats it.
                #expect(top.values.allSatisfy { $0 <= value + 1e-6 })
                #expect(top.count >= 1 && top.count <= 4)
            }

            let chat = try await client.post("/v1/chat/completions", object: [
                "model": "tiny", "messages": [["role": "user", "content": "Hi"]], "max_tokens": 4, "temperature": 0,
                "logprobs": true, "top_logprobs": 2, "ignore_eos": true,
            ]).json()
            let chatChoice = try #require((chat["choices"] as? [[String: Any]])?.first)
            let content = try #require((chatChoice["logprobs"] as? [String: Any])?["content"] as? [[String: Any]])
            #expect(content.count == 4)
            for entry in content {
                let top = try #require(entry["top_logprobs"] as? [[String: Any]])
                #expect(top.count == 2)
                #expect((top[0]["logprob"] as? Double ?? 0) >= (top[1]["logprob"] as? Double ?? 0))
                #expect(entry["logprob"] as? Double == top[0]["logprob"] as? Double)
                #expect((entry["bytes"] as? [Int])?.isEmpty == false)
            }
        }
    }

    @Test func modelsHealthVersionAndMetrics() async throws {
        try await ServerHarness.withServer { _, client in
            let models = try await client.get("/v1/models").json()
            let data = try #require(models["data"] as? [[String: Any]])
            #expect(data.map { $0["id"] as? String } == ["tiny"])
            #expect(data[0]["max_model_len"] as? Int == ServerHarness.maxModelLen)
            #expect(try await client.get("/health").status == .ok)
            #expect(try await client.get("/version").json()["version"] as? String == TesseraVersion.current)

            _ = try await client.post("/v1/completions", object: ["model": "tiny", "prompt": "Hi", "max_tokens": 5, "ignore_eos": true])
            let metrics = try await client.get("/metrics").text
            #expect(metrics.contains("tessera_num_requests_running 0"))
            #expect(metrics.contains("tessera_num_requests_waiting 0"))
            #expect(metrics.contains("tessera_kv_cache_blocks_used 0"))
            #expect(metrics.contains("tessera_generation_tokens_total 5"))
            #expect(metrics.contains("tessera_time_to_first_token_seconds_bucket"))
            #expect(metrics.contains("tessera_time_per_output_token_seconds_count 1"))
            #expect(metrics.contains(#"tessera_request_finished_total{finished_reason="length"} 1"#))
        }
    }
}
