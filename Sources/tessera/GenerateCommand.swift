import ArgumentParser
import Foundation
import TesseraEngine
import TesseraTokenizer

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate a continuation of each prompt.",
        discussion: """
            Each PROMPT argument, and each non-empty line of --prompts-file, is one prompt. \
            Text streams to standard output as it is generated; with --json, one JSON object \
            per prompt per line: {"prompt_ids", "ids", "text", "finish_reason", "timings"}.
            """
    )

    @Argument(help: "Prompts; each argument is one prompt.")
    var prompts: [String] = []

    @Option(help: "A file with one prompt per line.")
    var promptsFile: String?

    @Flag(help: "Wrap each prompt as one user message through the model's chat template.")
    var chat = false

    @Flag(help: "Print one JSON object per prompt per line instead of streaming text.")
    var json = false

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var sampling: SamplingOptions

    func validate() throws {
        if prompts.isEmpty && promptsFile == nil {
            throw ValidationError("give at least one PROMPT or --prompts-file")
        }
    }

    func run() throws {
        let texts = try allPrompts()
        var promptIDs: [[Int]] = []
        let (opened, runner) = try modelOptions.start { opened in
            let encoder = PromptEncoder(tokenizer: try opened.requireTokenizer(), chat: chat)
            promptIDs = try texts.map(encoder.encode)
            let longest = promptIDs.map(\.count).max() ?? 0
            return min(longest + sampling.maxTokens, opened.config.maxPositionEmbeddings)
        }
        let generator = Generator(runner: runner, tokenizer: try opened.requireTokenizer())
        for (index, ids) in promptIDs.enumerated() {
            do {
                if json {
                    let output = try generator.generate(promptIDs: ids, params: sampling.params)
                    print(try JSONLine.encode(GenerationRecord(output)))
                } else {
                    _ = try generator.generate(promptIDs: ids, params: sampling.params) { piece in
                        FileHandle.standardOutput.write(Data(piece.utf8))
                    }
                    print()
                }
            } catch {
                throw CLIError("prompt \(index + 1): \(error)")
            }
        }
    }

    private func allPrompts() throws -> [String] {
        var all = prompts
        if let promptsFile {
            let contents: String
            do { contents = try String(contentsOfFile: promptsFile, encoding: .utf8) } catch {
                throw CLIError("cannot read --prompts-file \(promptsFile): \(error.localizedDescription)")
            }
            all += contents.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
        }
        guard !all.isEmpty else { throw CLIError("no prompts: \(promptsFile ?? "") has no non-empty line") }
        return all
    }
}

/// Turns a prompt into ids: raw, or as one user message through the chat template.
struct PromptEncoder {
    let tokenizer: Tokenizer
    let chat: Bool

    func encode(_ text: String) throws -> [Int] {
        guard chat else { return tokenizer.encode(text) }
        guard tokenizer.hasChatTemplate else {
            throw CLIError("--chat: this model ships no chat template")
        }
        let rendered = try tokenizer.applyChatTemplate([ChatMessage(role: "user", content: text)], addGenerationPrompt: true)
        // The template writes every special token itself: add none.
        return tokenizer.encode(rendered, addSpecialTokens: false)
    }
}

/// One `--json` line of `generate`: the contract other tools read.
struct GenerationRecord: Encodable {
    let promptIDs: [Int]
    let ids: [Int]
    let text: String
    let finishReason: String
    let timings: GenerationTimings

    init(_ output: GenerationOutput) {
        promptIDs = output.promptIDs
        ids = output.ids
        text = output.text
        finishReason = output.finishReason.rawValue
        timings = output.timings
    }

    enum CodingKeys: String, CodingKey {
        case promptIDs = "prompt_ids", ids, text, finishReason = "finish_reason", timings
    }
}

enum JSONLine {
    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

/// A message for the user; ArgumentParser prints it as `Error: ...` and exits non-zero.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
