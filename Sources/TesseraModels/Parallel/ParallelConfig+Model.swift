import TesseraDistributed

extension ParallelConfig {
    /// Validates against `model`'s head counts; see ``init(tp:cp:cpInterleave:numHeads:numKVHeads:blockSize:)``.
    ///
    /// Lives here rather than in TesseraDistributed so that the distributed layer does not
    /// depend on model types (the forward pass depends on the communicators, not the reverse).
    public init(
        tp: Int, cp: Int = 1, cpInterleave: Int = 1, model: ModelConfig, blockSize: Int
    ) throws(ParallelConfigError) {
        try self.init(
            tp: tp, cp: cp, cpInterleave: cpInterleave,
            numHeads: model.numHeads, numKVHeads: model.numKVHeads, blockSize: blockSize)
    }
}
