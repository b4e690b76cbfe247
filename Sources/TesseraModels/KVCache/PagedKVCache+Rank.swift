import TesseraDistributed

extension PagedKVCache {
    /// The cache of rank `rank.rank`: its KV heads (``RankGrid/kvHeadsPerRank``), `numBlocks`
    /// physical blocks of `blockSize` slots for the tokens it owns. The block size must be
    /// a multiple of the CP interleave (``ParallelConfig`` checks that for its own block size).
    public convenience init(config: ModelConfig, numBlocks: Int, blockSize: Int, dtype: KVCacheDType, rank: RankContext) {
        self.init(config: config, numBlocks: numBlocks, blockSize: blockSize, dtype: dtype,
                  kvHeads: rank.grid.kvHeadsPerRank)
    }
}
