import Dispatch
import Foundation
import TesseraTensor

/// One layer's attention for a whole batch, structured as DESIGN.md's attention step with
/// cp = 1, per sequence and query head:
///
/// 1. query part: causal attention of the step's tokens over their own fresh f32 K/V;
/// 2. context part: attention over the `contextLength` cached tokens, read block by block
///    through the block table (online softmax, so no score matrix over the whole context);
/// 3. `AttentionMerge` of the two partials by their LSEs;
/// 4. the step's K/V written into the cache.
///
/// Sequences with few new rows (decode) run per row, parallel over (sequence, head); those with
/// many (prefill chunks) go through `DenseAttention`, the same step with sgemm products.
/// Queries must already carry rotary and the `1/sqrt(headDim)` scale.
struct Attention {
    let numHeads: Int
    let numKVHeads: Int
    let headDim: Int

    var qDim: Int { numHeads * headDim }
    var kvDim: Int { numKVHeads * headDim }
    /// Row width of the fused projection output `[q | k | v]`.
    var qkvWidth: Int { qDim + 2 * kvDim }

    /// Below this many multiply-adds a step's attention runs on the calling thread: a decode
    /// step at a few hundred tokens of context takes tens of microseconds, less than waking
    /// workers (and OpenBLAS's own threads may still be spinning on the other cores).
    static let parallelThreshold = 1 << 20

    /// Sequences with at least this many new rows take the sgemm-based `DenseAttention` path
    /// (tests move it to exercise both paths on the same inputs).
    var denseThreshold = 32
    /// Query rows per dense product; bounds the score buffer at `denseRowChunk * keys` floats.
    var denseRowChunk = 256

    /// The sequences `run` sends to `DenseAttention`.
    func denseSpans(_ sequences: [SequenceSpan]) -> [SequenceSpan] {
        sequences.filter { $0.tokenRange.count >= denseThreshold }
    }

    /// `qkv` is `[rows, qkvWidth]`; writes `[rows, qDim]` to `out`.
    func run(
        layer: Int, qkv: UnsafePointer<Float>, rows: Int, sequences: [SequenceSpan],
        cache: PagedKVCache, scratch: AttentionScratch, into out: UnsafeMutablePointer<Float>
    ) {
        // Few-row sequences (decode tokens, short chunks): per-row kernels, parallel over
        // (sequence, head) items.
        let perRow = sequences.filter { $0.tokenRange.count < denseThreshold }
        let items = perRow.count * numHeads
        var work = 0
        for s in perRow {
            work += s.tokenRange.count * (s.contextLength + s.tokenRange.count)
        }
        work *= numHeads * headDim
        let threads = work < Self.parallelThreshold ? 1 : min(scratch.workers.count, items)
        let job = Job(attention: self, layer: layer, qkv: qkv, rows: rows, sequences: perRow,
                      cache: cache, scratch: scratch, out: out)
        if threads <= 1 {
            for item in 0..<items { job.run(item: item, worker: scratch.workers[0]) }
        } else {
            DispatchQueue.concurrentPerform(iterations: threads) { w in
                for item in stride(from: w, to: items, by: threads) {
                    job.run(item: item, worker: scratch.workers[w])
                }
            }
        }
        let dense = DenseAttention(attention: self)
        for span in denseSpans(sequences) {
            dense.run(span: span, layer: layer, qkv: qkv, rows: rows, cache: cache, scratch: scratch, into: out)
        }
        // 4. The new tokens' K/V go to their slots only now: nothing above read them from the cache.
        for s in sequences {
            for (k, row) in s.tokenRange.enumerated() {
                let slot = cache.slot(position: s.contextLength + k, blockTable: s.blockTable)
                let base = qkv + row * qkvWidth + qDim
                cache.write(layer: layer, slot: slot, key: base, value: base + kvDim)
            }
        }
    }
}

/// The pointers one attention call shares with its worker threads. Items write disjoint
/// (row, head) slices of the outputs, so sharing them is race-free.
private struct Job: @unchecked Sendable {
    let attention: Attention
    let layer: Int
    let qkv: UnsafePointer<Float>
    let rows: Int
    let sequences: [SequenceSpan]
    let cache: PagedKVCache
    let scratch: AttentionScratch
    let out: UnsafeMutablePointer<Float>

    /// Item `sequence * numHeads + head`.
    func run(item: Int, worker: AttentionScratch.Worker) {
        let head = item % attention.numHeads
        let span = sequences[item / attention.numHeads]
        guard !span.tokenRange.isEmpty else { return }
        let hd = attention.headDim
        let numHeads = attention.numHeads
        let partialStride = rows * attention.qDim
        let lseStride = rows * numHeads
        queryPart(span: span, head: head, worker: worker)
        contextPart(span: span, head: head, worker: worker)
        for row in span.tokenRange {
            let r = row * numHeads + head
            AttentionMerge.merge(
                outputs: scratch.partials.pointer + r * hd, partStride: partialStride,
                lses: scratch.lses.pointer + r, lseStride: lseStride,
                parts: 2, rows: 1, dim: hd, into: out + r * hd)
        }
    }

    /// Causal attention of the span's rows over the span's own keys, straight from `qkv`.
    private func queryPart(span: SequenceSpan, head: Int, worker: AttentionScratch.Worker) {
        let a = attention
        let hd = a.headDim
        let kvHead = head / (a.numHeads / a.numKVHeads)
        let keyBase = qkv + a.qDim + kvHead * hd
        let valueBase = keyBase + a.kvDim
        let first = span.tokenRange.lowerBound
        let scores = worker.scores.pointer
        for row in span.tokenRange {
            let q = qkv + row * a.qkvWidth + head * hd
            let visible = row - first + 1
            _ = AttentionKernels.scores(query: q, keys: keyBase + first * a.qkvWidth, stride: a.qkvWidth,
                                        count: visible, headDim: hd, into: scores)
            let lse = Softmax.inPlace(scores, count: visible)
            let o = scratch.partials.pointer + (row * a.numHeads + head) * hd
            o.update(repeating: 0, count: hd)
            AttentionKernels.accumulate(weights: scores, values: valueBase + first * a.qkvWidth, stride: a.qkvWidth,
                                        count: visible, headDim: hd, into: o)
            scratch.lses.pointer[row * a.numHeads + head] = lse
        }
    }

    /// Attention of the span's rows over its cached context, one block at a time with an
    /// online softmax (running max and sum per row, output rescaled when the max grows).
    private func contextPart(span: SequenceSpan, head: Int, worker: AttentionScratch.Worker) {
        let a = attention
        let hd = a.headDim
        let kvHead = head / (a.numHeads / a.numKVHeads)
        let first = span.tokenRange.lowerBound
        let n = span.tokenRange.count
        let outputs = scratch.partials.pointer + rows * a.qDim
        let lses = scratch.lses.pointer + rows * a.numHeads
        let runningMax = worker.runningMax.pointer
        let runningSum = worker.runningSum.pointer
        let scores = worker.scores.pointer
        for k in 0..<n {
            (outputs + ((first + k) * a.numHeads + head) * hd).update(repeating: 0, count: hd)
            runningMax[k] = -.infinity
            runningSum[k] = 0
        }
        let context = span.contextLength
        let blockSize = cache.blockSize
        let floatKeys = cache.floats(layer: layer, values: false)
        let floatValues = cache.floats(layer: layer, values: true)
        var start = 0
        while start < context {
            let count = min(blockSize, context - start)
            let firstSlot = span.blockTable[start / blockSize] * blockSize
            let keys: UnsafePointer<Float>, values: UnsafePointer<Float>, stride: Int
            if let fk = floatKeys, let fv = floatValues {
                keys = fk + firstSlot * a.kvDim + kvHead * hd
                values = fv + firstSlot * a.kvDim + kvHead * hd
                stride = a.kvDim
            } else {
                cache.read(layer: layer, values: false, kvHead: kvHead, firstSlot: firstSlot, count: count,
                           into: worker.keys.pointer)
                cache.read(layer: layer, values: true, kvHead: kvHead, firstSlot: firstSlot, count: count,
                           into: worker.values.pointer)
                keys = UnsafePointer(worker.keys.pointer)
                values = UnsafePointer(worker.values.pointer)
                stride = hd
            }
            for k in 0..<n {
                let row = first + k
                let q = qkv + row * a.qkvWidth + head * hd
                let o = outputs + (row * a.numHeads + head) * hd
                let blockMax = AttentionKernels.scores(query: q, keys: keys, stride: stride, count: count,
                                                       headDim: hd, into: scores)
                let previous = runningMax[k]
                let newMax = max(previous, blockMax)
                if newMax > previous && previous > -.infinity {
                    let correction = expf(previous - newMax)
                    VectorOps.scale(o, by: correction, count: hd)
                    runningSum[k] *= correction
                }
                runningMax[k] = newMax
                runningSum[k] += Softmax.exponentiate(scores, count: count, shift: newMax)
                AttentionKernels.accumulate(weights: scores, values: values, stride: stride, count: count,
                                            headDim: hd, into: o)
            }
            start += count
        }
        for k in 0..<n {
            let r = (first + k) * a.numHeads + head
            let sum = runningSum[k]
            if sum > 0 {
                VectorOps.scale(outputs + r * hd, by: 1 / sum, count: hd)
                lses[r] = runningMax[k] + logf(sum)
            } else {
                lses[r] = -.infinity
            }
        }
    }
}
