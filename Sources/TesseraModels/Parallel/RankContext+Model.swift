import TesseraDistributed

extension RankContext {
    /// One rank, no parallelism, for `model`: what ``TransformerModel/init(config:weights:)`` uses.
    public static func single(model: ModelConfig, blockSize: Int = 16) throws(ParallelConfigError) -> RankContext {
        try single(numHeads: model.numHeads, numKVHeads: model.numKVHeads, blockSize: blockSize)
    }
}
