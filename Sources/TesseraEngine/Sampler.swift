import TesseraModels
import Foundation

/// Picks the next token from a row of logits. First the logits are adjusted: logit bias, then
/// the repetition penalty (prompt and output tokens), then the presence and frequency penalties
/// (output tokens), the order vLLM applies them. Then greedy when temperature is 0, otherwise
/// temperature, top-k, min-p, top-p, then a seeded draw.
///
/// A sampler follows one sequence: it counts the tokens it has drawn (the penalties need them),
/// so it lives as long as its request, preemption included.
public struct Sampler: Sendable {
    public let params: SamplingParams
    private var random: SeededRandom
    /// How many times each token has been drawn so far.
    private(set) var outputCounts: [Int: Int] = [:]
    /// Tokens of the prompt and of the output so far (only kept under a repetition penalty).
    private var seen: Set<Int> = []

    public init(params: SamplingParams, promptTokenIDs: [Int] = []) {
        self.params = params
        self.random = SeededRandom(seed: params.seed)
        if params.repetitionPenalty != 1 { seen = Set(promptTokenIDs) }
    }

    /// The next token; counted as part of the output from then on.
    public mutating func sample(_ logits: UnsafeBufferPointer<Float>) -> Int {
        let token: Int
        if params.adjustsLogits {
            let adjusted = adjust(logits)
            token = adjusted.withUnsafeBufferPointer { pick($0) }
        } else {
            token = pick(logits)
        }
        outputCounts[token, default: 0] += 1
        if params.repetitionPenalty != 1 { seen.insert(token) }
        return token
    }

    private mutating func pick(_ logits: UnsafeBufferPointer<Float>) -> Int {
        if params.temperature == 0 { return Self.argmax(logits) }
        var candidates = Self.candidates(logits, temperature: params.temperature, topK: params.topK)
        Self.softmaxInPlace(&candidates)
        Self.minP(&candidates, minP: params.minP)
        Self.nucleus(&candidates, topP: params.topP)
        return draw(candidates)
    }

    /// The logits after logit bias and the penalties, given what has been drawn so far.
    func adjust(_ logits: UnsafeBufferPointer<Float>) -> [Float] {
        var out = Array(logits)
        for (token, bias) in params.logitBias where token < out.count { out[token] += bias }
        let penalty = params.repetitionPenalty
        if penalty != 1 {
            for token in seen where token >= 0 && token < out.count {
                out[token] = out[token] > 0 ? out[token] / penalty : out[token] * penalty
            }
        }
        if params.presencePenalty != 0 || params.frequencyPenalty != 0 {
            for (token, count) in outputCounts where token < out.count {
                out[token] -= params.presencePenalty + params.frequencyPenalty * Float(count)
            }
        }
        return out
    }

    /// Index of the largest logit; the lowest index wins ties (as torch.argmax does).
    public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int {
        var best = 0
        var bestValue = -Float.infinity
        for i in logits.indices where logits[i] > bestValue {
            best = i
            bestValue = logits[i]
        }
        return best
    }

    /// (token, scaled logit) sorted by descending logit, cut to top-k when k > 0.
    static func candidates(
        _ logits: UnsafeBufferPointer<Float>, temperature: Float, topK: Int
    ) -> [(token: Int, value: Float)] {
        var all = logits.enumerated().map { (token: $0.offset, value: $0.element / temperature) }
        all.sort { $0.value > $1.value || ($0.value == $1.value && $0.token < $1.token) }
        if topK > 0, topK < all.count { all.removeSubrange(topK...) }
        return all
    }

    /// Turns sorted scaled logits into probabilities.
    static func softmaxInPlace(_ candidates: inout [(token: Int, value: Float)]) {
        guard let top = candidates.first?.value else { return }
        var sum: Float = 0
        for i in candidates.indices {
            candidates[i].value = exp(candidates[i].value - top)
            sum += candidates[i].value
        }
        for i in candidates.indices { candidates[i].value /= sum }
    }

    /// Drops the tokens whose probability is below `minP` times the first's (the likeliest; the
    /// list is sorted), renormalised. Taken on the probabilities after temperature and top-k, which
    /// keeps the same tokens as on the full distribution: only ratios to the likeliest matter.
    static func minP(_ candidates: inout [(token: Int, value: Float)], minP: Float) {
        guard minP > 0, let top = candidates.first?.value else { return }
        let threshold = minP * top
        guard let cut = candidates.firstIndex(where: { $0.value < threshold }) else { return }
        candidates.removeSubrange(cut...)
        let total = candidates.reduce(0) { $0 + $1.value }
        for i in candidates.indices { candidates[i].value /= total }
    }

    /// Keeps the smallest prefix of sorted probabilities whose mass reaches `topP`
    /// (always at least one token), renormalised.
    static func nucleus(_ candidates: inout [(token: Int, value: Float)], topP: Float) {
        guard topP < 1 else { return }
        var mass: Float = 0
        var keep = candidates.count
        for (i, candidate) in candidates.enumerated() {
            mass += candidate.value
            if mass >= topP { keep = i + 1; break }
        }
        candidates.removeSubrange(keep...)
        let total = candidates.reduce(0) { $0 + $1.value }
        for i in candidates.indices { candidates[i].value /= total }
    }

    private mutating func draw(_ candidates: [(token: Int, value: Float)]) -> Int {
        let u = random.nextUnitFloat()
        var cumulative: Float = 0
        for candidate in candidates {
            cumulative += candidate.value
            if u < cumulative { return candidate.token }
        }
        return candidates[candidates.count - 1].token
    }
}

