import TesseraModels
import Foundation

/// Picks the next token from a row of logits: greedy when temperature is 0, otherwise
/// temperature, then top-k, then top-p (the order transformers applies them), then a draw.
public struct Sampler: Sendable {
    public let params: SamplingParams
    private var random: SeededRandom

    public init(params: SamplingParams) {
        self.params = params
        self.random = SeededRandom(seed: params.seed)
    }

    public mutating func sample(_ logits: UnsafeBufferPointer<Float>) -> Int {
        if params.temperature == 0 { return Self.argmax(logits) }
        var candidates = Self.candidates(logits, temperature: params.temperature, topK: params.topK)
        Self.softmaxInPlace(&candidates)
        Self.nucleus(&candidates, topP: params.topP)
        return draw(candidates)
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

