import ArgumentParser
import Foundation
import TesseraEngine
import TesseraTools

/// `tessera bench`: a seeded synthetic workload through the engine, measured.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure throughput and latency on a seeded synthetic workload.",
        discussion: """
            Prompts are random token ids (no tokenizer needed: --load-format dummy works) and \
            every request generates exactly its output length (end-of-sequence ignored). At most \
            --concurrency requests are in flight; a new one is sent as soon as one ends. Without \
            --kv-cache-memory the cache holds --concurrency sequences of the longest length.
            """
    )

    @Option(help: "Requests in the workload.")
    var numPrompts: Int = 64

    @Option(help: "Prompt tokens per request (the mean with --random-range-ratio).")
    var inputLen: Int = 128

    @Option(help: "Generated tokens per request (the mean with --random-range-ratio).")
    var outputLen: Int = 64

    @Option(help: "Draw each length uniformly from [len * (1 - r), len * (1 + r)]; 0: fixed lengths.")
    var randomRangeRatio: Double = 0

    @Option(help: "Leading prompt tokens shared by every request (exercises the prefix cache).")
    var sharedPrefixLen: Int = 0

    @Option(help: "Requests in flight at once.")
    var concurrency: Int = 8

    @Option(help: "Seed of the workload.")
    var seed: UInt64 = 0

    @Option(help: "Tokens per engine step (decode tokens plus prefill chunks).")
    var maxNumBatchedTokens: Int = 512

    @Option(help: "Sequences running at once (default: --concurrency).")
    var maxNumSeqs: Int?

    @Flag(inversion: .prefixedEnableDisable, help: "Reuse cached KV blocks of identical prompt prefixes.")
    var prefixCaching = true

    @Flag(help: "Print the report as one JSON object.")
    var json = false

    @OptionGroup var modelOptions: ModelOptions

    func run() async throws {
        var workload: BenchWorkload?
        let (opened, setup) = try modelOptions.start { opened, maxModelLen in
            let made = try BenchWorkload(
                numPrompts: numPrompts, inputLength: inputLen, outputLength: outputLen,
                randomRangeRatio: randomRangeRatio, sharedPrefixLength: sharedPrefixLen,
                vocabularySize: opened.config.vocabSize, seed: seed)
            workload = made
            let longest = made.items.map { $0.promptIDs.count + $0.outputLength }.max() ?? 1
            return CacheDemand(longestSequence: min(longest, maxModelLen), sequences: min(concurrency, numPrompts))
        }
        let runner = setup.runner
        defer { runner.shutdown() }
        let options = EngineOptions(
            maxNumBatchedTokens: maxNumBatchedTokens, maxNumSeqs: maxNumSeqs ?? min(concurrency, maxNumBatchedTokens),
            enablePrefixCaching: prefixCaching, maxModelLen: setup.maxModelLen)
        let engine = try EngineCore(executor: runner, tokenizer: opened.tokenizer, options: options)
        defer { engine.shutdown() }
        let report = try await BenchRunner.run(workload!, engine: engine, concurrency: concurrency)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.text)
        }
    }
}
