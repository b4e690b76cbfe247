/// Deterministic pseudo-random test data (xorshift), the same on every platform and run.
public enum TestRandom {
    /// `count` floats in [-scale, scale).
    public static func floats(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return (Float(state >> 40) / Float(1 << 24) * 2 - 1) * scale
        }
    }
}
