import TesseraEngine

/// `call_` and 24 random letters and digits, as OpenAI's ids look.
enum ToolCallIDs {
    private static let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")

    static func next() -> String {
        "call_" + String((0..<24).map { _ in alphabet.randomElement()! })
    }
}

/// The tool-call reading of a streamed chat: one parser per choice and the calls it has sent.
struct ToolCallStreams {
    private var parsers: [ToolCallStreamParser]
    private var callCounts: [Int]

    init(_ parsing: ToolParsing, choices: Int) {
        parsers = Array(repeating: ToolCallStreamParser(format: parsing.format, toolNames: parsing.names), count: choices)
        callCounts = Array(repeating: 0, count: choices)
    }

    /// The chunks one engine output of `choice` gives: content as it is known to be content,
    /// each call as two deltas (id, type, name and "" arguments; then the arguments), then on
    /// the last output an empty delta with the finish reason ("tool_calls" when the choice
    /// called a tool and stopped by itself). Logprobs ride on the first chunk, or an empty one.
    mutating func chunks(_ output: RequestOutput, choice: Int, builder: ResponseBuilder) -> [ChatCompletionChunk] {
        var events = parsers[choice].append(output.newText)
        if output.finishReason != nil { events += parsers[choice].finish() }
        var deltas: [ChatCompletionChunk.Delta] = []
        for event in events {
            switch event {
            case .content(let text): deltas.append(.init(content: text))
            case .call(let call):
                let index = callCounts[choice]
                callCounts[choice] += 1
                deltas.append(.init(toolCalls: [.init(index: index, id: ToolCallIDs.next(), type: "function",
                                                      function: .init(name: call.name, arguments: ""))]))
                deltas.append(.init(toolCalls: [.init(index: index, function: .init(arguments: call.arguments))]))
            }
        }
        let logprobs = builder.job.logprobs != nil && !output.newLogprobs.isEmpty ? builder.chatLogprobs(output.newLogprobs) : nil
        if logprobs != nil && deltas.isEmpty { deltas.append(.init()) }
        var chunks = deltas.enumerated().map { i, delta in
            builder.chatChunk(choice: choice, delta: delta, logprobs: i == 0 ? logprobs : nil, finishReason: nil)
        }
        if let reason = output.finishReason {
            let finish = reason == .stop && callCounts[choice] > 0 ? "tool_calls" : reason.rawValue
            chunks.append(builder.chatChunk(choice: choice, delta: .init(), logprobs: nil, finishReason: finish))
        }
        return chunks
    }
}

extension ResponseBuilder {
    func chatChunk(choice: Int, delta: ChatCompletionChunk.Delta, logprobs: ChatLogprobs?, finishReason: String?) -> ChatCompletionChunk {
        ChatCompletionChunk(
            id: id, created: created, model: job.model,
            choices: [.init(index: choice, delta: delta, logprobs: logprobs, finishReason: finishReason)])
    }
}
