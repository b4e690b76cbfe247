import Foundation

extension YaRNScaling {
    /// The rotary inverse frequencies of `rotaryDim` dimensions under YaRN: each frequency is
    /// blended between the plain one (extrapolation, fast-turning dimensions) and the plain one
    /// divided by `factor` (interpolation, slow ones) by a linear ramp over the correction range
    /// that `betaFast` and `betaSlow` rotations over the original context give.
    /// Computed in f32 as transformers does; the cosines and sines are then scaled by
    /// ``rotaryScale``.
    package func inverseFrequencies(rotaryDim dim: Int, theta: Double) -> [Float] {
        func correctionDim(_ rotations: Double) -> Double {
            Double(dim) * Foundation.log(Double(originalMaxPositions) / (rotations * 2 * Double.pi))
                / (2 * Foundation.log(theta))
        }
        var low = correctionDim(betaFast), high = correctionDim(betaSlow)
        if truncate {
            low = low.rounded(.down)
            high = high.rounded(.up)
        }
        low = max(low, 0)
        high = min(high, Double(dim - 1))
        if low == high { high += 0.001 }
        let (lowF, highF) = (Float(low), Float(high))
        return (0..<dim / 2).map { i in
            let base = Float(pow(theta, Double(Float(2 * i) / Float(dim))))
            let extrapolated = 1 / base
            let interpolated = 1 / (Float(factor) * base)
            let ramp = min(max((Float(i) - lowF) / (highF - lowF), 0), 1)
            let keep = 1 - ramp
            return interpolated * (1 - keep) + extrapolated * keep
        }
    }
}
