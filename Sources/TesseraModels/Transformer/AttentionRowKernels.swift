import Foundation
import TesseraTensor

/// The per-row attention for sequences with few new rows (decode steps, short chunks): the
/// query part per (sequence, query head), the context part per (sequence, KV head, chunk of
/// the context). Items write disjoint slices of their targets, so worker threads share this
/// value race-free.
struct AttentionRowKernels: @unchecked Sendable {
    let attention: Attention
    let layer: Int
    let qkv: UnsafePointer<Float>
    let cache: PagedKVCache

    /// Causal attention of the span's rows over the span's own keys, straight from `qkv`, for
    /// this rank's query head `head`.
    func queryPart(span: SequenceSpan, head: Int, worker: AttentionScratch.Worker, into target: PartialTarget) {
        let a = attention
        let hd = a.headDim
        let keyBase = qkv + a.qDim + a.kvHead(of: head) * hd
        let valueBase = keyBase + a.kvDim
        let first = span.tokenRange.lowerBound
        let scores = worker.scores.pointer
        for row in span.tokenRange {
            let q = qkv + row * a.qkvWidth + head * hd
            // New keys first + start ... row: all of them, or those inside the window.
            let start = first + a.firstVisibleNew(span: span, row: row - first)
            let visible = row - start + 1
            _ = AttentionKernels.scores(query: q, keys: keyBase + start * a.qkvWidth, stride: a.qkvWidth,
                                        count: visible, headDim: hd, into: scores)
            let lse = Softmax.inPlace(scores, count: visible)
            let o = target.output(rank: 0, row: row, head: head)
            o.update(repeating: 0, count: hd)
            AttentionKernels.accumulate(weights: scores, values: valueBase + start * a.qkvWidth, stride: a.qkvWidth,
                                        count: visible, headDim: hd, into: o)
            target.lse(rank: 0, row: row, head: head).pointee = lse
        }
    }

    /// The grouped context part of one unit: every query row that reads KV head `kvHead` of
    /// `span` (each row of the span, for each of the CP group's query heads on that KV head)
    /// attends over local context indices `tokens` of this rank's slice, stored densely
    /// through the block table. Each tile of keys and values (`contextTile` tokens, gathered
    /// across blocks) is read, and widened from f16/bf16, once for the whole group; an online
    /// softmax (running max and sum per row) carries the rows across tiles.
    ///
    /// Writes, per group row, the normalised output and its LSE to `target`, or to `chunk`'s
    /// slot `item` when the context is split across workers; an empty range gives output 0
    /// and LSE -inf.
    func groupedContextPart(
        span: SequenceSpan, kvHead: Int, tokens: Range<Int>, view: QueryView, worker: AttentionScratch.Worker,
        into target: PartialTarget, chunk: (partials: ChunkPartials, item: Int)?
    ) {
        let a = attention
        let hd = a.headDim
        let group = GroupRows(attention: a, span: span, kvHead: kvHead)
        let rows = group.count
        let queries = worker.groupQueries.pointer
        let out = worker.groupOutputs.pointer
        let runningMax = worker.runningMax.pointer
        let runningSum = worker.runningSum.pointer
        for g in 0..<rows {
            let m = group.member(g)
            (queries + g * hd).update(from: view.query(rank: m.rank, row: m.row, head: m.head), count: hd)
        }
        out.update(repeating: 0, count: rows * hd)
        runningMax.update(repeating: -.infinity, count: rows)
        runningSum.update(repeating: 0, count: rows)

        let tile = Attention.contextTile
        let keys = worker.tileKeys.pointer, values = worker.tileValues.pointer
        var start = tokens.lowerBound
        while start < tokens.upperBound {
            // Gather (and widen) up to `tile` tokens into buffers that stay in L1 while every
            // row uses them.
            let count = min(tile, tokens.upperBound - start)
            cache.gather(layer: layer, kvHead: kvHead, blockTable: span.blockTable, tokens: start..<start + count,
                         keys: keys, values: values)
            GroupedAttentionKernels.attendTile(
                queries: queries, rows: rows, headDim: hd, keys: keys, values: values, stride: hd, count: count,
                scores: worker.groupScores.pointer, scoreStride: tile, runningMax: runningMax, runningSum: runningSum,
                out: out)
            start += count
        }

        for g in 0..<rows {
            let o: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>
            if let chunk {
                o = chunk.partials.output(item: chunk.item, row: g)
                lse = chunk.partials.lse(item: chunk.item, row: g)
            } else {
                let m = group.member(g)
                o = target.output(rank: m.rank, row: m.row, head: m.head)
                lse = target.lse(rank: m.rank, row: m.row, head: m.head)
            }
            let sum = runningSum[g]
            if sum > 0 {
                let scale = 1 / sum
                let src = out + g * hd
                for i in 0..<hd { o[i] = src[i] * scale }
                lse.pointee = runningMax[g] + logf(sum)
            } else {
                o.update(repeating: 0, count: hd)
                lse.pointee = -.infinity
            }
        }
    }
}

/// The query rows that read one KV head of a sequence in the grouped context part: for each
/// CP rank `c` of the group, each of its local query heads on that KV head, each row of the
/// span, in that order.
struct GroupRows {
    let first: Int
    let rowsPerHead: Int
    let headsPerKV: Int
    let firstHead: Int
    let count: Int

    init(attention a: Attention, span: SequenceSpan, kvHead: Int) {
        first = span.tokenRange.lowerBound
        rowsPerHead = span.tokenRange.count
        headsPerKV = a.numHeads / a.numKVHeads
        firstHead = kvHead * headsPerKV
        count = a.cpSize * headsPerKV * rowsPerHead
    }

    /// CP rank, local query head and batch row of group row `g`.
    @inline(__always)
    func member(_ g: Int) -> (rank: Int, head: Int, row: Int) {
        let perRank = headsPerKV * rowsPerHead
        let rest = g % perRank
        return (g / perRank, firstHead + rest / rowsPerHead, first + rest % rowsPerHead)
    }
}

/// Partial results of units whose context is split into chunks run by different workers:
/// item `i` (unit `i / chunks`, chunk `i % chunks`) holds `groupRows` outputs of `headDim`
/// floats, then their `groupRows` LSEs; `AttentionMerge` combines a unit's chunks.
struct ChunkPartials: @unchecked Sendable {
    let base: UnsafeMutablePointer<Float>
    let groupRows: Int
    let headDim: Int

    /// Floats from one item to the next.
    var itemStride: Int { groupRows * (headDim + 1) }

    @inline(__always)
    func output(item: Int, row g: Int) -> UnsafeMutablePointer<Float> {
        base + item * itemStride + g * headDim
    }

    @inline(__always)
    func lse(item: Int, row g: Int) -> UnsafeMutablePointer<Float> {
        base + item * itemStride + groupRows * headDim + g
    }
}
