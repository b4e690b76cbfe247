import ArgumentParser
import TesseraDistributed
import TesseraEngine
import TesseraModels

/// How many ranks, and how the KV cache is split among them.
struct ParallelOptions: ParsableArguments {
    @Option(name: [.customLong("tensor-parallel-size"), .customLong("tp", withSingleDash: true)],
            help: "Ranks; every weight matrix is split this many ways.")
    var tensorParallelSize: Int = 1

    @Option(name: [.customLong("context-parallel-size"), .customLong("cp", withSingleDash: true)],
            help: "Ranks that share a KV head split its tokens this many ways (must divide tp / num_kv_heads).")
    var contextParallelSize: Int = 1

    @Option(help: "Consecutive tokens a CP rank owns before the next rank's turn (must divide --block-size).")
    var cpInterleave: Int = 1

    @Option(help: "How a CP group combines its partial attention outputs: ag-rs (all-gather LSEs, reduce-scatter outputs) or a2a (one all-to-all).")
    var cpComm: CPCombine = .allGatherReduceScatter

    var settings: LLM.Parallel {
        LLM.Parallel(tp: tensorParallelSize, cp: contextParallelSize, cpInterleave: cpInterleave, cpCombine: cpComm)
    }

    /// The validated configuration for `model`; errors name the offending values.
    func parallelConfig(model: ModelConfig, blockSize: Int) throws -> ParallelConfig {
        try ParallelConfig(
            tp: tensorParallelSize, cp: contextParallelSize, cpInterleave: cpInterleave,
            model: model, blockSize: blockSize
        )
    }
}

/// The KV cache's budget and shape.
struct CacheOptions: ParsableArguments {
    @Option(help: "KV cache memory per rank: 4GiB, 512MiB, 1.5GB or a plain number of bytes (generate and chat: default just enough for the longest request).")
    var kvCacheMemory: String?

    @Option(help: "Element type of the KV cache: f32, f16 or bf16.")
    var kvCacheDtype: KVCacheDType = .f32

    @Option(help: "Tokens per KV-cache block on each rank.")
    var blockSize: Int = 16

    @Option(help: "Longest sequence (prompt + output) to serve; default, and at most: the model's maximum.")
    var maxModelLen: Int?

    var budgetBytes: Int? {
        get throws {
            guard let kvCacheMemory else { return nil }
            do { return try MemorySize.parse(kvCacheMemory) } catch {
                throw ValidationError("--kv-cache-memory: \(error)")
            }
        }
    }

    var settings: CacheSettings {
        get throws {
            CacheSettings(dtype: kvCacheDtype, blockSize: blockSize, budgetBytesPerRank: try budgetBytes, maxModelLen: maxModelLen)
        }
    }

    func validate() throws {
        guard blockSize >= 1 else { throw ValidationError("--block-size must be at least 1 (got \(blockSize))") }
        if let maxModelLen, maxModelLen < 1 { throw ValidationError("--max-model-len must be at least 1 (got \(maxModelLen))") }
        _ = try budgetBytes
    }
}

extension CPCombine: ExpressibleByArgument {}
