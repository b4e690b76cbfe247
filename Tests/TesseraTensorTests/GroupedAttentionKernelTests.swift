import Foundation
import Testing
@testable import TesseraTensor

/// The grouped attention tile kernels against naive loops in double, over the shapes that take
/// each of their code paths: odd row and key counts (the single-row and single-key tails),
/// head sizes with 16-, 8- and 1-column remainders, keys spaced wider than a head.
@Suite("Grouped attention kernels")
struct GroupedAttentionKernelTests {
    static let headDims = [1, 7, 8, 16, 20, 24, 36, 128]

    @Test(arguments: headDims)
    func scoresAndAccumulateMatchNaiveLoops(headDim hd: Int) {
        var seed: UInt64 = UInt64(hd) * 100
        for rows in 1...5 {
            for count in [1, 2, 3, 9, 64] {
                for stride in [hd, hd + 3] {
                    seed += 1
                    let q = KernelTests.random(rows * hd, seed: seed)
                    let keys = KernelTests.random(count * stride, seed: seed + 1000)
                    let scoreStride = count + 2
                    var scores = [Float](repeating: .nan, count: rows * scoreStride)
                    q.withUnsafeBufferPointer { qb in
                        keys.withUnsafeBufferPointer { kb in
                            scores.withUnsafeMutableBufferPointer { sb in
                                GroupedAttentionKernels.computeScores(
                                    queries: qb.baseAddress!, rows: rows, headDim: hd, keys: kb.baseAddress!,
                                    stride: stride, count: count, into: sb.baseAddress!, scoreStride: scoreStride)
                            }
                        }
                    }
                    var worst: Double = 0
                    for r in 0..<rows {
                        for t in 0..<count {
                            var expected = 0.0
                            for d in 0..<hd { expected += Double(q[r * hd + d]) * Double(keys[t * stride + d]) }
                            let got = Double(scores[r * scoreStride + t])
                            worst = got.isNaN ? .infinity : max(worst, abs(got - expected))
                        }
                    }
                    #expect(worst < 1e-4, "scores: rows \(rows), count \(count), hd \(hd), stride \(stride): off by \(worst)")

                    let weights = KernelTests.random(rows * scoreStride, seed: seed + 2000)
                    let values = KernelTests.random(count * stride, seed: seed + 3000)
                    let start = KernelTests.random(rows * hd, seed: seed + 4000)
                    var out = start
                    weights.withUnsafeBufferPointer { wb in
                        values.withUnsafeBufferPointer { vb in
                            out.withUnsafeMutableBufferPointer { ob in
                                GroupedAttentionKernels.accumulate(
                                    weights: wb.baseAddress!, weightStride: scoreStride, rows: rows,
                                    values: vb.baseAddress!, stride: stride, count: count, headDim: hd,
                                    into: ob.baseAddress!)
                            }
                        }
                    }
                    worst = 0
                    for r in 0..<rows {
                        for d in 0..<hd {
                            var expected = Double(start[r * hd + d])
                            for t in 0..<count {
                                expected += Double(weights[r * scoreStride + t]) * Double(values[t * stride + d])
                            }
                            worst = max(worst, abs(Double(out[r * hd + d]) - expected))
                        }
                    }
                    #expect(worst < 1e-4, "accumulate: rows \(rows), count \(count), hd \(hd), stride \(stride): off by \(worst)")
                }
            }
        }
    }

    /// Tiles fed one after another through `attendTile` give the softmax attention over all
    /// their keys once normalised by the running sum, with LSE `max + log(sum)`.
    @Test(arguments: [(3, 20, [5, 64, 1]), (16, 128, [64, 64, 7]), (1, 8, [2])])
    func tilesGiveSoftmaxOverAllKeys(rows: Int, headDim hd: Int, tiles: [Int]) {
        let total = tiles.reduce(0, +)
        let q = KernelTests.random(rows * hd, seed: 11, scale: 3)
        let keys = KernelTests.random(total * hd, seed: 12)
        let values = KernelTests.random(total * hd, seed: 13)
        let tile = tiles.max()!
        var scores = [Float](repeating: 0, count: rows * tile)
        var runningMax = [Float](repeating: -.infinity, count: rows)
        var runningSum = [Float](repeating: 0, count: rows)
        var out = [Float](repeating: 0, count: rows * hd)
        var first = 0
        for count in tiles {
            q.withUnsafeBufferPointer { qb in
                keys.withUnsafeBufferPointer { kb in
                    values.withUnsafeBufferPointer { vb in
                        GroupedAttentionKernels.attendTile(
                            queries: qb.baseAddress!, rows: rows, headDim: hd, keys: kb.baseAddress! + first * hd,
                            values: vb.baseAddress! + first * hd, stride: hd, count: count, scores: &scores,
                            scoreStride: tile, runningMax: &runningMax, runningSum: &runningSum, out: &out)
                    }
                }
            }
            first += count
        }
        for r in 0..<rows {
            let s = (0..<total).map { t in (0..<hd).reduce(0.0) { $0 + Double(q[r * hd + $1]) * Double(keys[t * hd + $1]) } }
            let m = s.max()!
            let sum = s.reduce(0.0) { $0 + Foundation.exp($1 - m) }
            let lse = Double(runningMax[r]) + Foundation.log(Double(runningSum[r]))
            #expect(abs(lse - (m + Foundation.log(sum))) < 1e-4, "row \(r): LSE \(lse) vs \(m + Foundation.log(sum))")
            for d in 0..<hd {
                var expected = 0.0
                for t in 0..<total { expected += Foundation.exp(s[t] - m) / sum * Double(values[t * hd + d]) }
                let got = Double(out[r * hd + d] / runningSum[r])
                #expect(abs(got - expected) < 1e-5, "row \(r) column \(d): \(got) vs \(expected)")
            }
        }
    }
}
