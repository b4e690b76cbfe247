import Foundation
import TesseraTensor

/// The per-row attention of one (sequence, head) item, for sequences with few new rows
/// (decode steps, short chunks). Items write disjoint (row, head) slices of their targets,
/// so worker threads share this value race-free.
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
            let visible = row - first + 1
            _ = AttentionKernels.scores(query: q, keys: keyBase + first * a.qkvWidth, stride: a.qkvWidth,
                                        count: visible, headDim: hd, into: scores)
            let lse = Softmax.inPlace(scores, count: visible)
            let o = target.output(rank: 0, row: row, head: head)
            o.update(repeating: 0, count: hd)
            AttentionKernels.accumulate(weights: scores, values: valueBase + first * a.qkvWidth, stride: a.qkvWidth,
                                        count: visible, headDim: hd, into: o)
            target.lse(rank: 0, row: row, head: head).pointee = lse
        }
    }

    /// Attention of the span's rows, for head `head` of CP rank `rank`, over this rank's slice
    /// of the cached context, one block at a time with an online softmax (running max and sum
    /// per row, output rescaled when the max grows). The slice is local indices
    /// `0..<localContext`, stored densely through the block table. An empty slice gives output
    /// 0 and LSE -inf.
    func contextPart(
        span: SequenceSpan, rank c: Int, head: Int, view: QueryView, worker: AttentionScratch.Worker,
        into target: PartialTarget
    ) {
        let a = attention
        let hd = a.headDim
        let kvHead = a.kvHead(of: head)
        let first = span.tokenRange.lowerBound
        let n = span.tokenRange.count
        let runningMax = worker.runningMax.pointer
        let runningSum = worker.runningSum.pointer
        let scores = worker.scores.pointer
        for k in 0..<n {
            target.output(rank: c, row: first + k, head: head).update(repeating: 0, count: hd)
            runningMax[k] = -.infinity
            runningSum[k] = 0
        }
        let context = a.localContext(of: span)
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
                let q = view.query(rank: c, row: row, head: head)
                let o = target.output(rank: c, row: row, head: head)
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
            let row = first + k
            let sum = runningSum[k]
            if sum > 0 {
                VectorOps.scale(target.output(rank: c, row: row, head: head), by: 1 / sum, count: hd)
                target.lse(rank: c, row: row, head: head).pointee = runningMax[k] + logf(sum)
            } else {
                target.lse(rank: c, row: row, head: head).pointee = -.infinity
            }
        }
    }
}
