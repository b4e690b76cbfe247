/// Which rank of a CP group stores the K and V of each position, and where.
///
/// Positions are dealt to the `cp` ranks in runs of `interleave` (`I`) tokens: run `k`
/// (positions `[k*I, (k+1)*I)`) goes to rank `k % cp`. A rank stores its tokens densely in
/// position order, so position `p` lands at local index `(p / (I*cp)) * I + p % I` on rank
/// `(p / I) % cp`.
package struct KVPlacement: Sendable, Equatable {
    package let cp: Int
    package let interleave: Int

    package init(cp: Int, interleave: Int = 1) {
        precondition(cp >= 1 && interleave >= 1, "cp=\(cp) and interleave=\(interleave) must be >= 1")
        self.cp = cp
        self.interleave = interleave
    }

    package init(_ config: ParallelConfig) {
        self.init(cp: config.cp, interleave: config.cpInterleave)
    }

    /// Tokens in one full round over the group.
    private var round: Int { interleave * cp }

    /// CP rank that stores position `position`.
    @inline(__always)
    package func owner(of position: Int) -> Int {
        (position / interleave) % cp
    }

    /// Index of `position` among the tokens its owner stores.
    @inline(__always)
    package func localIndex(of position: Int) -> Int {
        (position / round) * interleave + position % interleave
    }

    /// Inverse of ``localIndex(of:)``: the position stored at `localIndex` on `rank`.
    @inline(__always)
    package func position(localIndex: Int, rank: Int) -> Int {
        (localIndex / interleave) * round + rank * interleave + localIndex % interleave
    }

    /// Tokens that CP rank `rank` stores of a sequence of `length` tokens: `interleave` per
    /// complete round, plus its share of the incomplete last round. Ranks past the end of
    /// that round get nothing from it (no phantom token when `length` is a multiple of `cp`).
    package func localLength(of length: Int, rank: Int) -> Int {
        precondition(rank >= 0 && rank < cp, "CP rank \(rank) outside 0..<\(cp)")
        let rounds = length / round
        let rest = length % round
        return rounds * interleave + min(max(rest - rank * interleave, 0), interleave)
    }

    /// Physical slot of `position` on its owner, for a paged cache with `blockSize` slots per
    /// block: the owner's `localIndex / blockSize`-th block of `blockTable`, at offset
    /// `localIndex % blockSize`. The same block table serves every rank of the group.
    @inline(__always)
    package func slot(of position: Int, blockTable: [Int], blockSize: Int) -> Int {
        let local = localIndex(of: position)
        return blockTable[local / blockSize] * blockSize + local % blockSize
    }

    /// Tokens one logical block (one entry of the shared block table) holds across the
    /// group: `blockSize` on each of the `cp` ranks.
    package func tokensPerLogicalBlock(blockSize: Int) -> Int { blockSize * cp }

    /// Logical blocks (entries of the shared block table) a sequence of `length` tokens
    /// needs: `ceil(length / tokensPerLogicalBlock(blockSize:))`.
    ///
    /// Each logical block id names one physical block on every rank of the group, so the
    /// table must be as long as the longest local slice needs: `ceil(max_r local_r / blockSize)`.
    /// When the interleave divides `blockSize`, `blockSize * cp` tokens are `blockSize / I`
    /// complete rounds, in which every rank gets exactly `blockSize` tokens. So the first
    /// `n * blockSize * cp` positions fill exactly `n` blocks on every rank: `n` blocks hold a
    /// sequence iff `length <= n * blockSize * cp`. (Equivalently, logical block `j` of the
    /// table covers positions `[j*blockSize*cp, (j+1)*blockSize*cp)` on every rank.)
    /// Without that divisibility it breaks: `I = 3, blockSize = 4, cp = 2, length = 8` puts
    /// positions 0-2 and 6-7 on rank 0, five tokens, two blocks, but the formula says one.
    package func logicalBlocks(for length: Int, blockSize: Int) -> Int {
        precondition(blockSize % interleave == 0, "interleave=\(interleave) must divide block_size=\(blockSize)")
        let tokens = tokensPerLogicalBlock(blockSize: blockSize)
        return (length + tokens - 1) / tokens
    }
}
