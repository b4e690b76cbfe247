import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
import TesseraEngine
@testable import TesseraServer

/// Tools over HTTP, on the tiny model (whose ChatML template ignores tools): every refusal is a
/// 400 naming its field; tools, earlier calls and tool results reach the prompt in Hermes form
/// (seen through /tokenize and /detokenize). Bodies are JSON text: key order matters here.
@Suite(.serialized) struct ToolCallEndpointTests {
    static let weather = #"{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}"#
    static let user = #"{"role": "user", "content": "Weather in Paris?"}"#

    static func param(_ response: TestResponse) throws -> String? {
        (try response.json()["error"] as? [String: Any])?["param"] as? String
    }

    @Test func refusalsNameTheirField() async throws {
        let (weather, user) = (Self.weather, Self.user)
        let patterned = #"{"type": "function", "function": {"name": "find", "parameters": {"type": "object", "properties": {"q": {"type": "string", "pattern": "a+"}}}}}"#
        let badArguments = #"{"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{not json"}}]}"#
        // (fields besides model and max_tokens, the param named, a text the message must hold)
        let cases: [(String, String, String?)] = [
            (#""messages": [\#(user)], "tools": [{"type": "retrieval", "function": {"name": "x"}}]"#, "tools[0].type", nil),
            (#""messages": [\#(user)], "tools": [{"type": "function", "function": {"name": "bad name!"}}]"#, "tools[0].function.name", nil),
            (#""messages": [\#(user)], "tools": [\#(weather), \#(weather)]"#, "tools[1].function.name", nil),
            (#""messages": [\#(user)], "tools": [\#(weather)], "tool_choice": {"type": "function", "function": {"name": "nope"}}"#,
             "tool_choice.function.name", "nope"),
            (#""messages": [\#(user)], "tools": [\#(weather)], "tool_choice": "sometimes""#, "tool_choice", nil),
            (#""messages": [\#(user)], "tool_choice": "required""#, "tool_choice", nil),
            (#""messages": [\#(user)], "tools": [\#(patterned)], "tool_choice": "required""#, "tools[0].function.parameters", "'pattern'"),
            (#""messages": [\#(user)], "tools": [\#(weather)], "tool_choice": "required", "response_format": {"type": "json_object"}"#,
             "response_format", nil),
            (#""messages": [\#(user), \#(badArguments)], "tools": [\#(weather)]"#, "messages[1].tool_calls[0].function.arguments", nil),
            (#""messages": [\#(user), {"role": "tool", "content": "sunny"}], "tools": [\#(weather)]"#, "messages[1].tool_call_id", nil),
            (#""messages": [\#(user), {"role": "assistant", "content": null}], "tools": [\#(weather)]"#, "messages[1].content", nil),
        ]
        try await ServerHarness.withServer { _, client in
            for (fields, param, mention) in cases {
                let response = try await client.post("/v1/chat/completions", json: #"{"model": "tiny", "max_tokens": 4, \#(fields)}"#)
                #expect(response.status == .badRequest, "\(param): \(response.text)")
                #expect(try Self.param(response) == param, "\(response.text)")
                if let mention { #expect(response.text.contains(mention), "\(response.text)") }
            }
            // Keywords the constraint cannot enforce are fine when nothing is forced.
            let auto = try await client.post("/tokenize", json: #"{"model": "tiny", "messages": [\#(user)], "tools": [\#(patterned)]}"#)
            #expect(auto.status == .ok, "\(auto.text)")
        }
    }

    /// A ChatML template without tools: the tools go in a system turn, the earlier calls in the
    /// assistant's content, the results in one user turn, in Hermes form.
    @Test func toolsAndToolTurnsReachThePrompt() async throws {
        let (weather, user) = (Self.weather, Self.user)
        try await ServerHarness.withServer { _, client in
            let response = try await client.post("/tokenize", json: #"""
                {"model": "tiny", "tools": [\#(weather)], "messages": [\#(user),
                 {"role": "assistant", "content": null, "tool_calls": [
                   {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
                   {"id": "c2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}}]},
                 {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
                 {"role": "tool", "tool_call_id": "c2", "content": "rain"}]}
                """#)
            #expect(response.status == .ok, "\(response.text)")
            let tokens = try #require(try response.json()["tokens"] as? [Int])
            let text = try await client.post("/detokenize", object: ["tokens": tokens])
            let prompt = try #require(try text.json()["prompt"] as? String)
            #expect(prompt.hasPrefix("<|im_start|>system\n# Tools\n"), "\(prompt)")
            #expect(prompt.contains("<tools>\n" + weather + "\n</tools>"), "\(prompt)")
            #expect(prompt.contains("<|im_start|>user\nWeather in Paris?<|im_end|>"), "\(prompt)")
            #expect(prompt.contains("<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call><|im_end|>"), "\(prompt)")
            #expect(prompt.contains("<|im_start|>user\n<tool_response>\nsunny\n</tool_response>\n<tool_response>\nrain\n</tool_response><|im_end|>"), "\(prompt)")
            #expect(prompt.hasSuffix("<|im_start|>assistant\n"), "\(prompt)")
        }
    }
}
