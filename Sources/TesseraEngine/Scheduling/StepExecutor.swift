import TesseraDistributed
import TesseraModels
import TesseraTensor

/// What the engine core needs from whatever runs the model: one blocking forward per step.
///
/// `ModelRunner` (all ranks, any tp/cp) conforms; tests wrap it (to hold or record steps) or
/// stand in an executor that fails. Block ids are physical ids valid on every rank of a CP
/// group: a logical block holds `blockSize * contextParallelSize` consecutive tokens
/// (DESIGN.md, "KV placement").
public protocol StepExecutor: AnyObject, Sendable {
    var config: ModelConfig { get }
    /// Physical KV blocks per rank.
    var numBlocks: Int { get }
    /// Tokens per physical block on one rank.
    var blockSize: Int { get }
    var contextParallelSize: Int { get }
    /// Runs one step; returns logits `[batch.logitIndices.count, vocab]` in logitIndices order.
    func forward(_ batch: ForwardBatch) throws -> Tensor
}

extension StepExecutor {
    /// Tokens one logical block (one block-table entry) holds across the CP group.
    public var tokensPerBlock: Int { KVPlacement(cp: contextParallelSize).tokensPerLogicalBlock(blockSize: blockSize) }
}
