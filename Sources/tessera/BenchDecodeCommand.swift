import ArgumentParser
import Foundation
import TesseraDistributed
import TesseraEngine
import TesseraModels
import TesseraTools

struct BenchDecodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-decode",
        abstract: "Decode step time at long contexts for several context-parallel sizes, in one run.",
        discussion: """
            For each --cp-sizes value the model is started at --tp ranks with the KV cache split cp ways; the \
            cache is filled with random K/V for each --contexts length (each rank its own slice) and decode \
            steps are timed there. Time is split into attention over the context (step at L minus step at a \
            16-token context), communication (time inside collectives) and the rest. Also prints the KV \
            capacity each configuration has for the same --kv-cache-memory per rank.
            """
    )

    @Option(help: "A .gguf file, a Hugging Face folder, or `smollm2`.")
    var model: String = ModelStore.defaultModel.alias

    @Option(help: "auto or dummy (random weights for the model's config.json).")
    var loadFormat: LoadFormat = .auto

    @OptionGroup var kernels: KernelOptions

    @Option(name: [.customLong("tensor-parallel-size"), .customLong("tp", withSingleDash: true)], help: "Ranks.")
    var tensorParallelSize: Int = 1

    @Option(help: "Context-parallel sizes to compare, comma-separated.")
    var cpSizes: String = "1"

    @Option(help: "Context lengths to measure at, comma-separated.")
    var contexts: String = "8192,16384,32768"

    @Option(help: "Timed decode steps per context (after 2 warm-up steps); the median is reported.")
    var steps: Int = 8

    @Option(help: "KV cache memory per rank for the capacity report (the measurement allocates what it needs).")
    var kvCacheMemory: String = "12.67GiB"

    @Option(help: "Element type of the KV cache: f32, f16 or bf16.")
    var kvCacheDtype: KVCacheDType = .bf16

    @Option(help: "Tokens per KV-cache block on each rank.")
    var blockSize: Int = 16

    @Option(help: "How a CP group combines partial outputs: ag-rs or a2a.")
    var cpComm: CPCombine = .allGatherReduceScatter

    func run() throws {
        let cps = try intList(cpSizes, "--cp-sizes")
        let lengths = try intList(contexts, "--contexts")
        let budget: Int
        do { budget = try MemorySize.parse(kvCacheMemory) } catch { throw ValidationError("--kv-cache-memory: \(error)") }
        try kernels.apply()
        let opened = try OpenedModel.open(model, loadFormat: loadFormat, weightFormat: kernels.weights)
        let benchmark = DecodeBenchmark(contexts: lengths, steps: steps)
        guard benchmark.longestSequence <= opened.config.maxPositionEmbeddings else {
            throw ValidationError(
                "--contexts: the longest context and its \(steps + benchmark.warmup) steps need \(benchmark.longestSequence) tokens, above the model's maximum of \(opened.config.maxPositionEmbeddings)")
        }
        print("model \(opened.source.lastPathComponent) (\(loadFormat.rawValue) weights), tp=\(tensorParallelSize), KV \(kvCacheDtype), block \(blockSize), \(cpComm) combine")
        print("method: median of \(steps) decode steps after 2 warm-ups, one sequence; attention = step(L) - step(16); communication = time in collectives")
        var results: [Int: [DecodeBenchmark.Row]] = [:]
        for cp in cps {
            let cache = CacheSettings(dtype: kvCacheDtype, blockSize: blockSize, maxModelLen: benchmark.longestSequence)
            let setup = try ProcessRanks.start(
                opened, parallel: LLM.Parallel(tp: tensorParallelSize, cp: cp, cpCombine: cpComm), cache: cache,
                demand: { CacheDemand(longestSequence: $0) }, tasks: DecodeBenchmark.rankTasks)
            defer { setup.runner.shutdown() }
            if ProcessRanks.isWorker {
                try setup.runner.waitUntilStopped()
                continue
            }
            let capacity = try KVCapacityPlan(
                model: opened.config, parallel: setup.runner.parallel, budgetBytesPerRank: budget,
                kvElementBytes: kvCacheDtype.bytesPerElement, maxModelLen: lengths.max() ?? 1)
            print("\ncp=\(cp): \(capacity.description)")
            print("  context   step ms   attention ms   communication ms   rest ms")
            let rows = try benchmark.run(setup.runner)
            for row in rows {
                print(String(format: "  %7d  %8.1f  %13.1f  %17.1f  %8.1f", row.context, row.stepSeconds * 1e3,
                             row.attentionSeconds * 1e3, row.communicationSeconds * 1e3, row.restSeconds * 1e3))
            }
            results[cp] = rows
            if let resident = ResidentMemory.bytes() {
                let kv = setup.plan.usedBytesPerRank
                print("  resident memory of this process (rank 0\(ProcessRanks.mpiRank == nil ? " and every other rank" : "")): "
                      + "\(MemorySize.format(resident)); KV slice per rank: \(MemorySize.format(kv))")
            }
        }
        if let base = cps.first, let rowsBase = results[base], cps.count > 1 {
            print("\nspeed-up against cp=\(base) (time at cp=\(base) / time at cp):")
            for cp in cps.dropFirst() {
                for (a, b) in zip(rowsBase, results[cp] ?? []) {
                    print(String(format: "  cp=%d context %7d: step speed-up %.2fx, attention speed-up %.2fx", cp, a.context,
                                 a.stepSeconds / b.stepSeconds, a.attentionSeconds / max(b.attentionSeconds, 1e-9)))
                }
            }
        }
    }

    private func intList(_ text: String, _ flag: String) throws -> [Int] {
        let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) >= 1 }) else {
            throw ValidationError("\(flag) takes positive integers separated by commas (got \"\(text)\")")
        }
        return values.map { $0! }
    }
}
