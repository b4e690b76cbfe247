import Foundation
import TestSupport
import TesseraDistributed
import TesseraModels
import TesseraTensor
import TesseraTokenizer
@testable import TesseraEngine

/// Fixture models, their files opened once per process; every engine test runs them through
/// the real ``ModelRunner``, whatever the wrappers below add around it.
enum EngineModels {
    static let tinyLlama = Result { try ModelFiles.open(Fixtures.url("models/tiny-llama")) }
    static let tinyQwen3 = Result { try ModelFiles.open(Fixtures.url("models/tiny-qwen3")) }
    static let smol = Result { try loadSmol() }

    /// SmolLM2's files and its tokenizer.
    static func loadSmol() throws -> (model: ModelFiles, tokenizer: Tokenizer) {
        let files = try ModelFiles.open(Fixtures.smolLM2())
        guard let spec = files.tokenizerSpec else { throw TransformerError.invalidConfig("SmolLM2's GGUF has no tokenizer") }
        return (files, try Tokenizer(spec: spec))
    }

    /// `model` on tp thread ranks (KV cache split cp ways), each with `numBlocks` f32 blocks
    /// of `blockSize` tokens. The ranks stop when the runner is released.
    static func runner(_ model: ModelFiles, tp: Int = 1, cp: Int = 1, numBlocks: Int = 64, blockSize: Int = 4) throws -> ModelRunner {
        let parallel = try ParallelConfig(tp: tp, cp: cp, model: model.config, blockSize: blockSize)
        return try ModelRunner(config: model.config, weights: model.weights, parallel: parallel,
                               numBlocks: numBlocks, kvCacheDType: .f32)
    }

    /// An engine over ``runner(_:tp:cp:numBlocks:blockSize:)``, its steps recorded.
    static func engine(
        _ model: ModelFiles, tokenizer: Tokenizer? = nil, tp: Int = 1, cp: Int = 1, numBlocks: Int = 64,
        blockSize: Int = 4, options: EngineOptions = EngineOptions()
    ) throws -> (EngineCore, RecordingExecutor) {
        let executor = RecordingExecutor(try runner(model, tp: tp, cp: cp, numBlocks: numBlocks, blockSize: blockSize))
        return (try EngineCore(executor: executor, tokenizer: tokenizer, options: options), executor)
    }
}

/// Passes every step to `base`, the same to the engine in every other respect.
class WrappingExecutor: StepExecutor, @unchecked Sendable {
    let base: any StepExecutor

    init(_ base: any StepExecutor) { self.base = base }

    var config: ModelConfig { base.config }
    var numBlocks: Int { base.numBlocks }
    var blockSize: Int { base.blockSize }
    var contextParallelSize: Int { base.contextParallelSize }

    func forward(_ batch: ForwardBatch) throws -> Tensor { try base.forward(batch) }
}

/// Keeps every batch the engine runs, for tests of what the scheduler sent.
final class RecordingExecutor: WrappingExecutor, @unchecked Sendable {
    private let lock = NSLock()
    private var batches: [ForwardBatch] = []

    override func forward(_ batch: ForwardBatch) throws -> Tensor {
        lock.withLock { batches.append(batch) }
        return try base.forward(batch)
    }

    var recordedBatches: [ForwardBatch] { lock.withLock { batches } }
}

/// Calls `beforeStep(n)` on the engine thread before its n-th step (from 1), so a test can act
/// at a chosen step rather than at a chosen moment.
final class SteppingExecutor: WrappingExecutor, @unchecked Sendable {
    private let beforeStep: @Sendable (Int) -> Void
    private let lock = NSLock()
    private var steps = 0

    init(_ base: any StepExecutor, beforeStep: @escaping @Sendable (Int) -> Void) {
        self.beforeStep = beforeStep
        super.init(base)
    }

    override func forward(_ batch: ForwardBatch) throws -> Tensor {
        let step = lock.withLock { steps += 1; return steps }
        beforeStep(step)
        return try base.forward(batch)
    }
}

/// Holds the engine thread inside its `pauseAt`-th step until `release()`, so a test can act
/// mid-flight however slowly its own task gets to run (other suites may hog the cooperative pool).
final class PausingExecutor: WrappingExecutor, @unchecked Sendable {
    let pauseAt: Int
    private let condition = NSCondition()
    private var steps = 0
    private var paused = false
    private var released = false

    init(_ base: any StepExecutor, pauseAt: Int) {
        self.pauseAt = pauseAt
        super.init(base)
    }

    override func forward(_ batch: ForwardBatch) throws -> Tensor {
        condition.withLock {
            steps += 1
            if steps >= pauseAt && !released {
                paused = true
                condition.broadcast()
                while !released { condition.wait() }
            }
        }
        return try base.forward(batch)
    }

    /// Blocks until the engine thread is held (a thread, not a task: do not await anything).
    func waitUntilPaused() {
        condition.withLock { while !paused { condition.wait() } }
    }

    /// Lets the held step and every later one run.
    func release() {
        condition.withLock {
            released = true
            condition.broadcast()
        }
    }
}
