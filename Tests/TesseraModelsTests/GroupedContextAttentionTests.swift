import Foundation
import Testing
import TesseraTensor
import TesseraDistributed
@testable import TesseraModels

/// The grouped context part (one pass over a KV head's cache for every query row on it, the
/// context split across workers when units are few) against a naive per-query-head softmax
/// over the same cached values, in double.
@Suite("Grouped context attention")
struct GroupedContextAttentionTests {
    struct Case: CustomStringConvertible {
        var headsPerKV: Int
        var kvHeads: Int
        var headDim: Int
        var blockSize: Int
        var dtype: KVCacheDType
        var cp: Int
        var cpRank: Int
        var threads: Int
        /// (rows, global context length) per sequence.
        var sequences: [(rows: Int, context: Int)]

        var description: String {
            "group \(headsPerKV) x \(kvHeads) kv, hd \(headDim), block \(blockSize), \(dtype), cp \(cp)/\(cpRank), "
                + "\(threads) threads, sequences \(sequences)"
        }
    }

    @Test(arguments: [1, 3, 8, 16], KVCacheDType.allCases)
    func matchesPerHeadReference(headsPerKV: Int, dtype: KVCacheDType) throws {
        var seed: UInt64 = 7
        for headDim in [8, 20, 128] {
            for blockSize in [1, 7, 16, 100] {
                for (cp, cpRank) in [(1, 0), (2, 1)] {
                    for threads in [1, 2, 3] {
                        let sequences: [[(rows: Int, context: Int)]] = [
                            [(1, 173)],                       // one decode row: one unit, split across workers
                            [(2, 0), (1, 64), (3, 211)],      // an empty context beside longer ones
                        ]
                        for spans in sequences {
                            for kvHeads in headsPerKV >= 8 ? [1] : [1, 2] {
                                seed += 1
                                try check(Case(headsPerKV: headsPerKV, kvHeads: kvHeads, headDim: headDim,
                                               blockSize: blockSize, dtype: dtype, cp: cp, cpRank: cpRank,
                                               threads: threads, sequences: spans), seed: seed)
                            }
                        }
                    }
                }
            }
        }
    }

    @Test func fewUnitsSplitTheirContextAcrossWorkers() {
        #expect(Attention.contextChunks(units: 1, threads: 2) == 2)
        #expect(Attention.contextChunks(units: 3, threads: 2) == 2)
        #expect(Attention.contextChunks(units: 2, threads: 2) == 1)
        #expect(Attention.contextChunks(units: 5, threads: 1) == 1)
        #expect(Attention.contextChunks(units: 64, threads: 2) == 1)
        // Chunks tile the context exactly, cut at block boundaries.
        for context in [0, 1, 15, 16, 17, 1000] {
            for count in [1, 2, 3, 4] {
                let ranges = (0..<count).map { Attention.chunk($0, of: count, context: context, blockSize: 16) }
                #expect(ranges.first?.lowerBound == 0)
                #expect(ranges.last?.upperBound == context)
                for (a, b) in zip(ranges, ranges.dropFirst()) {
                    #expect(a.upperBound == b.lowerBound)
                    #expect(a.upperBound % 16 == 0 || a.upperBound == context)
                }
            }
        }
    }

    func check(_ c: Case, seed: UInt64) throws {
        let numHeads = c.headsPerKV * c.kvHeads
        let hd = c.headDim
        let config = RandomWeights.config(heads: numHeads, kvHeads: c.kvHeads, headDim: hd)
        let placement = KVPlacement(cp: c.cp)
        var attention = Attention(numHeads: numHeads, numKVHeads: c.kvHeads, headDim: hd, placement: placement,
                                  cpRank: c.cpRank)
        attention.parallelThreshold = 0  // use every worker, so a lone unit's context is chunked

        // Token rows and local contexts; each sequence gets its own scattered physical blocks.
        var spans: [SequenceSpan] = []
        var row = 0
        var nextBlock = 0
        for s in c.sequences {
            let local = placement.localLength(of: s.context, rank: c.cpRank)
            let blocks = (local + c.blockSize - 1) / c.blockSize
            let table = (0..<blocks).map { nextBlock + (blocks - 1 - $0) }  // reversed: not the slot order
            nextBlock += blocks
            spans.append(SequenceSpan(tokenRange: row..<row + s.rows, contextLength: s.context, blockTable: table))
            row += s.rows
        }
        let rows = row
        let layer = 1
        let cache = PagedKVCache(config: config, numBlocks: max(nextBlock, 1), blockSize: c.blockSize, dtype: c.dtype,
                                 kvHeads: c.kvHeads)
        let width = c.kvHeads * hd
        var writeSeed = seed &* 1000
        for span in spans {
            let local = attention.localContext(of: span)
            for i in 0..<local {
                writeSeed += 2
                let slot = span.blockTable[i / c.blockSize] * c.blockSize + i % c.blockSize
                cache.write(layer: layer, slot: slot, key: AttentionTests.random(width, seed: writeSeed, scale: 1.5),
                            value: AttentionTests.random(width, seed: writeSeed + 1))
            }
        }

        // Group queries, rank-major [cp, rows, heads, headDim], as after the all-gather.
        let qFloats = rows * numHeads * hd
        let queries = AttentionTests.random(c.cp * qFloats, seed: seed, scale: 2)
        let lseFloats = rows * numHeads
        var outputs = [Float](repeating: .nan, count: c.cp * qFloats)
        var lses = [Float](repeating: .nan, count: c.cp * lseFloats)
        let scratch = AttentionScratch(
            rows: rows, numHeads: numHeads, headDim: hd, cpSize: c.cp, combine: .allGatherReduceScatter,
            maxSequenceRows: c.sequences.map(\.rows).max() ?? 0, pool: ThreadPool(threads: c.threads),
            dense: (0, 0))
        let qkv = [Float](repeating: 0, count: rows * attention.qkvWidth)
        qkv.withUnsafeBufferPointer { qkvBuffer in
            queries.withUnsafeBufferPointer { q in
                outputs.withUnsafeMutableBufferPointer { o in
                    lses.withUnsafeMutableBufferPointer { l in
                        let view = QueryView(base: q.baseAddress!, rankStride: qFloats, rowStride: numHeads * hd,
                                             headDim: hd)
                        let target = PartialTarget(outputs: o.baseAddress!, lses: l.baseAddress!,
                                                   outputChunkStride: qFloats, lseChunkStride: lseFloats,
                                                   numHeads: numHeads, headDim: hd)
                        let kernels = AttentionRowKernels(attention: attention, layer: layer, qkv: qkvBuffer.baseAddress!,
                                                          cache: cache)
                        attention.contextPart(layer: layer, view: view, sequences: spans, kernels: kernels, cache: cache,
                                              scratch: scratch, into: target)
                    }
                }
            }
        }

        // Reference: each query head alone over its KV head's cached values, read back per token.
        var worstOutput: Float = 0, worstLSE: Float = 0
        for span in spans {
            let local = attention.localContext(of: span)
            for kvHead in 0..<c.kvHeads {
                var keys: [[Float]] = [], values: [[Float]] = []
                for i in 0..<local {
                    let slot = span.blockTable[i / c.blockSize] * c.blockSize + i % c.blockSize
                    var k = [Float](repeating: 0, count: hd), v = [Float](repeating: 0, count: hd)
                    cache.read(layer: layer, values: false, kvHead: kvHead, firstSlot: slot, count: 1, into: &k)
                    cache.read(layer: layer, values: true, kvHead: kvHead, firstSlot: slot, count: 1, into: &v)
                    keys.append(k)
                    values.append(v)
                }
                for rank in 0..<c.cp {
                    for head in kvHead * c.headsPerKV..<(kvHead + 1) * c.headsPerKV {
                        for r in span.tokenRange {
                            let at = (rank * rows + r) * numHeads + head
                            let q = Array(queries[at * hd..<(at + 1) * hd])
                            let (expected, expectedLSE) = AttentionTests.direct(q: q, keys: keys, values: values)
                            let got = outputs[at * hd..<(at + 1) * hd]
                            if local == 0 {
                                #expect(lses[at] == -.infinity, "\(c): empty context must give LSE -inf")
                                #expect(got.allSatisfy { $0 == 0 }, "\(c): empty context must give output 0")
                                continue
                            }
                            if lses[at].isNaN || got.contains(where: \.isNaN) {
                                Issue.record("\(c): NaN (or unwritten) at rank \(rank) row \(r) head \(head)")
                                return
                            }
                            for (g, e) in zip(got, expected) {
                                worstOutput = max(worstOutput, abs(g - Float(e)) / (1 + Float(abs(e))))
                            }
                            worstLSE = max(worstLSE, abs(lses[at] - Float(expectedLSE)) / (1 + Float(abs(expectedLSE))))
                        }
                    }
                }
            }
        }
        #expect(worstOutput < 2e-5, "\(c): output off by \(worstOutput)")
        #expect(worstLSE < 2e-5, "\(c): LSE off by \(worstLSE)")
    }
}
