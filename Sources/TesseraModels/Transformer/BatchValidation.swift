extension TransformerModel {
    /// Checks everything `forward` relies on, so a bad batch throws instead of reading out of bounds.
    func validate(_ batch: ForwardBatch, cache: PagedKVCache) throws {
        func fail(_ why: String) -> TransformerError { .invalidBatch(why) }
        let n = batch.tokens.count
        let slotWidth = attention.kvDim
        guard cache.numLayers == config.numLayers, cache.slotWidth == slotWidth else {
            throw fail("cache has \(cache.numLayers) layers of width \(cache.slotWidth), rank \(rank.rank) needs \(config.numLayers) of \(slotWidth) (\(attention.numKVHeads) KV heads)")
        }
        let placement = attention.placement
        guard cache.blockSize % placement.interleave == 0 else {
            throw fail("cache block size \(cache.blockSize) is not a multiple of cp_interleave=\(placement.interleave)")
        }
        guard batch.positions.count == n else {
            throw fail("\(n) tokens but \(batch.positions.count) positions")
        }
        if let bad = batch.tokens.first(where: { $0 < 0 || $0 >= config.vocabSize }) {
            throw fail("token id \(bad) outside the vocabulary of \(config.vocabSize)")
        }
        if let bad = batch.logitIndices.first(where: { $0 < 0 || $0 >= n }) {
            throw fail("logit index \(bad) outside the \(n) rows")
        }
        var owner = [Int](repeating: -1, count: n)
        for (s, span) in batch.sequences.enumerated() {
            let range = span.tokenRange
            guard range.lowerBound >= 0, range.upperBound <= n else {
                throw fail("sequence \(s) rows \(range) outside the \(n) rows")
            }
            guard span.contextLength >= 0 else { throw fail("sequence \(s) has contextLength \(span.contextLength)") }
            for (k, row) in range.enumerated() {
                guard owner[row] == -1 else { throw fail("row \(row) belongs to sequences \(owner[row]) and \(s)") }
                owner[row] = s
                guard batch.positions[row] == span.contextLength + k else {
                    throw fail("sequence \(s) row \(row) has position \(batch.positions[row]), expected contextLength + \(k) = \(span.contextLength + k)")
                }
            }
            // Logical blocks of blockSize * cp tokens (blockSize with cp = 1), valid on every rank.
            let length = span.contextLength + range.count
            let blocksNeeded = placement.logicalBlocks(for: length, blockSize: cache.blockSize)
            guard span.blockTable.count >= blocksNeeded else {
                let perBlock = placement.cp > 1 ? " (logical blocks of \(cache.blockSize) x cp=\(placement.cp) tokens)" : ""
                throw fail("sequence \(s) needs \(blocksNeeded) blocks for \(length) tokens\(perBlock), block table has \(span.blockTable.count)")
            }
            // With a sliding window, blocks wholly before the first key the step can see may have
            // been given back (their entries are negative); every later one must be real.
            let firstSeen = attention.firstVisible(span.contextLength) / placement.tokensPerLogicalBlock(blockSize: cache.blockSize)
            if let bad = span.blockTable[min(firstSeen, blocksNeeded)..<blocksNeeded].first(where: { $0 < 0 || $0 >= cache.numBlocks }) {
                throw fail("sequence \(s) block id \(bad) outside the cache's \(cache.numBlocks) blocks")
            }
        }
        if let row = owner.firstIndex(of: -1) { throw fail("row \(row) belongs to no sequence") }
    }
}
