import ArgumentParser
import Foundation
import TesseraEngine
import TesseraTokenizer

struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Talk with the model in the terminal; replies stream as they are generated.",
        discussion: "Type a message and press Enter. /reset starts a new conversation, /exit (or end of input) quits."
    )

    @Option(help: "A system message that opens the conversation.")
    var system: String?

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var sampling: SamplingOptions

    func run() async throws {
        let (opened, setup) = try modelOptions.start { opened, maxModelLen in
            guard try opened.requireTokenizer().hasChatTemplate else {
                throw CLIError("\(opened.source.lastPathComponent) ships no chat template; use `tessera generate`")
            }
            // Without --max-model-len or a budget, a conversation of up to 4096 tokens.
            return CacheDemand(longestSequence: modelOptions.cache.maxModelLen == nil ? min(4096, maxModelLen) : maxModelLen)
        }
        let tokenizer = try opened.requireTokenizer()
        let runner = setup.runner
        let llm = try LLM(
            executor: runner, tokenizer: tokenizer, options: EngineOptions(maxModelLen: setup.maxModelLen),
            onShutdown: { runner.shutdown() })
        defer { llm.shutdown() }
        // Token ids in --logit-bias and --stop-token-id must be in this model's vocabulary.
        do { try sampling.params.validate(vocabularySize: llm.engine.executor.config.vocabSize) } catch {
            throw ValidationError(error.description)
        }
        var conversation = Conversation(system: system)
        let interactive = isatty(STDIN_FILENO) == 1
        while true {
            if interactive { StandardOutput.write("> ") }
            guard let line = readLine() else { break }
            let message = line.trimmingCharacters(in: .whitespaces)
            if message.isEmpty { continue }
            if message == "/exit" { break }
            if message == "/reset" { conversation = Conversation(system: system); continue }

            conversation.messages.append(ChatMessage(role: "user", content: message))
            do {
                var reply = ""
                for try await output in try llm.stream(tokenizer.encodeChat(conversation.messages, addGenerationPrompt: true), sampling.params) {
                    StandardOutput.write(output.newText)
                    reply += output.newText
                }
                StandardOutput.write("\n")
                conversation.messages.append(ChatMessage(role: "assistant", content: reply))
            } catch let error as EngineError {
                // The conversation outgrew the model: say so and let the user reset.
                conversation.messages.removeLast()
                FileHandle.standardError.write(Data("error: \(error); /reset to start over\n".utf8))
            }
        }
    }
}

/// The messages so far, opened by an optional system message.
struct Conversation {
    var messages: [ChatMessage] = []

    init(system: String?) {
        if let system { messages.append(ChatMessage(role: "system", content: system)) }
    }
}
