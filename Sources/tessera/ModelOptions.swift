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

    @OptionGroup var parallel: ParallelOptions
    @OptionGroup var cache: CacheOptions

    /// Opens the model, starts its ranks and prints the capacity report, with progress on one
    /// rewritten line of standard error.
    /// - Parameter minimumSequenceLength: tokens one sequence must fit (sizes the cache when
    ///   no --kv-cache-memory is given).
    /// - Parameter defaultBudgetBytes: KV bytes per rank when no --kv-cache-memory is given
    ///   (nil: just enough for `minimumSequenceLength`).
    /// - Parameter report: gets the capacity report even with --quiet (the server logs it).
    func start(
        defaultBudgetBytes: Int? = nil, report: ((String) -> Void)? = nil,
        minimumSequenceLength: (OpenedModel) throws -> Int
    ) throws -> (OpenedModel, ModelRunner) {
        let progress = ProgressLine(enabled: !quiet)
        let started = Date()
        let opened = try OpenedModel.open(model, loadFormat: loadFormat) { progress.show($0) }
        var settings = try cache.settings
        settings.budgetBytesPerRank = settings.budgetBytesPerRank ?? defaultBudgetBytes
        let setup = try RunnerSetup.start(
            opened, tp: parallel.tensorParallelSize, cp: parallel.contextParallelSize,
            cpInterleave: parallel.cpInterleave, cpCombine: parallel.cpComm, cache: settings,
            minimumSequenceLength: try minimumSequenceLength(opened))
        let summary = String(format: "loaded %@ on %d rank(s) in %.1f s; %@", opened.source.lastPathComponent,
                             setup.runner.parallel.tp, Date().timeIntervalSince(started), setup.plan.description)
        if let report {
            progress.clear()
            report(summary)
        } else {
            progress.finish(summary)
        }
        return (opened, setup.runner)
    }
}
