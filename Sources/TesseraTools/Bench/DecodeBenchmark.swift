import Foundation
import TesseraDistributed
import TesseraEngine
import TesseraModels
import TesseraTensor

/// Times single-sequence decode steps at long contexts, and splits the time into attention over
/// the context, communication and the rest.
///
/// Method: for each context length L the cache is filled with random K/V for positions
/// `0..<L` (each rank its own slice, as a prefill would leave it), then `steps` decode steps run
/// at positions `L, L+1, ...` after `warmup` untimed ones. The same is done at a short baseline
/// context. Attention over the context = median step at L − median step at the baseline;
/// communication = seconds inside collectives per step (waiting for slower ranks included);
/// the rest = baseline step − its communication (weights, norms, MLP, LM head).
public struct DecodeBenchmark: Sendable {
    public var contexts: [Int]
    public var steps: Int
    public var warmup: Int
    public var baselineContext: Int

    public init(contexts: [Int], steps: Int = 8, warmup: Int = 2, baselineContext: Int = 16) {
        self.contexts = contexts
        self.steps = steps
        self.warmup = warmup
        self.baselineContext = baselineContext
    }

    public struct Row: Sendable, Codable {
        public var context: Int
        public var stepSeconds: Double
        public var communicationSeconds: Double
        public var attentionSeconds: Double
        public var restSeconds: Double
    }

    /// Tokens the cache must hold for the longest measurement.
    public var longestSequence: Int { (contexts.max() ?? 0) + warmup + steps }

    /// The per-rank work the runner must be given at `rankTasks[0]` (it fills the cache).
    public static let rankTasks: [RankTask] = [CacheFiller.task]

    /// - Parameter runner: started with ``rankTasks``.
    public func run(_ runner: ModelRunner) throws -> [Row] {
        let blockTable = Array(0..<KVPlacement(runner.parallel).logicalBlocks(for: longestSequence, blockSize: runner.blockSize))
        let baseline = try measure(runner, context: baselineContext, blockTable: blockTable)
        return try contexts.map { context in
            let m = try measure(runner, context: context, blockTable: blockTable)
            return Row(
                context: context, stepSeconds: m.step, communicationSeconds: m.communication,
                attentionSeconds: max(0, m.step - baseline.step),
                restSeconds: max(0, baseline.step - baseline.communication))
        }
    }

    private func measure(_ runner: ModelRunner, context: Int, blockTable: [Int]) throws -> (step: Double, communication: Double) {
        try runner.runOnEveryRank(task: 0, arguments: CacheFiller.arguments(blockTable: blockTable, tokens: context))
        var random = SeededRandom(seed: UInt64(context))
        var times: [Double] = []
        var communication = 0.0
        for i in 0..<(warmup + steps) {
            let position = context + i
            let token = Int(random.next() % UInt64(runner.config.vocabSize))
            let batch = ForwardBatch(
                tokens: [token], positions: [position],
                sequences: [SequenceSpan(tokenRange: 0..<1, contextLength: position, blockTable: blockTable)],
                logitIndices: [0])
            if i == warmup { runner.communicationClocks.forEach { $0.reset() } }
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try runner.forward(batch)
            if i >= warmup { times.append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9) }
        }
        // Rank 0's share: every rank waits in the same collectives.
        communication = runner.communicationClocks[0].totals.seconds / Double(steps)
        return (median(times), communication)
    }

    private func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
}
