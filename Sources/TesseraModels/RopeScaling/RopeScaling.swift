import Foundation
import TesseraTensor

/// Rotary scaling that changes only the inverse frequencies (YaRN, which also scales the
/// cosines and sines, is ``ModelConfig/yarn``).
public enum RopeScaling: Sendable, Equatable {
    /// `rope_type: linear`: every inverse frequency divided by `factor` (positions interpolated).
    case linear(factor: Double)
    /// `rope_type: llama3` (Llama 3.1+): frequencies turning fewer than `lowFrequencyFactor`
    /// times over the original context are divided by `factor`, those turning more than
    /// `highFrequencyFactor` times are kept, and the band between is blended smoothly.
    case llama3(Llama3RopeScaling)
    /// One divisor per frequency, as llama.cpp stores Llama 3 scaling in GGUF files
    /// (`rope_freqs.weight`, `rotaryDim / 2` values).
    case frequencyDivisors([Float])
}

/// The parameters of Llama 3.1's rotary scaling (transformers' `_compute_llama3_parameters`).
public struct Llama3RopeScaling: Sendable, Equatable {
    public var factor: Double
    public var lowFrequencyFactor: Double
    public var highFrequencyFactor: Double
    public var originalMaxPositions: Int

    public init(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalMaxPositions: Int) {
        self.factor = factor
        self.lowFrequencyFactor = lowFrequencyFactor
        self.highFrequencyFactor = highFrequencyFactor
        self.originalMaxPositions = originalMaxPositions
    }

    /// Scales plain inverse frequencies in f32, operation by operation as torch evaluates
    /// transformers' expressions (a Python scalar meets an f32 tensor as an f32 value;
    /// `scalar / tensor` is `reciprocal(tensor) * scalar`).
    func scale(_ plain: [Float]) -> [Float] {
        let factor = Float(self.factor), low = Float(lowFrequencyFactor), high = Float(highFrequencyFactor)
        let old = Float(originalMaxPositions)
        let lowWavelength = Float(Double(originalMaxPositions) / lowFrequencyFactor)
        let highWavelength = Float(Double(originalMaxPositions) / highFrequencyFactor)
        let twoPi = Float(2 * Double.pi)
        let band = Float(highFrequencyFactor - lowFrequencyFactor)
        return plain.map { frequency in
            let wavelength = (1 / frequency) * twoPi
            if wavelength < highWavelength { return frequency }
            if wavelength > lowWavelength { return frequency / factor }
            let smooth = ((1 / wavelength) * old - low) / band
            return (1 - smooth) * frequency / factor + smooth * frequency
        }
    }
}

extension ModelConfig {
    /// The inverse frequencies of rotary embeddings over ``rotaryDim`` dimensions: plain
    /// `theta^(-2i/d)`, then YaRN (``yarn``) or ``ropeScaling``.
    package var rotaryInverseFrequencies: [Float] {
        if let yarn { return yarn.inverseFrequencies(rotaryDim: rotaryDim, theta: ropeTheta) }
        let plain = Rotary.inverseFrequencies(headDim: rotaryDim, theta: ropeTheta)
        switch ropeScaling {
        case nil: return plain
        case .linear(let factor)?:
            let f = Float(factor)
            return plain.map { $0 / f }
        case .llama3(let llama3)?:
            return llama3.scale(plain)
        case .frequencyDivisors(let divisors)?:
            return zip(plain, divisors).map { $0 / $1 }
        }
    }

    /// Checks the rope scaling parameters; errors name `field` (the key the file spells).
    func validateRopeScaling(file: String, field: String) throws {
        func fail(_ value: Any, _ reason: String) -> ModelFileError {
            .invalidConfig(file: file, field: field, value: "\(value)", reason: reason)
        }
        switch ropeScaling {
        case nil: break
        case .linear(let factor)?:
            guard factor.isFinite, factor > 0 else { throw fail(factor, "the linear factor must be a positive number") }
        case .llama3(let s)?:
            guard s.factor.isFinite, s.factor > 0 else { throw fail(s.factor, "factor must be a positive number") }
            guard s.originalMaxPositions > 0 else { throw fail(s.originalMaxPositions, "original_max_position_embeddings must be positive") }
            guard s.lowFrequencyFactor > 0, s.highFrequencyFactor > s.lowFrequencyFactor else {
                throw fail("low_freq_factor \(s.lowFrequencyFactor), high_freq_factor \(s.highFrequencyFactor)",
                           "needs 0 < low_freq_factor < high_freq_factor")
            }
        case .frequencyDivisors(let divisors)?:
            guard divisors.count == rotaryDim / 2 else {
                throw fail("\(divisors.count) values", "expected one per rotary frequency (\(rotaryDim / 2))")
            }
            if let bad = divisors.first(where: { !($0.isFinite && $0 > 0) }) {
                throw fail(bad, "every divisor must be a positive number")
            }
        }
        if let y = yarn {
            guard y.factor.isFinite, y.factor > 0, y.originalMaxPositions > 0 else {
                throw fail("factor \(y.factor), original_max_position_embeddings \(y.originalMaxPositions)",
                           "yarn needs a positive factor and original length")
            }
        }
    }
}
