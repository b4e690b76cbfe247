/// Where a sequence is in its life.
enum SequenceStatus {
    case waiting, running, finished
}

/// The engine's state of one request. Touched only on the engine thread.
///
/// `tokens` is the prompt followed by every generated token; `numComputed` of them have their
/// K/V in the blocks of `blockTable`. Preemption by recompute sets `numComputed` to 0 and frees
/// the blocks: the next admission treats all of `tokens` as the prompt. Sampling and text are
/// the `OutputProcessor`'s, which preemption does not touch.
final class EngineSequence {
    let id: String
    /// Admission order: lower is older (FCFS).
    let arrivalIndex: UInt64
    let promptLength: Int
    let maxNewTokens: Int
    private(set) var tokens: [Int]
    var numComputed = 0
    /// Its KV blocks and their prefix-cache state, which `BlockManager` keeps.
    var blocks = SequenceBlocks()
    var blockTable: [Int] { blocks.table }
    var status = SequenceStatus.waiting
    var preemptions = 0
    var cachedPromptTokens: Int?

    let arrival: ContinuousClock.Instant
    var firstToken: ContinuousClock.Instant?

    init(request: EngineRequest, arrivalIndex: UInt64, maxNewTokens: Int, arrival: ContinuousClock.Instant) {
        id = request.id
        self.arrivalIndex = arrivalIndex
        promptLength = request.promptIDs.count
        self.maxNewTokens = maxNewTokens
        tokens = request.promptIDs
        self.arrival = arrival
    }

    var generatedCount: Int { tokens.count - promptLength }
    var generated: ArraySlice<Int> { tokens[promptLength...] }
    /// Tokens still to run through the model before the next token can be sampled.
    var uncomputed: Int { tokens.count - numComputed }
    /// Past its (re)computed prompt: one new token per step.
    var isDecoding: Bool { uncomputed == 1 && numComputed > 0 }

    func append(_ token: Int) { tokens.append(token) }
}
