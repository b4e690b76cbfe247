import ArgumentParser
import Foundation
import TesseraEngine
import TesseraTokenizer

struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Talk with the model in the terminal; replies stream as they are generated.",
        discussion: "Type a message and press Enter. /reset starts a new conversation, /exit (or end of input) quits."
    )

    @Option(help: "A system message that opens the conversation.")
    var system: String?

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var sampling: SamplingOptions

    func run() throws {
        let (opened, runner) = try modelOptions.start { opened in
            guard try opened.requireTokenizer().hasChatTemplate else {
                throw CLIError("\(opened.source.lastPathComponent) ships no chat template; use `tessera generate`")
            }
            return min(modelOptions.cache.maxModelLen ?? 4096, opened.config.maxPositionEmbeddings)
        }
        let tokenizer = try opened.requireTokenizer()
        let generator = Generator(runner: runner, tokenizer: tokenizer)
        var conversation = Conversation(system: system)
        let interactive = isatty(STDIN_FILENO) == 1
        while true {
            if interactive { FileHandle.standardOutput.write(Data("> ".utf8)) }
            guard let line = readLine() else { break }
            let message = line.trimmingCharacters(in: .whitespaces)
            if message.isEmpty { continue }
            if message == "/exit" { break }
            if message == "/reset" { conversation = Conversation(system: system); continue }

            conversation.messages.append(ChatMessage(role: "user", content: message))
            let prompt = try tokenizer.applyChatTemplate(conversation.messages, addGenerationPrompt: true)
            do {
                let output = try generator.generate(promptIDs: tokenizer.encode(prompt, addSpecialTokens: false), params: sampling.params) { piece in
                    FileHandle.standardOutput.write(Data(piece.utf8))
                }
                print()
                conversation.messages.append(ChatMessage(role: "assistant", content: output.text))
            } catch let error as GenerationError {
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
