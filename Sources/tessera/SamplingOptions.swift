import ArgumentParser
import Foundation
import TesseraEngine

/// Sampling and stopping flags shared by `generate` and `chat`.
struct SamplingOptions: ParsableArguments {
    @Option(help: "Maximum number of tokens to generate per prompt.")
    var maxTokens: Int = 128

    @Option(help: "Sampling temperature; 0 is greedy (always the most likely token).")
    var temperature: Float = 0

    @Option(help: "Sample only among the K most likely tokens (0: no limit).")
    var topK: Int = 0

    @Option(help: "Sample only among the most likely tokens whose probabilities add up to P (1: no limit).")
    var topP: Float = 1

    @Option(help: "Drop tokens less likely than P times the likeliest, after temperature (0: none).")
    var minP: Float = 0

    @Option(help: "Subtract this (-2...2) from the logit of every token already generated.")
    var presencePenalty: Float = 0

    @Option(help: "Subtract this (-2...2) times its count so far from the logit of every generated token.")
    var frequencyPenalty: Float = 0

    @Option(help: "Penalise tokens of the prompt and of the output: positive logits divided by it, negative ones multiplied (1: none).")
    var repetitionPenalty: Float = 1

    @Option(help: ArgumentHelp("Add BIAS (-100...100) to token ID's logit (repeatable).", valueName: "id=bias"))
    var logitBias: [String] = []

    @Option(help: "Stop when this token id is generated, as at end of sequence (repeatable).")
    var stopTokenId: [Int] = []

    @Option(help: "Seed of the sampler: the same seed gives the same output.")
    var seed: UInt64 = 0

    @Option(help: "Stop before this text (repeatable).")
    var stop: [String] = []

    @Flag(help: "Keep generating past the model's end-of-sequence token.")
    var ignoreEos = false

    @Option(help: ArgumentHelp("Constrain the output to JSON valid under this JSON schema file (compact, no whitespace).", valueName: "file"))
    var jsonSchema: String?

    @Flag(help: "Constrain the output to a JSON object (any keys and values).")
    var jsonObject = false

    /// The constraint `--json-schema` or `--json-object` asks for.
    func constraint() throws -> JSONSchemaGrammar? {
        if let jsonSchema {
            guard let data = FileManager.default.contents(atPath: jsonSchema) else {
                throw ValidationError("--json-schema \(jsonSchema): cannot read the file")
            }
            do { return try JSONSchemaGrammar(schema: JSONValue.parse([UInt8](data))) } catch {
                throw ValidationError("--json-schema \(jsonSchema): \(error)")
            }
        }
        return jsonObject ? JSONSchemaGrammar.anyObject() : nil
    }

    var params: SamplingParams {
        SamplingParams(
            temperature: temperature, topK: topK, topP: topP, seed: seed,
            maxTokens: maxTokens, stop: stop, ignoreEOS: ignoreEos,
            presencePenalty: presencePenalty, frequencyPenalty: frequencyPenalty, repetitionPenalty: repetitionPenalty,
            logitBias: (try? Self.parseBias(logitBias)) ?? [:], minP: minP, stopTokenIDs: Set(stopTokenId),
            constraint: try? constraint()
        )
    }

    /// `--logit-bias 42=-100` pairs as a dictionary.
    static func parseBias(_ pairs: [String]) throws -> [Int: Float] {
        var bias: [Int: Float] = [:]
        for pair in pairs {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let id = Int(parts[0]), let value = Float(parts[1]) else {
                throw ValidationError("--logit-bias \(pair) is invalid: expected ID=BIAS, e.g. 42=-100")
            }
            bias[id] = value
        }
        return bias
    }

    func validate() throws {
        _ = try Self.parseBias(logitBias)
        if jsonSchema != nil && jsonObject { throw ValidationError("give --json-schema or --json-object, not both") }
        _ = try constraint()
        do { try params.validate() } catch { throw ValidationError(error.description) }
    }
}
