/// Chained 64-bit hash of a full logical block: a function of the parent block's hash and
/// this block's tokens, so equal hashes mean (barring collisions) equal whole prefixes.
///
/// Stable across processes and runs (Swift's `Hasher` is seeded per process). Collisions are
/// harmless: the block manager also compares the parent hash and the tokens on every hit.
enum BlockHash {
    /// Hash of the chain's root (no parent).
    static let root: UInt64 = 0x6A09_E667_F3BC_C908

    static func hash(parent: UInt64, tokens: ArraySlice<Int>) -> UInt64 {
        var h = mix(parent ^ 0x9E37_79B9_7F4A_7C15 ^ UInt64(truncatingIfNeeded: tokens.count))
        for token in tokens {
            h = mix(h ^ UInt64(bitPattern: Int64(token)) &* 0xC2B2_AE3D_27D4_EB4F)
        }
        return h
    }

    /// SplitMix64's finaliser: every input bit affects every output bit.
    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The parent of block `index` in a chain whose hashes are `hashes`.
    static func parent(of index: Int, in hashes: [UInt64]) -> UInt64 {
        index == 0 ? root : hashes[index - 1]
    }

    /// The tokens of logical block `index`.
    static func tokens(ofBlock index: Int, in tokens: [Int], tokensPerBlock: Int) -> ArraySlice<Int> {
        tokens[(index * tokensPerBlock)..<((index + 1) * tokensPerBlock)]
    }

    /// Appends to `hashes`, which holds the hashes of the first `hashes.count` full blocks of
    /// `tokens`, those of the full blocks after them (tokens only grow, so earlier hashes stay).
    static func extend(_ hashes: inout [UInt64], tokens: [Int], tokensPerBlock: Int) {
        let full = tokens.count / tokensPerBlock
        while hashes.count < full {
            let i = hashes.count
            hashes.append(hash(parent: parent(of: i, in: hashes), tokens: Self.tokens(ofBlock: i, in: tokens, tokensPerBlock: tokensPerBlock)))
        }
    }
}
