import TesseraModels
import TesseraTokenizer

/// Everything the engine does with a row of logits once the model has run: picks the request's
/// next token with its seeded `Sampler`, takes the token's log-probabilities when the request
/// asks, adds the text it makes visible and says whether it ends the output (an end token or a
/// stop string). `EngineCore` only schedules, runs the model and delivers what comes out of here.
///
/// One state per live request, kept here by request id rather than on the scheduled sequence:
/// preemption by recompute never touches it, so a preempted request's sampler goes on drawing
/// exactly where it was. Engine thread only.
struct OutputProcessor {
    private let tokenizer: Tokenizer?
    /// The model's and the tokenizer's end-of-sequence ids.
    private let endTokenIDs: Set<Int>
    private var requests: [String: RequestOutputState] = [:]
    /// The vocabulary trie, built at the first constrained request.
    private var trie: VocabularyTrie?
    /// Token masks by schema (its canonical text), shared by the requests that use it.
    private var maskCaches: [String: MaskCache] = [:]

    init(tokenizer: Tokenizer?, config: ModelConfig) {
        self.tokenizer = tokenizer
        var end = Set(config.eosTokenIDs)
        if let eos = tokenizer?.eosTokenID { end.insert(eos) }
        endTokenIDs = end
    }

    /// Starts following `request`.
    mutating func add(_ request: EngineRequest) {
        var constraint: JSONConstraintState?
        if let grammar = request.params.constraint, let tokenizer {
            let trie = self.trie ?? VocabularyTrie(tokenizer: tokenizer)
            self.trie = trie
            if maskCaches.count >= 16 && maskCaches[grammar.key] == nil { maskCaches.removeAll() }
            let cache = maskCaches[grammar.key] ?? MaskCache()
            maskCaches[grammar.key] = cache
            constraint = JSONConstraintState(grammar: grammar, trie: trie, cache: cache)
        }
        requests[request.id] = RequestOutputState(
            tokenizer: tokenizer, params: request.params, promptTokenIDs: request.promptIDs,
            endTokens: endTokenIDs.union(request.stopTokenIDs), constraint: constraint)
    }

    /// Request `id`'s next token, sampled from its row of `logits`, as the output that carries
    /// it (with its log-probabilities if asked and the text now safe to show), and whether it
    /// ended the output.
    mutating func next(_ id: String, logits: UnsafeBufferPointer<Float>) -> (token: Int, output: RequestOutput, stopped: Bool) {
        requests[id]!.next(id, logits: logits)
    }

    /// Stops following `id`; returns the text it held back until the end (an unfinished
    /// character, a possible start of a stop string).
    mutating func finish(_ id: String) -> String {
        guard var request = requests.removeValue(forKey: id) else { return "" }
        return request.finish()
    }
}

/// One request's sampler (with the counts of its output tokens that the penalties read),
/// streaming decoder and stop rules.
private struct RequestOutputState {
    private var sampler: Sampler
    private var decoder: StreamingDecoder?
    private var stops: StopStringMatcher
    /// End-of-sequence tokens (unless `ignoreEOS`) and the request's stop token ids.
    private let endTokens: Set<Int>
    /// The JSON constraint, if any, and its tokenizer (for token bytes).
    private let constraint: JSONConstraintState?
    private let tokenizer: Tokenizer?

    init(tokenizer: Tokenizer?, params: SamplingParams, promptTokenIDs: [Int], endTokens: Set<Int>, constraint: JSONConstraintState?) {
        self.constraint = constraint
        self.tokenizer = tokenizer
        sampler = Sampler(params: params, promptTokenIDs: promptTokenIDs)
        decoder = tokenizer?.makeStreamingDecoder(skipSpecialTokens: true)
        stops = StopStringMatcher(stops: params.stop)
        self.endTokens = (params.ignoreEOS ? [] : endTokens).union(params.stopTokenIDs)
    }

    mutating func next(_ id: String, logits: UnsafeBufferPointer<Float>) -> (token: Int, output: RequestOutput, stopped: Bool) {
        guard let constraint else {
            let token = sampler.sample(logits)
            let (text, stopped) = accept(token)
            var output = RequestOutput(requestID: id, newTokenIDs: [token], newText: text)
            if let top = sampler.params.logprobs { output.newLogprobs = [Sampler.logprobs(logits, token: token, top: top)] }
            return (token, output, stopped)
        }
        let token = constrainedSample(logits, constraint)
        let (text, acceptedStop) = accept(token)
        var stopped = acceptedStop
        if !stopped {
            // A token outside the language (none was allowed) ends the output; so does a
            // document nothing can follow.
            if !constraint.accept(tokenizer?.tokenBytes(token) ?? []) || (constraint.isComplete && !constraint.canContinue) {
                stopped = true
            } else {
                constraint.prefetchMask()
            }
        }
        var output = RequestOutput(requestID: id, newTokenIDs: [token], newText: text)
        if let top = sampler.params.logprobs { output.newLogprobs = [Sampler.logprobs(logits, token: token, top: top)] }
        return (token, output, stopped)
    }

    /// Draws among the tokens the constraint allows: the others' logits set to -infinity; the
    /// end-of-sequence tokens allowed only when the document is whole.
    private mutating func constrainedSample(_ logits: UnsafeBufferPointer<Float>, _ constraint: JSONConstraintState) -> Int {
        let mask = constraint.mask()
        var masked = [Float](repeating: -.infinity, count: logits.count)
        for (w, word) in mask.words.enumerated() where word != 0 {
            var bits = word
            while bits != 0 {
                let id = w << 6 + bits.trailingZeroBitCount
                if id < masked.count { masked[id] = logits[id] }
                bits &= bits - 1
            }
        }
        let complete = constraint.isComplete
        for end in endTokens where end >= 0 && end < masked.count && (complete || mask.isEmpty) { masked[end] = logits[end] }
        if masked.allSatisfy({ $0 == -.infinity }) {
            return endTokens.first ?? Sampler.argmax(logits)
        }
        // Bias and penalties leave -infinity as it is: a banned token stays banned.
        return masked.withUnsafeBufferPointer { sampler.sample($0) }
    }

    /// The text `token` makes safe to show and whether it ends the output: an end token (kept
    /// in the ids, not shown) or a stop string (cut from the text).
    private mutating func accept(_ token: Int) -> (text: String, stopped: Bool) {
        if endTokens.contains(token) { return ("", true) }
        guard var decoder else { return ("", false) }
        let text = stops.append(decoder.append(token))
        self.decoder = decoder
        return (text, stops.stopped)
    }

    /// Text held back until the end; none after a stop string.
    mutating func finish() -> String {
        guard var decoder, !stops.stopped else { return "" }
        let text = stops.append(decoder.finish()) + stops.finish()
        self.decoder = decoder
        return text
    }
}
