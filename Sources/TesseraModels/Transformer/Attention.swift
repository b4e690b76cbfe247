import Dispatch
import Foundation
import TesseraDistributed
import TesseraTensor

/// One layer's attention for a whole batch on one rank: DESIGN.md's attention step, per
/// sequence and query head:
///
/// 1. query part: causal attention of the step's tokens over their own fresh f32 K/V, for the
///    rank's own query heads (every rank of a CP group has computed the K/V of its shared head);
/// 2. context part: the CP group's queries (all-gathered, rank-major) attend over this rank's
///    slice of the cached context, read block by block through the block table; then the
///    group combines the partials (`ContextCombine`) so each rank holds, for its own heads,
///    attention over the whole context with its LSE;
/// 3. `AttentionMerge` of the two parts by their LSEs;
/// 4. the new tokens' K/V written into the cache by the rank that owns them (`KVPlacement`).
///
/// A lone rank (cp = 1) runs the same steps: its queries are read in place and there is
/// nothing to combine. Collectives are per layer for the whole batch, never per sequence, and
/// are skipped (on every rank alike, since all see the same batch) when no sequence has context.
///
/// Sequences with few new rows (decode) run per row: the query part parallel over (sequence,
/// query head), the context part over (sequence, KV head[, chunk of the context]) with all the
/// query rows on one KV head in one pass over its cache; those with many (prefill chunks) go
/// through `DenseAttention`, the same steps with sgemm products.
/// Queries must already carry rotary and the `1/sqrt(headDim)` scale.
struct Attention {
    /// This rank's query heads and KV heads.
    let numHeads: Int
    let numKVHeads: Int
    let headDim: Int
    /// Who owns which cached token in the CP group, and which member this rank is.
    let placement: KVPlacement
    let cpRank: Int
    /// Sliding window (Mistral): a query at position `p` sees keys from `p - window + 1` on;
    /// nil: every earlier key.
    var window: Int?

    var cpSize: Int { placement.cp }
    var qDim: Int { numHeads * headDim }
    var kvDim: Int { numKVHeads * headDim }
    /// Row width of the fused projection output `[q | k | v]`.
    var qkvWidth: Int { qDim + 2 * kvDim }

    /// Below this many multiply-adds a phase runs on the calling thread: a decode step at a
    /// few hundred tokens of context takes tens of microseconds, less than waking workers (and
    /// OpenBLAS's own threads may still be spinning on the other cores).
    /// (Tests lower it to exercise the workers on small inputs.)
    var parallelThreshold = 1 << 20

    /// Sequences with at least this many new rows take the sgemm-based `DenseAttention` path
    /// (tests move it to exercise both paths on the same inputs).
    var denseThreshold = 32
    /// Query rows per dense product; bounds the score buffer at `denseRowChunk * keys` floats.
    var denseRowChunk = 256

    func isDense(_ span: SequenceSpan) -> Bool { span.tokenRange.count >= denseThreshold }

    /// Cached tokens of `span` this rank stores: its slice of the context.
    func localContext(of span: SequenceSpan) -> Int {
        placement.localLength(of: span.contextLength, rank: cpRank)
    }

    /// The first position a query at `position` sees (0 without a window).
    @inline(__always)
    func firstVisible(_ position: Int) -> Int {
        guard let window else { return 0 }
        return max(0, position - window + 1)
    }

    /// The first index of this rank's context slice that the query at `position` sees: local
    /// indices follow positions, so the visible ones are those past the tokens before
    /// `firstVisible(position)`.
    @inline(__always)
    func firstVisibleLocal(_ position: Int) -> Int {
        window == nil ? 0 : placement.localLength(of: firstVisible(position), rank: cpRank)
    }

    /// The first of the span's own new keys (index into its rows) that row `k` of the span
    /// (position `contextLength + k`) sees.
    @inline(__always)
    func firstVisibleNew(span: SequenceSpan, row k: Int) -> Int {
        max(0, firstVisible(span.contextLength + k) - span.contextLength)
    }

    /// The rank-local KV head that local query head `head` reads (grouped-query attention).
    @inline(__always)
    func kvHead(of head: Int) -> Int { head / (numHeads / numKVHeads) }

    /// `qkv` is `[rows, qkvWidth]`; writes `[rows, qDim]` to `out`.
    func run(
        layer: Int, qkv: UnsafePointer<Float>, rows: Int, sequences: [SequenceSpan], cache: PagedKVCache,
        scratch: AttentionScratch, cp: any Communicator, combine: CPCombine, into out: UnsafeMutablePointer<Float>
    ) throws {
        let perRow = sequences.filter { !isDense($0) && !$0.tokenRange.isEmpty }
        let dense = sequences.filter(isDense)
        let kernels = AttentionRowKernels(attention: self, layer: layer, qkv: qkv, cache: cache)
        let denseAttention = DenseAttention(attention: self)
        let qFloats = rows * qDim, lseFloats = rows * numHeads
        let partials = scratch.partials.pointer, lses = scratch.lses.pointer

        // 1. Query part, into part 0.
        let queryTarget = PartialTarget(outputs: partials, lses: lses, outputChunkStride: 0, lseChunkStride: 0,
                                        numHeads: numHeads, headDim: headDim)
        let queryWork = perRow.reduce(0) { $0 + $1.tokenRange.count * $1.tokenRange.count } * qDim
        forEach(perRow.count * numHeads, work: queryWork, scratch: scratch) { item, worker in
            kernels.queryPart(span: perRow[item / numHeads], head: item % numHeads, worker: worker, into: queryTarget)
        }
        for span in dense {
            denseAttention.queryPart(span: span, qkv: qkv, scratch: scratch, into: queryTarget)
        }

        // 2. Context part, into part 1.
        let contextTarget = PartialTarget(outputs: partials + qFloats, lses: lses + lseFloats, outputChunkStride: 0,
                                          lseChunkStride: 0, numHeads: numHeads, headDim: headDim)
        if !sequences.contains(where: { $0.contextLength > 0 }) {
            (lses + lseFloats).update(repeating: -.infinity, count: lseFloats)
        } else if cpSize == 1 {
            let view = QueryView(base: qkv, rankStride: 0, rowStride: qkvWidth, headDim: headDim)
            contextPart(layer: layer, view: view, sequences: sequences, kernels: kernels, cache: cache,
                        scratch: scratch, into: contextTarget)
        } else {
            let local = scratch.localQueries.pointer
            for row in 0..<rows {
                (local + row * qDim).update(from: qkv + row * qkvWidth, count: qDim)
            }
            try cp.allGather(UnsafeBufferPointer(start: local, count: qFloats),
                             into: UnsafeMutableBufferPointer(start: scratch.groupQueries.pointer, count: cpSize * qFloats))
            let view = QueryView(base: scratch.groupQueries.pointer, rankStride: qFloats, rowStride: qDim, headDim: headDim)
            let combiner = ContextCombine(numHeads: numHeads, headDim: headDim, rows: rows, cpSize: cpSize, cpRank: cpRank)
            let groupTarget = combiner.sendTarget(combine, scratch: scratch)
            contextPart(layer: layer, view: view, sequences: sequences, kernels: kernels, cache: cache,
                        scratch: scratch, into: groupTarget)
            try combiner.run(combine, cp: cp, scratch: scratch, into: contextTarget)
        }

        // 3. Merge the parts.
        AttentionMerge.merge(outputs: partials, partStride: qFloats, lses: lses, lseStride: lseFloats,
                             parts: 2, rows: lseFloats, dim: headDim, into: out)

        // 4. The owner of each new token stores its K/V, only now: nothing above read them from
        // the cache.
        for s in sequences {
            for (k, row) in s.tokenRange.enumerated() {
                let position = s.contextLength + k
                guard placement.owner(of: position) == cpRank else { continue }
                let slot = placement.slot(of: position, blockTable: s.blockTable, blockSize: cache.blockSize)
                let base = qkv + row * qkvWidth + qDim
                cache.write(layer: layer, slot: slot, key: base, value: base + kvDim)
            }
        }
    }

    /// Attention of the queries in `view` (every head of the CP group: `cpSize * numHeads`)
    /// over this rank's context slice of each sequence, into `target`.
    func contextPart(
        layer: Int, view: QueryView, sequences: [SequenceSpan], kernels: AttentionRowKernels, cache: PagedKVCache,
        scratch: AttentionScratch, into target: PartialTarget
    ) {
        // Units of the grouped kernel: a sequence's rows with the position of the first; with a
        // sliding window each row sees its own part of the context, so one unit per row (a
        // decode step is one row anyway).
        var perRow = sequences.filter { !isDense($0) && !$0.tokenRange.isEmpty }.map { (span: $0, position: $0.contextLength) }
        if window != nil {
            perRow = perRow.flatMap { unit in
                unit.span.tokenRange.enumerated().map { k, row in
                    (span: SequenceSpan(tokenRange: row..<row + 1, contextLength: unit.span.contextLength,
                                        blockTable: unit.span.blockTable),
                     position: unit.span.contextLength + k)
                }
            }
        }
        if !perRow.isEmpty {
            groupedContextPart(perRow, view: view, kernels: kernels, cache: cache, scratch: scratch, into: target)
        }
        let dense = DenseAttention(attention: self)
        for span in sequences where isDense(span) {
            dense.contextPart(span: span, layer: layer, view: view, cache: cache, scratch: scratch, into: target)
        }
    }

    /// The per-row sequences' context part, one unit per (sequence, KV head): each unit reads
    /// its KV head's cached tokens once for all the query rows on it. With fewer units than
    /// workers (one sequence with one KV head, say) each unit's context is split into chunks
    /// run by different workers and merged by their LSEs.
    private func groupedContextPart(
        _ perRow: [(span: SequenceSpan, position: Int)], view: QueryView, kernels: AttentionRowKernels, cache: PagedKVCache,
        scratch: AttentionScratch, into target: PartialTarget
    ) {
        let units = perRow.count * numKVHeads
        let maxRows = perRow.reduce(0) { max($0, $1.span.tokenRange.count) }
        let groupRows = cpSize * (numHeads / numKVHeads) * maxRows
        let blockSize = cache.blockSize
        let work = perRow.reduce(0) { $0 + $1.span.tokenRange.count * visibleContext($1).count } * cpSize * numHeads * headDim
        let threads = work < parallelThreshold ? 1 : scratch.workers.count
        let chunks = Self.contextChunks(units: units, threads: threads)
        for worker in scratch.workers {
            worker.reserve(groupRows: groupRows, headDim: headDim, tile: Self.contextTile)
        }
        if chunks > 1 { scratch.reserveChunkPartials(units * chunks * groupRows * (headDim + 1)) }
        let chunked = ChunkPartials(base: scratch.chunkPartials.pointer, groupRows: groupRows, headDim: headDim)

        forEach(units * chunks, work: work, scratch: scratch) { item, worker in
            let unit = item / chunks
            let span = perRow[unit / numKVHeads].span
            let visible = visibleContext(perRow[unit / numKVHeads])
            let part = Self.chunk(item % chunks, of: chunks, context: visible.count, blockSize: blockSize)
            let tokens = visible.lowerBound + part.lowerBound..<visible.lowerBound + part.upperBound
            kernels.groupedContextPart(span: span, kvHead: unit % numKVHeads, tokens: tokens, view: view, worker: worker,
                                       into: target, chunk: chunks > 1 ? (chunked, item) : nil)
        }
        guard chunks > 1 else { return }
        for unit in 0..<units {
            let group = GroupRows(attention: self, span: perRow[unit / numKVHeads].span, kvHead: unit % numKVHeads)
            let item = unit * chunks
            for g in 0..<group.count {
                let m = group.member(g)
                AttentionMerge.merge(
                    outputs: chunked.output(item: item, row: g), partStride: chunked.itemStride,
                    lses: chunked.lse(item: item, row: g), lseStride: chunked.itemStride, parts: chunks, rows: 1,
                    dim: headDim, into: target.output(rank: m.rank, row: m.row, head: m.head),
                    lseOut: target.lse(rank: m.rank, row: m.row, head: m.head))
            }
        }
    }

    /// The local context indices a grouped unit sees: all of this rank's slice, or with a
    /// window those the unit's (single) row at `position` sees.
    func visibleContext(_ unit: (span: SequenceSpan, position: Int)) -> Range<Int> {
        let context = localContext(of: unit.span)
        return min(firstVisibleLocal(unit.position), context)..<context
    }

    /// Keys per tile of the grouped context part: enough to amortise each row's softmax
    /// bookkeeping per tile, few enough that the tile's f32 keys and values stay in L1.
    static let contextTile = 64

    /// Chunks per unit of the grouped context part: 1 when there are enough units to keep
    /// `threads` workers busy, else enough that `units * chunks` is a multiple of `threads`.
    static func contextChunks(units: Int, threads: Int) -> Int {
        guard threads > 1, units < 4 * threads else { return 1 }
        var a = units, b = threads
        while b != 0 { (a, b) = (b, a % b) }
        return threads / a
    }

    /// Local context indices of chunk `index` of `count`: near-equal shares, cut at block
    /// boundaries where the context allows.
    static func chunk(_ index: Int, of count: Int, context: Int, blockSize: Int) -> Range<Int> {
        func boundary(_ i: Int) -> Int {
            i == count ? context : (context * i / count) / blockSize * blockSize
        }
        return boundary(index)..<boundary(index + 1)
    }

    /// Runs `body` for items `0..<count`, on the scratch's pool when `work` (multiply-adds) is
    /// worth waking its threads; items are claimed by whichever thread is free.
    private func forEach(
        _ count: Int, work: Int, scratch: AttentionScratch,
        _ body: @Sendable (Int, AttentionScratch.Worker) -> Void
    ) {
        let threads = work < parallelThreshold ? 1 : min(scratch.workers.count, count)
        if threads <= 1 {
            for item in 0..<count { body(item, scratch.workers[0]) }
        } else {
            scratch.pool.run(count) { item, worker in body(item, scratch.workers[worker]) }
        }
    }
}
