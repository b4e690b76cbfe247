import TesseraTokenizer

/// Where a sequence is in its life.
enum SequenceStatus {
    case waiting, running, finished
}

/// The engine's state of one request. Touched only on the engine thread.
///
/// `tokens` is the prompt followed by every generated token; `numComputed` of them have their
/// K/V in the blocks of `blockTable`. Preemption by recompute sets `numComputed` to 0 and drops
/// the blocks: the next admission treats all of `tokens` as the prompt, and the sampler, whose
/// random state lives here, continues exactly where it was.
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

    var sampler: Sampler
    var output: OutputState
    let arrival: ContinuousClock.Instant
    var firstToken: ContinuousClock.Instant?

    init(request: EngineRequest, arrivalIndex: UInt64, maxNewTokens: Int, output: OutputState, arrival: ContinuousClock.Instant) {
        id = request.id
        self.arrivalIndex = arrivalIndex
        promptLength = request.promptIDs.count
        self.maxNewTokens = maxNewTokens
        tokens = request.promptIDs
        sampler = Sampler(params: request.params)
        self.output = output
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

/// Turns a sequence's sampled tokens into text and decides when it stops.
struct OutputState {
    private var decoder: StreamingDecoder?
    private var stops: StopStringMatcher
    private let endTokens: Set<Int>

    init(tokenizer: Tokenizer?, params: SamplingParams, endTokens: Set<Int>) {
        decoder = tokenizer?.makeStreamingDecoder(skipSpecialTokens: true)
        stops = StopStringMatcher(stops: params.stop)
        self.endTokens = params.ignoreEOS ? [] : endTokens
    }

    /// Takes one sampled token; returns the text now safe to show and whether it ended the
    /// output (an end token, which is kept in the ids but not shown, or a stop string).
    mutating func accept(_ token: Int) -> (text: String, stopped: Bool) {
        if endTokens.contains(token) { return ("", true) }
        guard var decoder else { return ("", false) }
        let text = stops.append(decoder.append(token))
        self.decoder = decoder
        return (text, stops.stopped)
    }

    /// Text held back until the end (an unfinished character, a possible stop-string start).
    mutating func finish() -> String {
        guard var decoder, !stops.stopped else { return "" }
        let text = stops.append(decoder.finish()) + stops.finish()
        self.decoder = decoder
        return text
    }
}
