import ArgumentParser
import TesseraDistributed
import TesseraEngine
import TesseraModels

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Print the KV cache capacity of a parallel configuration without loading weights.",
        discussion: "Works from the model's configuration alone: a .gguf file, a Hugging Face folder or config.json (e.g. examples/qwen3-0.6b-1kv), or `smollm2`."
    )

    @Option(help: "A .gguf file, a Hugging Face folder or config.json, or `smollm2`.")
    var model: String = ModelStore.defaultModel.alias

    @OptionGroup var parallel: ParallelOptions
    @OptionGroup var cache: CacheOptions

    func run() throws {
        guard let budget = try cache.budgetBytes else {
            throw ValidationError("give the KV budget per rank with --kv-cache-memory (e.g. 4GiB)")
        }
        let config = try ModelConfigReader.read(model)
        let parallelConfig = try parallel.parallelConfig(model: config, blockSize: cache.blockSize)
        let plan = try KVCapacityPlan(
            model: config, parallel: parallelConfig, budgetBytesPerRank: budget,
            kvElementBytes: cache.kvCacheDtype.bytesPerElement,
            maxModelLen: try config.maxModelLen(requested: cache.maxModelLen)
        )
        print(PlanReport(config: config, plan: plan, dtype: cache.kvCacheDtype).text)
    }
}

/// The capacity report a serving engine prints at startup.
struct PlanReport {
    let config: ModelConfig
    let plan: KVCapacityPlan
    let dtype: KVCacheDType

    var text: String {
        let grid = RankGrid(plan.parallel)
        let p = plan.parallel
        let shape: String
        if let m = config.latentAttention {
            shape = "\(config.numHeads) query heads, latent attention: one cached latent of kv_lora_rank \(m.kvLoraRank) + rope \(m.qkRopeHeadDim) = \(m.cacheWidth) values per token and layer (shared by all heads)"
        } else {
            shape = "\(config.numHeads) query heads, \(config.numKVHeads) KV heads, head_dim \(config.headDim)"
        }
        return """
            model: \(config.architecture.rawValue), \(config.numLayers) layers, \(shape)
            ranks: tp=\(p.tp) cp=\(p.cp) cp_interleave=\(p.cpInterleave); per rank \(grid.queryHeadsPerRank) query heads, \(grid.kvHeadsPerRank) KV head(s), KV duplication \(grid.kvDuplication)x
            KV cache dtype \(dtype), block size \(plan.blockSize), budget \(MemorySize.format(plan.budgetBytesPerRank)) per rank
            bytes per token per rank: \(plan.bytesPerTokenPerRank)
            blocks per rank: \(plan.blocksPerRank)
            \(plan.description)
            """
    }
}
