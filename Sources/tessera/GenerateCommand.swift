import ArgumentParser
import Foundation
import TesseraEngine
import TesseraTokenizer

struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate a continuation of each prompt; several prompts run as one continuous batch.",
        discussion: """
            Each PROMPT argument, and each non-empty line of --prompts-file, is one prompt; all of them \
            run together through the engine (continuous batching). With one prompt, text streams to \
            standard output as it is generated; with several, each output is printed in order when \
            done. With --json, one JSON object per prompt per line: \
            {"prompt_ids", "ids", "text", "finish_reason", "timings"}.
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
    @OptionGroup var engine: EngineFlags

    func validate() throws {
        if prompts.isEmpty && promptsFile == nil {
            throw ValidationError("give at least one PROMPT or --prompts-file")
        }
    }

    func run() async throws {
        let texts = try allPrompts()
        var promptIDs: [[Int]] = []
        let (opened, setup) = try modelOptions.start { opened, maxModelLen in
            let encoder = PromptEncoder(tokenizer: try opened.requireTokenizer(), chat: chat)
            promptIDs = try texts.map(encoder.encode)
            // Room for every prompt at once (up to the engine's sequence cap) when no budget is given.
            return CacheDemand(
                longestSequence: min((promptIDs.map(\.count).max() ?? 0) + sampling.maxTokens, maxModelLen),
                sequences: min(promptIDs.count, engine.maxNumSeqs))
        }
        let runner = setup.runner
        let llm = try LLM(
            executor: runner, tokenizer: opened.tokenizer, options: engine.options(maxModelLen: setup.maxModelLen),
            onShutdown: { runner.shutdown() })
        defer { llm.shutdown() }
        // Token ids in --logit-bias and --stop-token-id must be in this model's vocabulary.
        do { try sampling.params.validate(vocabularySize: llm.engine.executor.config.vocabSize) } catch {
            throw ValidationError(error.description)
        }
        if json {
            for output in try await llm.generate(promptIDs, sampling.params) {
                print(try JSONLine.encode(GenerationRecord(output)))
            }
        } else if promptIDs.count == 1 {
            for try await output in try llm.stream(promptIDs[0], sampling.params) {
                StandardOutput.write(output.newText)
            }
            StandardOutput.write("\n")
        } else {
            for output in try await llm.generate(promptIDs, sampling.params) { print(output.text) }
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
        return try tokenizer.encodeChat([ChatMessage(role: "user", content: text)], addGenerationPrompt: true)
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
