import ArgumentParser
import Foundation
import TesseraEngine
import TesseraModels

extension KVCacheDType: ExpressibleByArgument {}
extension LoadFormat: ExpressibleByArgument {}

/// Which model to run, on how many ranks, with what cache.
struct ModelOptions: ParsableArguments {
    @Option(help: "A .gguf file, a Hugging Face model folder (config.json + safetensors), or `smollm2` (the default model, fetched by `tessera pull`).")
    var model: String = ModelStore.defaultModel.alias

    @Option(help: "auto: the model's weights; dummy: seeded random weights for its config.json (no weight files needed).")
    var loadFormat: LoadFormat = .auto

    @Flag(name: .shortAndLong, help: "Print no progress or capacity report while loading.")
    var quiet = false

    @OptionGroup var kernels: KernelOptions
    @OptionGroup var parallel: ParallelOptions
    @OptionGroup var cache: CacheOptions

    /// Opens the model, starts its ranks and prints the capacity report, with progress on one
    /// rewritten line of standard error. Under `mpirun`, only rank 0 returns: the other ranks
    /// serve its steps and exit.
    /// - Parameter defaultBudgetBytes: KV bytes per rank when no --kv-cache-memory is given
    ///   (nil: just enough for `demand`).
    /// - Parameter report: gets the capacity report even with --quiet (the server logs it).
    /// - Parameter tasks: per-rank work the command runs through the runner (benchmarks).
    /// - Parameter demand: what the command needs of the cache, given the resolved max model length.
    func start(
        defaultBudgetBytes: Int? = nil, report: ((String) -> Void)? = nil, tasks: [RankTask] = [],
        demand: (OpenedModel, _ maxModelLen: Int) throws -> CacheDemand
    ) throws -> (OpenedModel, RunnerSetup) {
        let progress = ProgressLine(enabled: !quiet && !ProcessRanks.isWorker)
        let started = Date()
        try kernels.apply()
        let opened = try OpenedModel.open(model, loadFormat: loadFormat, weightFormat: kernels.weights) { progress.show($0) }
        var settings = try cache.settings
        settings.budgetBytesPerRank = settings.budgetBytesPerRank ?? defaultBudgetBytes
        let setup = try ProcessRanks.start(
            opened, parallel: parallel.settings, cache: settings, demand: { try demand(opened, $0) }, tasks: tasks)
        if ProcessRanks.isWorker { try ProcessRanks.serveUntilStopped(setup) }
        let layout = opened.config.latentAttention.map { "latent attention, \($0.cacheWidth) values per token and layer" }
            ?? "K and V"
        let summary = String(format: "loaded %@ on %d rank(s) in %.1f s (%@); %@; %d bytes per token per rank (%@)",
                             opened.source.lastPathComponent, setup.runner.parallel.tp, Date().timeIntervalSince(started),
                             kernels.summary, setup.plan.description, setup.plan.bytesPerTokenPerRank, layout)
        if let report {
            progress.clear()
            report(summary)
        } else {
            progress.finish(summary)
        }
        return (opened, setup)
    }
}
