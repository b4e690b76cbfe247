/// One step's work: tokens of one or more sequences (prefill chunks and/or decode tokens),
/// flattened into rows.
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
    /// Tokens already in the cache before this step.
    public var contextLength: Int
    /// Physical block ids; logical block `i` holds positions `[i*blockSize, (i+1)*blockSize)`.
    /// Must cover `contextLength + tokenRange.count` positions.
    public var blockTable: [Int]

    public init(tokenRange: Range<Int>, contextLength: Int, blockTable: [Int]) {
        self.tokenRange = tokenRange
        self.contextLength = contextLength
        self.blockTable = blockTable
    }
}
