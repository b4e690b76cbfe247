import ArgumentParser
import TesseraEngine
import TesseraModels
import TesseraTokenizer

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the token ids that `generate` would use for TEXT as a raw prompt."
    )

    @Argument(help: "The text to tokenize.")
    var text: String

    @Option(help: "A .gguf file, a Hugging Face model folder, or `smollm2`.")
    var model: String = ModelStore.defaultModel.alias

    @Flag(help: "Print {\"ids\": [...], \"tokens\": [...]} as JSON.")
    var json = false

    func run() throws {
        let url = try OpenedModel.resolve(model, store: ModelStore())
        let tokenizer = try OpenedModel.loadTokenizer(url)
        let ids = tokenizer.encode(text)
        if json {
            print(try JSONLine.encode(TokenizeRecord(ids: ids, tokens: ids.map { tokenizer.tokenString($0) ?? "" })))
        } else {
            print(ids.map(String.init).joined(separator: " "))
        }
    }
}

/// The `--json` output of `tokenize`.
struct TokenizeRecord: Encodable {
    let ids: [Int]
    /// Each id's vocabulary entry, in the byte-level alphabet.
    let tokens: [String]
}
