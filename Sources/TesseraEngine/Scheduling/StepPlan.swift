import TesseraModels

/// One sequence's share of a step: tokens `[start, start + count)` of its `tokens`.
struct ScheduledChunk {
    let sequence: EngineSequence
    let start: Int
    let count: Int
    /// The chunk reaches the end of the known tokens: its last row's logits give the next token.
    var needsLogits: Bool { start + count == sequence.tokens.count }
}

/// What the scheduler decided for one step.
struct StepPlan {
    var chunks: [ScheduledChunk] = []
    /// Sequences sent back to the waiting queue this step (their blocks are freed).
    var preempted: [EngineSequence] = []
    var tokenCount: Int { chunks.reduce(0) { $0 + $1.count } }
}

extension StepPlan {
    /// The step's rows: each chunk's tokens at their positions, with the sequence's block table.
    func forwardBatch() -> (ForwardBatch, sampled: [EngineSequence]) {
        var tokens: [Int] = []
        var positions: [Int] = []
        var spans: [SequenceSpan] = []
        var logitIndices: [Int] = []
        var sampled: [EngineSequence] = []
        tokens.reserveCapacity(tokenCount)
        positions.reserveCapacity(tokenCount)
        for chunk in chunks {
            let first = tokens.count
            let range = chunk.start..<(chunk.start + chunk.count)
            tokens += chunk.sequence.tokens[range]
            positions += range
            spans.append(SequenceSpan(tokenRange: first..<tokens.count, contextLength: chunk.start, blockTable: chunk.sequence.blockTable))
            if chunk.needsLogits {
                logitIndices.append(tokens.count - 1)
                sampled.append(chunk.sequence)
            }
        }
        return (ForwardBatch(tokens: tokens, positions: positions, sequences: spans, logitIndices: logitIndices), sampled)
    }
}
