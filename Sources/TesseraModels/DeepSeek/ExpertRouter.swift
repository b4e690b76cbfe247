import Foundation

/// DeepSeek's choice of routed experts for one token, from its router logits.
///
/// - V2 (`softmax`): scores are the softmax of the logits; with groups, each group scores its
///   best expert, the best `groupsPerToken` groups are kept and the others' experts masked;
///   top-k of the scores.
/// - V3 (`sigmoid`): scores are sigmoids; the choice uses scores plus the correction bias,
///   groups score the sum of their two best biased scores; top-k of the biased scores, but the
///   weights are the unbiased scores.
///
/// Weights are renormalised to sum to one when `normalizeTopK` (plus 1e-20 in the denominator,
/// as the reference code), then multiplied by `routedScalingFactor`. Ties go to the lower
/// index.
package enum ExpertRouter {
    package static func route(logits: UnsafePointer<Float>, config m: MixtureOfExperts, bias: [Float]?) -> (experts: [Int], weights: [Float]) {
        let count = m.numExperts
        var scores = [Float](repeating: 0, count: count)
        switch m.scoring {
        case .softmax:
            var top = -Float.infinity
            for e in 0..<count { top = max(top, logits[e]) }
            var sum: Float = 0
            for e in 0..<count {
                scores[e] = Foundation.exp(logits[e] - top)
                sum += scores[e]
            }
            for e in 0..<count { scores[e] /= sum }
        case .sigmoid:
            for e in 0..<count { scores[e] = 1 / (1 + Foundation.exp(-logits[e])) }
        }
        var choice = scores
        if let bias {
            for e in 0..<count { choice[e] += bias[e] }
        }
        if m.groups > 1, m.groupsPerToken < m.groups {
            let size = count / m.groups
            let groupScores: [Float] = (0..<m.groups).map { g in
                let members = choice[g * size..<(g + 1) * size]
                switch m.scoring {
                case .softmax: return members.max() ?? 0
                case .sigmoid: return best(Array(members), count: 2).reduce(0) { $0 + members[members.startIndex + $1] }
                }
            }
            let kept = Set(best(groupScores, count: m.groupsPerToken))
            for g in 0..<m.groups where !kept.contains(g) {
                for e in g * size..<(g + 1) * size { choice[e] = -.infinity }
            }
        }
        let experts = best(choice, count: m.expertsPerToken)
        var weights = experts.map { scores[$0] }
        if m.normalizeTopK {
            let sum = weights.reduce(0, +) + 1e-20
            weights = weights.map { $0 / sum }
        }
        return (experts, weights.map { $0 * m.routedScalingFactor })
    }

    /// Indices of the `count` largest values, largest first, ties to the lower index.
    static func best(_ values: [Float], count: Int) -> [Int] {
        Array(values.indices.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }.prefix(count))
    }
}
