import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
@testable import TesseraServer

/// Every invalid request gets its status and an OpenAI error body naming the field, and the
/// server keeps serving afterwards.
@Suite(.serialized) struct BadRequestTests {
    struct Case: Sendable, CustomStringConvertible {
        let endpoint: String
        let body: String
        let status: Int
        let param: String?
        var description: String { "\(endpoint) \(body)" }
    }

    static let completions = "/v1/completions"
    static let chat = "/v1/chat/completions"
    static let longPrompt = "[" + Array(repeating: "5", count: 200).joined(separator: ",") + "]"

    static let cases: [Case] = [
        Case(endpoint: completions, body: #"{"model": "tiny", "prompt": "#, status: 400, param: nil),
        Case(endpoint: completions, body: "", status: 400, param: nil),
        Case(endpoint: completions, body: "[1, 2]", status: 400, param: nil),
        Case(endpoint: completions, body: #"{"prompt": "hi"}"#, status: 400, param: "model"),
        Case(endpoint: completions, body: #"{"model": "gpt-4", "prompt": "hi"}"#, status: 400, param: "model"),
        Case(endpoint: completions, body: #"{"model": "tiny"}"#, status: 400, param: "prompt"),
        Case(endpoint: completions, body: #"{"model": "tiny", "prompt": {"a": 1}}"#, status: 400, param: "prompt"),
        Case(endpoint: completions, body: #"{"model": "tiny", "prompt": "hi", "temperature": "hot"}"#, status: 400, param: "temperature"),
        Case(endpoint: completions, body: #"{"model": "tiny", "prompt": "hi", "max_tokens": 1.5}"#, status: 400, param: "max_tokens"),
        Case(endpoint: completions, body: #"{"model": "tiny", "prompt": "hi", "max_tokens": 0}"#, status: 400, param: "max_tokens"),
        Case(endpoint: completions, body: #"{"model": "tiny", "prompt": "hi", "max_tokens": 500}"#, status: 400, param: "max_tokens"),
        Case(endpoint: completions, body: #"{"model": "tiny", "prompt": "hi", "temperature": 3}"#, status: 400, param: "temperature"),
        Case(endpoint: completions, body: #"{"model": "tiny", "prompt": "hi", "top_p": 0}"#, status: 400, param: "top_p"),
        Case(endpoint: completions, body: #"{"model": "tiny", "prompt": "hi", "top_k": -5}"#, status: 400, param: "top_k"),
        Case(endpoint: completions, body: #"{"model": "tiny", "prompt": "hi", "n": 0}"#, status: 400, param: "n"),
        Case(endpoint: completions, body: #"{"model": "tiny", "prompt": "hi", "logprobs": 50}"#, status: 400, param: "logprobs"),
        Case(endpoint: completions, body: #"{"model": "tiny", "prompt": "hi", "stop": [""]}"#, status: 400, param: "stop"),
        Case(endpoint: completions, body: #"{"model": "tiny", "prompt": "hi", "stop": 3}"#, status: 400, param: "stop"),
        Case(endpoint: completions, body: #"{"model": "tiny", "prompt": "hi", "stream": "yes"}"#, status: 400, param: "stream"),
        Case(endpoint: completions, body: #"{"model": "tiny", "prompt": "hi", "presence_penalty": 2.5}"#, status: 400, param: "presence_penalty"),
        Case(endpoint: completions, body: #"{"model": "tiny", "prompt": "hi", "frequency_penalty": -3}"#, status: 400, param: "frequency_penalty"),
        Case(endpoint: completions, body: #"{"model": "tiny", "prompt": "hi", "repetition_penalty": 0}"#, status: 400, param: "repetition_penalty"),
        Case(endpoint: completions, body: #"{"model": "tiny", "prompt": "hi", "min_p": 1.5}"#, status: 400, param: "min_p"),
        Case(endpoint: completions, body: #"{"model": "tiny", "prompt": "hi", "logit_bias": {"5": 101}}"#, status: 400, param: "logit_bias"),
        Case(endpoint: completions, body: #"{"model": "tiny", "prompt": "hi", "logit_bias": {"999999": 1}}"#, status: 400, param: "logit_bias"),
        Case(endpoint: completions, body: #"{"model": "tiny", "prompt": "hi", "logit_bias": {"hello": 1}}"#, status: 400, param: "logit_bias"),
        Case(endpoint: completions, body: #"{"model": "tiny", "prompt": "hi", "stop_token_ids": [999999]}"#, status: 400, param: "stop_token_ids"),
        Case(endpoint: completions, body: #"{"model": "tiny", "prompt": "hi", "echo": true, "logprobs": 1}"#, status: 400, param: "echo"),
        Case(endpoint: completions, body: #"{"model": "tiny", "prompt": "hi", "suffix": "x"}"#, status: 400, param: "suffix"),
        Case(endpoint: chat, body: #"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "presence_penalty": 9}"#, status: 400, param: "presence_penalty"),
        Case(endpoint: completions, body: #"{"model": "tiny", "prompt": ""}"#, status: 400, param: "prompt"),
        Case(endpoint: completions, body: #"{"model": "tiny", "prompt": [999999]}"#, status: 400, param: "prompt"),
        Case(endpoint: completions, body: #"{"model": "tiny", "prompt": \#(longPrompt)}"#, status: 400, param: "prompt"),
        Case(endpoint: chat, body: #"{"model": "tiny", "messages": []}"#, status: 400, param: "messages"),
        Case(endpoint: chat, body: #"{"model": "tiny", "messages": "hi"}"#, status: 400, param: "messages"),
        Case(endpoint: chat, body: #"{"model": "tiny", "messages": [{"role": "user"}]}"#, status: 400, param: "messages[0].content"),
        Case(endpoint: chat, body: #"{"model": "tiny", "messages": [{"content": "x"}]}"#, status: 400, param: "messages[0].role"),
        Case(endpoint: chat, body: #"{"model": "tiny", "messages": [{"role": "wizard", "content": "x"}]}"#, status: 400, param: "messages[0].role"),
        Case(endpoint: chat, body: #"{"model": "tiny", "messages": [{"role": "user", "content": 5}]}"#, status: 400, param: "messages[0].content"),
        Case(endpoint: chat, body: #"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "top_logprobs": 2}"#, status: 400, param: "top_logprobs"),
        Case(endpoint: chat, body: #"{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "max_completion_tokens": -1}"#, status: 400, param: "max_completion_tokens"),
    ]

    @Test func everyBadRequestGetsItsStatusAndNamesTheField() async throws {
        try await ServerHarness.withServer { _, client in
            for bad in Self.cases {
                let response = try await client.post(bad.endpoint, json: bad.body)
                #expect(response.status.code == bad.status, "\(bad)")
                let error = try #require(try response.json()["error"] as? [String: Any], "\(bad): \(response.text)")
                #expect(error["type"] as? String == "invalid_request_error", "\(bad)")
                #expect((error["message"] as? String)?.isEmpty == false, "\(bad)")
                #expect(error["param"] as? String == bad.param, "\(bad): \(error)")
                #expect(error.keys.contains("param") && error.keys.contains("code"), "sent even when null: \(error)")
            }
            // Still serving.
            let fine = try await client.post(Self.completions, object: ["model": "tiny", "prompt": "hi", "max_tokens": 3])
            #expect(fine.status == .ok)
        }
    }

    @Test func unknownRoutesGetAnOpenAIStyle404() async throws {
        try await ServerHarness.withServer { _, client in
            let response = try await client.get("/v1/engines")
            #expect(response.status == .notFound)
            let error = try #require(try response.json()["error"] as? [String: Any])
            #expect(error["code"] as? String == "not_found")
            #expect((error["message"] as? String)?.contains("/v1/engines") == true)
        }
    }

    @Test func oversizedBodiesGet413() async throws {
        try await ServerHarness.withServer(maxBodyBytes: 2048) { _, client in
            let prompt = String(repeating: "word ", count: 1000)
            let response = try await client.post(Self.completions, object: ["model": "tiny", "prompt": prompt])
            #expect(response.status == .contentTooLarge)
            #expect((try response.json()["error"] as? [String: Any])?["code"] as? String == "body_too_large")
        }
    }

    @Test func apiKeyGuardsV1Only() async throws {
        try await ServerHarness.withServer(apiKey: "s3cret") { _, client in
            let body: [String: Any] = ["model": "tiny", "prompt": "hi", "max_tokens": 2]
            let missing = try await client.post(Self.completions, object: body)
            #expect(missing.status == .unauthorized)
            #expect((try missing.json()["error"] as? [String: Any])?["type"] as? String == "authentication_error")
            let wrong = try await client.post(Self.completions, object: body, headers: [.authorization: "Bearer nope"])
            #expect(wrong.status == .unauthorized)
            #expect(try await client.get("/v1/models").status == .unauthorized)
            let right = try await client.post(Self.completions, object: body, headers: [.authorization: "Bearer s3cret"])
            #expect(right.status == .ok)
            #expect(try await client.get("/v1/models", headers: [.authorization: "Bearer s3cret"]).status == .ok)
            #expect(try await client.get("/health").status == .ok)
        }
    }

    @Test func admissionRefusesBeyondItsLimitAndWhileDraining() throws {
        let admission = Admission(limit: 3)
        try admission.enter(2)
        #expect(throws: APIError.queueFull(limit: 3)) { try admission.enter(2) }
        try admission.enter(1)
        admission.leave(2)
        #expect(admission.inFlight == 1)
        try admission.enter(2)
        admission.startDraining()
        #expect(throws: APIError.shuttingDown) { try admission.enter(1) }
    }

    @Test func bearerComparisonIsExact() {
        let key = Array("Bearer abc".utf8)
        #expect(BearerAuthMiddleware<BasicRequestContext>.constantTimeEqual(key, key))
        #expect(!BearerAuthMiddleware<BasicRequestContext>.constantTimeEqual(key, Array("Bearer abd".utf8)))
        #expect(!BearerAuthMiddleware<BasicRequestContext>.constantTimeEqual(key, Array("Bearer ab".utf8)))
        #expect(!BearerAuthMiddleware<BasicRequestContext>.constantTimeEqual(key, []))
    }
}

