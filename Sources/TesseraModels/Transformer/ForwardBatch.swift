/// One step's work: tokens of one or more sequences (prefill chunks and/or decode tokens),
/// flattened into rows. Under tensor/context parallelism every rank gets the same batch.
public struct ForwardBatch: Sendable, Equatable {
    /// Token ids of this step, all sequences concatenated.
    public var tokens: [Int]
    /// Absolute position of each token. Within a sequence the rows are consecutive positions
    /// starting at its `contextLength`.
    public var positions: [Int]
    public var sequences: [SequenceSpan]
    /// Rows of `tokens` that need logits (e.g. the last of each sequence), in output order.
    public var logitIndices: [Int]

    public init(tokens: [Int], positions: [Int], sequences: [SequenceSpan], logitIndices: [Int]) {
        self.tokens = tokens
        self.positions = positions
        self.sequences = sequences
        self.logitIndices = logitIndices
    }
}

/// The rows of one sequence in a `ForwardBatch` and where its cached tokens are.
public struct SequenceSpan: Sendable, Equatable {
    /// Rows of this sequence in the batch.
    public var tokenRange: Range<Int>
    /// Tokens of the sequence already in the cache before this step (the global count, not
    /// a rank's share).
    public var contextLength: Int
    /// Block ids, the same on every rank. With cp = 1, entry `i` holds positions
    /// `[i*blockSize, (i+1)*blockSize)`. With cp > 1 an entry is a logical block of
    /// `blockSize * cp` consecutive positions: on each rank of the CP group the id names the
    /// physical block holding the `blockSize` of them that rank owns (`KVPlacement`). Must
    /// cover `KVPlacement.logicalBlocks(for: contextLength + tokenRange.count, blockSize:)` entries.
    public var blockTable: [Int]

    public init(tokenRange: Range<Int>, contextLength: Int, blockTable: [Int]) {
        self.tokenRange = tokenRange
        self.contextLength = contextLength
        self.blockTable = blockTable
    }
}
