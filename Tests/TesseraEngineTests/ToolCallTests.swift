import Foundation
import TestSupport
import Testing
import TesseraTokenizer
@testable import TesseraEngine

/// Tool calls: the parser (Hermes and Llama 3, whole and streamed in every split), the
/// tool-call grammar (what it accepts, refusals with the tool's index) and forced calls of the
/// random-weight model that always parse and fit their schema.
@Suite struct ToolCallTests {
    static let names: Set<String> = ["get_weather", "add"]

    static func parse(_ text: String, _ format: ToolCallFormat = .hermes) -> (content: String?, calls: [ParsedToolCall]) {
        ToolCallStreamParser.parse(text, format: format, toolNames: names)
    }

    @Test func hermesCallsAndContent() {
        let text = "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}\n</tool_call>\n"
            + "<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": 1, \"b\": [2, 3]}}\n</tool_call>"
        let (content, calls) = Self.parse(text)
        #expect(content == "Let me check.")
        #expect(calls == [ParsedToolCall(name: "get_weather", arguments: #"{"city":"Paris","days":2}"#),
                          ParsedToolCall(name: "add", arguments: #"{"a":1,"b":[2,3]}"#)])
        // No call: all content. Unclosed at the end: still a call. Quoted arguments are read.
        #expect(Self.parse("  Just text. ") == ("Just text.", []))
        #expect(Self.parse("<tool_call>{\"name\":\"add\",\"arguments\":{}}").calls == [ParsedToolCall(name: "add", arguments: "{}")])
        #expect(Self.parse(#"<tool_call>{"name":"add","arguments":"{\"a\":1}"}</tool_call>"#).calls
                == [ParsedToolCall(name: "add", arguments: #"{"a":1}"#)])
        #expect(Self.parse("").content == nil)
    }

    @Test func unparseableBlocksStayContent() {
        for block in ["<tool_call>not json</tool_call>", #"<tool_call>{"name":"unknown","arguments":{}}</tool_call>"#,
                      #"<tool_call>{"name":"add","arguments":[1]}</tool_call>"#, "<tool_call>{\"name\":\"add\""] {
            let (content, calls) = Self.parse("Hi " + block)
            #expect(calls.isEmpty, "\(block)")
            #expect(content == "Hi " + block, "\(block)")
        }
        // A good call beside a bad one: the good one is a call, the bad one content.
        let (content, calls) = Self.parse(#"<tool_call>oops</tool_call><tool_call>{"name":"add","arguments":{"a":1}}</tool_call>"#)
        #expect(content == "<tool_call>oops</tool_call>")
        #expect(calls.count == 1)
    }

    @Test func llama3Calls() {
        #expect(Self.parse(#"{"name": "add", "parameters": {"a": 1}}"#, .llama3).calls == [ParsedToolCall(name: "add", arguments: #"{"a":1}"#)])
        let two = Self.parse(#"<|python_tag|>{"name": "add", "parameters": {"a": "x;}"}}; {"name": "get_weather", "parameters": {}}"#, .llama3)
        #expect(two.content == nil)
        #expect(two.calls.map(\.name) == ["add", "get_weather"])
        #expect(two.calls.first?.arguments == #"{"a":"x;}"}"#)
        #expect(Self.parse("The answer is 4.", .llama3) == ("The answer is 4.", []))
        #expect(Self.parse(#"{"name": "nope", "parameters": {}}"#, .llama3) == (#"{"name": "nope", "parameters": {}}"#, []))
        #expect(Self.parse(#"{"name": "add", "parameters": {"a": 1}} and more"#, .llama3).calls.isEmpty)
    }

    /// Streaming in every two-piece split and token by token gives `parse`'s content and calls,
    /// and never lets out a piece of a marker as content.
    @Test func streamingEqualsWholeParsingInEverySplit() {
        let texts: [(String, ToolCallFormat)] = [
            ("Sure. <tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": 1}}\n</tool_call>\n<tool_call>{\"name\": \"get_weather\", \"arguments\": {}}</tool_call> done", .hermes),
            ("a < b <tool <tool_cal <tool_call>{\"name\":\"add\",\"arguments\":{}}", .hermes),
            ("No calls here, only < and <tool_ and text.", .hermes),
            ("{\"name\": \"add\", \"parameters\": {\"a\": 1}}; {\"name\": \"add\", \"parameters\": {\"a\": 2}}", .llama3),
            ("  Plain llama answer.", .llama3),
        ]
        for (text, format) in texts {
            let whole = ToolCallStreamParser.parse(text, format: format, toolNames: Self.names)
            let characters = Array(text)
            var splits: [[String]] = characters.map { [String($0)] }.isEmpty ? [] : [characters.map { String($0) }]
            for cut in 0...characters.count { splits.append([String(characters[..<cut]), String(characters[cut...])]) }
            for pieces in splits {
                var parser = ToolCallStreamParser(format: format, toolNames: Self.names)
                var content = ""
                var calls: [ParsedToolCall] = []
                for (i, piece) in pieces.enumerated() {
                    let events = parser.append(piece) + (i == pieces.count - 1 ? parser.finish() : [])
                    for event in events {
                        switch event {
                        case .content(let text):
                            content += text
                            if !(whole.content ?? "").contains("<") { #expect(!text.contains("<")) }  // no marker piece leaks
                        case .call(let call): calls.append(call)
                        }
                    }
                }
                #expect((content.isEmpty ? nil : content) == whole.content, "\(text) split \(pieces)")
                #expect(calls == whole.calls, "\(text) split \(pieces)")
            }
        }
        // A marker's possible start is held back, not sent.
        var parser = ToolCallStreamParser(format: .hermes, toolNames: Self.names)
        #expect(parser.append("Hello <tool_c") == [.content("Hello")])
        #expect(parser.append("all>{\"name\":\"add\",\"arguments\":{}}</tool_call>") == [.call(ParsedToolCall(name: "add", arguments: "{}"))])
        #expect(parser.append(" x") == [.content("  x")])  // the space held after "Hello" comes along
        #expect(parser.finish().isEmpty)
    }

    // MARK: - Grammar

    static let weather = ToolFunction(name: "get_weather", parameters: try! JSONValue.parse(
        #"{"type":"object","properties":{"city":{"enum":["Paris","Oslo"]},"days":{"type":"integer"}},"required":["city"]}"#))
    static let add = ToolFunction(name: "add", parameters: try! JSONValue.parse(
        ##"{"type":"object","properties":{"a":{"type":"number"},"b":{"$ref":"#/$defs/n"}},"required":["a","b"],"$defs":{"n":{"type":"integer"}}}"##))

    static func accepts(_ grammar: JSONSchemaGrammar, _ text: String) -> (prefix: Bool, complete: Bool) {
        var recognizer = JSONRecognizer(grammar: grammar)
        guard recognizer.accept(text) else { return (false, false) }
        return (true, recognizer.isComplete)
    }

    @Test func grammarForcesTheFormatAndTheSchema() throws {
        let one = try JSONSchemaGrammar.toolCalls([Self.weather, Self.add], format: .hermes, parallel: false)
        let call = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Oslo\",\"days\":3}}\n</tool_call>"
        #expect(Self.accepts(one, call) == (true, true))
        #expect(Self.accepts(one, "<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\":1.5,\"b\":2}}\n</tool_call>") == (true, true))
        #expect(Self.accepts(one, "<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\":1.5,\"b\":2.5").prefix == false)
        #expect(Self.accepts(one, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Rome\"").prefix == false)
        #expect(Self.accepts(one, "<tool_call>\n{\"name\": \"other\"").prefix == false)
        #expect(Self.accepts(one, "Hi").prefix == false)
        #expect(Self.accepts(one, call + "\n<").prefix == false)  // one call only
        // Parallel: 1 to maxParallelCalls calls, newline-separated; complete after each.
        let many = try JSONSchemaGrammar.toolCalls([Self.weather, Self.add], format: .hermes, parallel: true)
        #expect(Self.accepts(many, call) == (true, true))
        #expect(Self.accepts(many, call + "\n") == (true, false))
        #expect(Self.accepts(many, call + "\n" + call) == (true, true))
        let most = Array(repeating: call, count: JSONSchemaGrammar.maxParallelCalls).joined(separator: "\n")
        #expect(Self.accepts(many, most) == (true, true))
        #expect(Self.accepts(many, most + "\n").prefix == false)
        // Llama 3: bare JSON with "parameters", "; " between calls.
        let llama = try JSONSchemaGrammar.toolCalls([Self.add], format: .llama3, parallel: true)
        let llamaCall = "{\"name\": \"add\", \"parameters\": {\"a\":1,\"b\":2}}"
        #expect(Self.accepts(llama, llamaCall) == (true, true))
        #expect(Self.accepts(llama, llamaCall + "; " + llamaCall) == (true, true))
        // What the grammar accepts, the parser reads back.
        #expect(ToolCallStreamParser.parse(call + "\n" + call, format: .hermes, toolNames: Self.names).calls.count == 2)
        #expect(ToolCallStreamParser.parse(llamaCall + "; " + llamaCall, format: .llama3, toolNames: Self.names).calls.count == 2)
    }

    @Test func unsupportedParameterKeywordsAreRefusedWithTheTool() throws {
        let bad = ToolFunction(name: "bad", parameters: try JSONValue.parse(#"{"type":"object","properties":{"s":{"type":"string","pattern":"a+"}}}"#))
        do {
            _ = try JSONSchemaGrammar.toolCalls([Self.add, bad], format: .hermes, parallel: false)
            Issue.record("a pattern was accepted")
        } catch let error as ToolGrammarError {
            #expect(error.toolIndex == 1)
            #expect(error.keyword == "pattern")
        }
    }

    // MARK: - Forced calls of the random-weight model

    /// Greedy and sampled runs of tiny-llama (free output: garbage) under the grammar: every
    /// finished output is a call (or calls) that parse, with arguments that fit the schema.
    @Test func forcedCallsOfRandomWeightsAlwaysParse() async throws {
        let llm = try await LLM(model: Fixtures.url("models/tiny-llama").path, cache: CacheSettings(maxModelLen: 512))
        defer { llm.shutdown() }
        let prompts = ["Hello", "Weather in Oslo?", "1 2 3"]
        for (format, parallel) in [(ToolCallFormat.hermes, false), (.hermes, true), (.llama3, false)] {
            let grammar = try JSONSchemaGrammar.toolCalls([Self.weather, Self.add], format: format, parallel: parallel)
            for temperature: Float in [0, 1] {
                let outputs = try await llm.generate(prompts, SamplingParams(temperature: temperature, seed: 3, maxTokens: 300, constraint: grammar))
                var finished = 0
                for output in outputs {
                    let (content, calls) = ToolCallStreamParser.parse(output.text, format: format, toolNames: Self.names)
                    if output.finishReason == .stop {
                        finished += 1
                        #expect(content == nil, "\(output.text)")
                        #expect(!calls.isEmpty && (parallel || calls.count == 1), "\(output.text)")
                    } else {
                        // Parallel calls may run to max_tokens (greedy random weights keep calling):
                        // the whole calls before the cut are still calls.
                        #expect(parallel && output.finishReason == .length && !calls.isEmpty, "\(output.text)")
                    }
                    for call in calls {
                        let arguments = try JSONValue.parse(call.arguments)
                        let schema = call.name == "add" ? Self.add.parameters : Self.weather.parameters
                        #expect(JSONConstraintTests.validates(arguments, schema), "\(call)")
                    }
                }
                #expect(finished >= (parallel ? 0 : 2), "\(format) parallel \(parallel) T \(temperature): \(outputs.map(\.text))")
            }
        }
    }
}
