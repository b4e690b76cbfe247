import Foundation

/// The log-probability of one generated token and of the most likely tokens at its position,
/// under the model's raw distribution (log_softmax of the logits, before temperature, top-k
/// and top-p), as OpenAI's `logprobs` / `top_logprobs` report them.
public struct TokenLogprob: Sendable, Equatable {
    /// The token that was generated (it need not be among `top` when sampling).
    public var token: Int
    public var logprob: Float
    /// The `SamplingParams.logprobs` most likely tokens (fewer only when the vocabulary is
    /// smaller), by descending log-probability, the lower token id first among equals.
    public var top: [TopLogprob]

    public init(token: Int, logprob: Float, top: [TopLogprob]) {
        self.token = token
        self.logprob = logprob
        self.top = top
    }
}

public struct TopLogprob: Sendable, Equatable {
    public var token: Int
    public var logprob: Float

    public init(token: Int, logprob: Float) {
        self.token = token
        self.logprob = logprob
    }
}

extension Sampler {
    /// log_softmax of `logits` at `token` and at the `top` most likely tokens. Costs three
    /// passes over the row, so the engine calls it only for requests that ask.
    public static func logprobs(_ logits: UnsafeBufferPointer<Float>, token: Int, top: Int) -> TokenLogprob {
        precondition(logits.indices.contains(token) && top >= 0, "token \(token) or top \(top) out of range")
        let lse = logSumExp(logits)
        let logprob = { (i: Int) in Float(Double(logits[i]) - lse) }
        var alternatives = largest(logits, count: top).map { TopLogprob(token: $0, logprob: logprob($0)) }
        // Rounding to Float can make neighbours with distinct logits equal: restore the tie rule.
        alternatives.sort { $0.logprob > $1.logprob || ($0.logprob == $1.logprob && $0.token < $1.token) }
        return TokenLogprob(token: token, logprob: logprob(token), top: alternatives)
    }

    /// log(sum(exp(x))) for a row of finite logits, computed as max + log(sum(exp(x - max))) so
    /// no term overflows, with the sum in Double: a running Float sum of 49k terms can be off by
    /// up to n·ε ≈ 3e-3 (relative) in the worst case, which would shift every logprob by as much.
    static func logSumExp(_ logits: UnsafeBufferPointer<Float>) -> Double {
        var peak = -Float.infinity
        for value in logits where value > peak { peak = value }
        guard peak.isFinite else { return Double(peak) }
        var sum = 0.0
        for value in logits { sum += Double(exp(value - peak)) }
        return Double(peak) + log(sum)
    }

    /// Indices of the `count` largest values, largest first, the lower index first among equals.
    /// One pass keeping a sorted list of at most `count` (<= 20) entries: most values fail the
    /// comparison with the smallest kept one, so this stays linear in the row length.
    static func largest(_ values: UnsafeBufferPointer<Float>, count: Int) -> [Int] {
        guard count > 0 else { return [] }
        var kept: [(index: Int, value: Float)] = []
        kept.reserveCapacity(count + 1)
        for (index, value) in values.enumerated() where !value.isNaN {
            if kept.count == count, value <= kept[kept.count - 1].value { continue }
            // After every kept entry with a value >= this one: earlier (lower) indices win ties.
            var position = kept.count
            while position > 0, kept[position - 1].value < value { position -= 1 }
            kept.insert((index, value), at: position)
            if kept.count > count { kept.removeLast() }
        }
        return kept.map(\.index)
    }
}
