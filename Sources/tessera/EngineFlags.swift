import ArgumentParser
import TesseraEngine

/// Continuous-batching limits shared by `generate` and `serve` (`bench` has its own defaults).
struct EngineFlags: ParsableArguments {
    @Option(help: "Tokens per engine step: decode tokens plus prefill chunks.")
    var maxNumBatchedTokens: Int = 512

    @Option(help: "Sequences running at once.")
    var maxNumSeqs: Int = 64

    @Flag(inversion: .prefixedEnableDisable, help: "Reuse cached KV blocks of identical prompt prefixes.")
    var prefixCaching = true

    /// - Parameter maxModelLen: the run's resolved longest sequence (``RunnerSetup/maxModelLen``).
    func options(maxModelLen: Int) -> EngineOptions {
        EngineOptions(
            maxNumBatchedTokens: maxNumBatchedTokens, maxNumSeqs: maxNumSeqs,
            enablePrefixCaching: prefixCaching, maxModelLen: maxModelLen)
    }
}
