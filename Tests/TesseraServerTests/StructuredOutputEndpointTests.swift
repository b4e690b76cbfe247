import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
import TesseraEngine
@testable import TesseraServer

/// `response_format` over HTTP: json_schema gives what the engine gives with the same compiled
/// schema, json_object gives an object, unsupported keywords are refused by name.
@Suite(.serialized) struct StructuredOutputEndpointTests {
    static let schema = #"{"type":"object","properties":{"ok":{"type":"boolean"},"n":{"type":"integer"}},"required":["ok","n"],"additionalProperties":false}"#

    @Test func jsonSchemaMatchesTheEngine() async throws {
        try await ServerHarness.withServer { llm, client in
            let prompt = try #require(llm.tokenizer).encode("Hello world")
            let grammar = try JSONSchemaGrammar(schemaText: Self.schema)
            let offline = try await llm.generate([prompt], SamplingParams(maxTokens: 40, constraint: grammar))[0]
            let response = try await client.post("/v1/completions", json: """
                {"model":"tiny","prompt":\(prompt),"max_tokens":40,"temperature":0,
                 "response_format":{"type":"json_schema","json_schema":{"name":"t","schema":\(Self.schema)}}}
                """)
            #expect(response.status == .ok, "\(response.text)")
            let choice = try #require((try response.json()["choices"] as? [[String: Any]])?.first)
            #expect(choice["text"] as? String == offline.text)
            if offline.finishReason == .stop {
                let value = try #require(try JSONSerialization.jsonObject(with: Data(offline.text.utf8)) as? [String: Any])
                #expect(value["ok"] is Bool && value["n"] is Int)
            }
        }
    }

    @Test func jsonObjectAndRefusals() async throws {
        try await ServerHarness.withServer { _, client in
            let response = try await client.post("/v1/chat/completions", object: [
                "model": "tiny", "messages": [["role": "user", "content": "hi"]], "max_tokens": 60, "temperature": 0,
                "response_format": ["type": "json_object"],
            ])
            #expect(response.status == .ok, "\(response.text)")
            let choice = try #require((try response.json()["choices"] as? [[String: Any]])?.first)
            let text = try #require((choice["message"] as? [String: Any])?["content"] as? String)
            if choice["finish_reason"] as? String == "stop" {
                #expect(try JSONSerialization.jsonObject(with: Data(text.utf8)) is [String: Any], "\(text)")
            }
            for keyword in ["pattern", "minimum", "allOf"] {
                let refused = try await client.post("/v1/completions", json: """
                    {"model":"tiny","prompt":"hi","max_tokens":4,
                     "response_format":{"type":"json_schema","json_schema":{"name":"t","schema":{"type":"string","\(keyword)":1}}}}
                    """)
                #expect(refused.status == .badRequest)
                #expect(refused.text.contains("'\(keyword)'"), "\(refused.text)")
                #expect(refused.text.contains("response_format.json_schema.schema"))
            }
        }
    }
}
