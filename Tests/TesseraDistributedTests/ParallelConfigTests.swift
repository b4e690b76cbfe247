import Testing
@testable import TesseraDistributed

@Suite struct ParallelConfigTests {
    private func error(
        tp: Int, cp: Int = 1, interleave: Int = 1, heads: Int, kvHeads: Int, blockSize: Int = 16
    ) -> String? {
        do {
            _ = try ParallelConfig(
                tp: tp, cp: cp, cpInterleave: interleave, numHeads: heads, numKVHeads: kvHeads, blockSize: blockSize)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func acceptsTheReferenceConfigurations() throws {
        let tp2 = try ParallelConfig(tp: 2, numHeads: 16, numKVHeads: 1, blockSize: 16)
        #expect((tp2.tp, tp2.cp, tp2.cpInterleave, tp2.numHeads, tp2.numKVHeads) == (2, 1, 1, 16, 1))
        let cp2 = try ParallelConfig(tp: 2, cp: 2, cpInterleave: 4, numHeads: 16, numKVHeads: 1, blockSize: 16)
        #expect((cp2.cp, cp2.cpInterleave, cp2.blockSize) == (2, 4, 16))
        #expect(cp2.description == "tp=2 cp=2 cp_interleave=4 (16 query heads, 1 KV heads, block_size=16)")
    }

    @Test func messagesNameTheValues() {
        #expect(error(tp: 4, cp: 3, heads: 8, kvHeads: 2) == "tp=4 must be divisible by cp=3")
        #expect(error(tp: 4, cp: 4, heads: 8, kvHeads: 2)
            == "cp=4 exceeds tp/num_kv_heads = 2 for this model (8 query heads, 2 KV heads)")
        #expect(error(tp: 2, heads: 9, kvHeads: 3) == "num_attention_heads=9 must be divisible by tp=2")
        #expect(error(tp: 3, heads: 6, kvHeads: 2) == "tp=3 and num_kv_heads=2: one must divide the other")
        #expect(error(tp: 2, cp: 2, interleave: 3, heads: 16, kvHeads: 1) == "cp_interleave=3 must divide block_size=16")
        #expect(error(tp: 0, heads: 8, kvHeads: 2) == "tp=0 must be >= 1")
        #expect(error(tp: 2, cp: 0, heads: 8, kvHeads: 2) == "cp=0 must be >= 1")
        #expect(error(tp: 2, cp: -1, heads: 8, kvHeads: 2) == "cp=-1 must be >= 1")
        #expect(error(tp: 2, interleave: 0, heads: 8, kvHeads: 2) == "cp_interleave=0 must be >= 1")
        #expect(error(tp: 2, heads: 8, kvHeads: 2, blockSize: 0) == "block_size=0 must be >= 1")
        #expect(error(tp: 2, heads: 8, kvHeads: 0) == "num_kv_heads=0 must be >= 1")
    }

    /// `cp <= tp/num_kv_heads` alone would let a CP group straddle two KV heads.
    @Test func cpMustDivideTheDuplicationFactor() {
        #expect(error(tp: 6, cp: 2, heads: 12, kvHeads: 2)
            == "cp=2 must divide tp/num_kv_heads = 3 so that each CP group holds one KV head (12 query heads, 2 KV heads, tp=6)")
        #expect(error(tp: 6, cp: 3, heads: 12, kvHeads: 2) == nil)
    }

    @Test func splitKVHeadsAllowNoContextParallelism() {
        #expect(error(tp: 2, cp: 2, heads: 16, kvHeads: 8)
            == "cp=2 needs duplicated KV heads, but tp=2 < num_kv_heads=8 splits them (only cp=1 is possible) for this model (16 query heads, 8 KV heads)")
        #expect(error(tp: 2, cp: 1, heads: 16, kvHeads: 8) == nil)
        // tp == num_kv_heads: one head per rank, nothing duplicated.
        #expect(error(tp: 8, cp: 2, heads: 16, kvHeads: 8) == "cp=2 exceeds tp/num_kv_heads = 1 for this model (16 query heads, 8 KV heads)")
    }

    /// Brute force: a configuration is accepted exactly when the heads divide and every CP
    /// group (consecutive ranks) holds one set of KV heads under the assignment of DESIGN.md,
    /// written out here independently of `RankGrid`.
    @Test func acceptsExactlyTheConfigurationsWithHomogeneousCPGroups() {
        func kvHeads(rank: Int, tp: Int, kv: Int) -> [Int] {
            tp <= kv ? Array(rank * (kv / tp)..<(rank + 1) * (kv / tp)) : [rank / (tp / kv)]
        }
        var accepted = 0
        for kv in [1, 2, 3, 4, 8] {
            for heads in [kv, 2 * kv, 4 * kv, 6 * kv] {
                for tp in 1...16 {
                    for cp in 1...16 {
                        let shapeOK = heads % tp == 0 && (kv % tp == 0 || tp % kv == 0) && tp % cp == 0
                        let homogeneous = shapeOK && (0..<tp).allSatisfy { r in
                            kvHeads(rank: r, tp: tp, kv: kv) == kvHeads(rank: r - r % cp, tp: tp, kv: kv)
                        }
                        let valid = error(tp: tp, cp: cp, heads: heads, kvHeads: kv) == nil
                        #expect(valid == homogeneous, "tp=\(tp) cp=\(cp) heads=\(heads) kv=\(kv)")
                        if valid { accepted += 1 }
                    }
                }
            }
        }
        #expect(accepted > 50)
    }
}
