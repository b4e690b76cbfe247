import ArgumentParser
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

    @Option(help: "Seed of the sampler: the same seed gives the same output.")
    var seed: UInt64 = 0

    @Option(help: "Stop before this text (repeatable).")
    var stop: [String] = []

    @Flag(help: "Keep generating past the model's end-of-sequence token.")
    var ignoreEos = false

    var params: SamplingParams {
        SamplingParams(
            temperature: temperature, topK: topK, topP: topP, seed: seed,
            maxTokens: maxTokens, stop: stop, ignoreEOS: ignoreEos
        )
    }

    func validate() throws {
        do { try params.validate() } catch { throw ValidationError(error.description) }
    }
}
