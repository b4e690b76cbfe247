import Foundation
import TesseraEngine
import TesseraTokenizer

/// Builds OpenAI response bodies and stream chunks from engine results.
struct ResponseBuilder: Sendable {
    let id: String
    let created: Int
    let job: GenerationJob
    let tokenizer: Tokenizer

    func usage(_ results: [ChoiceResult]) -> Usage {
        Usage(promptTokens: job.prompts.map(\.count).reduce(0, +),
              completionTokens: results.map(\.tokenIDs.count).reduce(0, +))
    }

    // MARK: Whole responses

    func completion(_ results: [ChoiceResult]) -> CompletionResponse {
        let choices = results.enumerated().map { index, result in
            CompletionResponse.Choice(
                index: index, text: job.echo(ofChoice: index) + result.text,
                logprobs: job.logprobs == nil ? nil : completionLogprobs(result.logprobs, textOffset: 0),
                finishReason: result.finishReason?.rawValue)
        }
        return CompletionResponse(id: id, created: created, model: job.model, choices: choices, usage: usage(results))
    }

    func chatCompletion(_ results: [ChoiceResult]) -> ChatCompletionResponse {
        let choices = results.enumerated().map { index, result in
            var message = ChatCompletionResponse.Message(content: result.text)
            var finish = result.finishReason?.rawValue
            if let tools = job.toolParsing {
                let (content, calls) = ToolCallStreamParser.parse(result.text, format: tools.format, toolNames: tools.names)
                message.content = content
                if !calls.isEmpty {
                    message.toolCalls = calls.map { .init(id: ToolCallIDs.next(), function: .init(name: $0.name, arguments: $0.arguments)) }
                    if result.finishReason == .stop { finish = "tool_calls" }
                }
            }
            return ChatCompletionResponse.Choice(
                index: index, message: message,
                logprobs: job.logprobs == nil ? nil : chatLogprobs(result.logprobs),
                finishReason: finish)
        }
        return ChatCompletionResponse(id: id, created: created, model: job.model, choices: choices, usage: usage(results))
    }

    // MARK: Stream chunks

    /// The chunk for one engine output of one choice; nil when it carries nothing to send.
    /// `textOffset` is the length of the choice's text before this output (legacy logprobs).
    func chunk(_ output: RequestOutput, choice: Int, textOffset: Int) -> (any Encodable)? {
        let finish = output.finishReason?.rawValue
        guard !output.newText.isEmpty || finish != nil || !output.newLogprobs.isEmpty else { return nil }
        let withLogprobs = job.logprobs != nil && !output.newLogprobs.isEmpty
        switch job.kind {
        case .completion:
            let choice = CompletionResponse.Choice(
                index: choice, text: output.newText,
                logprobs: withLogprobs ? completionLogprobs(output.newLogprobs, textOffset: textOffset) : nil,
                finishReason: finish)
            return CompletionResponse(id: id, created: created, model: job.model, choices: [choice])
        case .chat:
            let choice = ChatCompletionChunk.Choice(
                index: choice, delta: .init(content: output.newText.isEmpty && finish != nil ? nil : output.newText),
                logprobs: withLogprobs ? chatLogprobs(output.newLogprobs) : nil, finishReason: finish)
            return ChatCompletionChunk(id: id, created: created, model: job.model, choices: [choice])
        }
    }

    /// Completion streams with `echo` open each choice with its prompt's text.
    func echoChunk(choice: Int) -> CompletionResponse {
        CompletionResponse(
            id: id, created: created, model: job.model,
            choices: [.init(index: choice, text: job.echo(ofChoice: choice), logprobs: nil, finishReason: nil)])
    }

    /// Chat streams open each choice with the assistant role, as OpenAI's do.
    func roleChunk(choice: Int) -> ChatCompletionChunk {
        ChatCompletionChunk(
            id: id, created: created, model: job.model,
            choices: [.init(index: choice, delta: .init(role: "assistant", content: ""))])
    }

    /// The last chunk with `stream_options.include_usage`: no choices, the usage.
    func usageChunk(_ results: [ChoiceResult]) -> any Encodable {
        switch job.kind {
        case .completion: CompletionResponse(id: id, created: created, model: job.model, choices: [], usage: usage(results))
        case .chat: ChatCompletionChunk(id: id, created: created, model: job.model, choices: [], usage: usage(results))
        }
    }

    // MARK: Logprobs

    private func completionLogprobs(_ entries: [TokenLogprob], textOffset: Int) -> CompletionLogprobs {
        var logprobs = CompletionLogprobs()
        var offset = textOffset
        for entry in entries {
            let text = tokenizer.decode([entry.token])
            logprobs.tokens.append(text)
            logprobs.tokenLogprobs.append(entry.logprob)
            var top: [String: Float] = [:]
            // Two tokens may read the same: keep the likelier (the list is sorted).
            for alternative in entry.top where top[tokenizer.decode([alternative.token])] == nil {
                top[tokenizer.decode([alternative.token])] = alternative.logprob
            }
            top[text] = entry.logprob
            logprobs.topLogprobs.append(top)
            logprobs.textOffset.append(offset)
            offset += text.count
        }
        return logprobs
    }

    func chatLogprobs(_ entries: [TokenLogprob]) -> ChatLogprobs {
        ChatLogprobs(content: entries.map { entry in
            ChatLogprobs.Entry(
                token: tokenizer.decode([entry.token]), logprob: entry.logprob, bytes: tokenizer.tokenBytes(entry.token),
                topLogprobs: entry.top.map {
                    .init(token: tokenizer.decode([$0.token]), logprob: $0.logprob, bytes: tokenizer.tokenBytes($0.token))
                })
        })
    }
}
