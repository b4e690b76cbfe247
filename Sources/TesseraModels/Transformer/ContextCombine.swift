import TesseraDistributed
import TesseraTensor

/// Step 2's combine across a CP group (DESIGN.md, "One attention step"): every rank has
/// attended with all the group's query heads over its own slice of the context; afterwards
/// each rank holds, for its own heads, the attention over the whole context and its LSE.
///
/// Sizes per layer, with `n` batch rows, `h` query heads per rank, `d` head size, `G` ranks:
/// - all-gather/reduce-scatter: all-gather of the `G*n*h` LSEs (receives `G*G*n*h`), then each
///   rank rescales its partials by their merge weights and reduce-scatters `G*n*h*d` floats
///   (receives `n*h*d`, the sum over ranks for its heads);
/// - all-to-all: one exchange of `G*n*h*(d+1)` floats (outputs and LSEs), then a local merge.
///
/// Both weight a partial by `exp(lse_i - m) / sum` with `m` and `sum` over the group's LSEs of
/// that (row, head), computed in the same order on every rank, and give an empty slice
/// (`lse = -inf`) weight 0; if every slice is empty the output is 0 and the LSE -inf.
struct ContextCombine {
    let numHeads: Int
    let headDim: Int
    let rows: Int
    let cpSize: Int
    let cpRank: Int

    /// Floats of one rank's heads' outputs / LSEs over the batch.
    var outputFloats: Int { rows * numHeads * headDim }
    var lseFloats: Int { rows * numHeads }

    /// Where the context part must write the group's partials for `mode`'s send buffer.
    func sendTarget(_ mode: CPCombine, scratch: AttentionScratch) -> PartialTarget {
        let send = scratch.combineSend.pointer
        switch mode {
        case .allGatherReduceScatter:
            return PartialTarget(outputs: send, lses: scratch.contextLSEs.pointer, outputChunkStride: outputFloats,
                                 lseChunkStride: lseFloats, numHeads: numHeads, headDim: headDim)
        case .allToAll:
            // Chunk c (sent to rank c): its heads' outputs, then their LSEs.
            let chunk = outputFloats + lseFloats
            return PartialTarget(outputs: send, lses: send + outputFloats, outputChunkStride: chunk,
                                 lseChunkStride: chunk, numHeads: numHeads, headDim: headDim)
        }
    }

    /// Combines the partials in the send buffer into `target` (this rank's heads, chunk 0).
    func run(_ mode: CPCombine, cp: any Communicator, scratch: AttentionScratch, into target: PartialTarget) throws {
        switch mode {
        case .allGatherReduceScatter:
            try allGatherReduceScatter(cp: cp, scratch: scratch, into: target)
        case .allToAll:
            try allToAll(cp: cp, scratch: scratch, into: target)
        }
    }

    private func allGatherReduceScatter(cp: any Communicator, scratch: AttentionScratch, into target: PartialTarget) throws {
        let total = cpSize * lseFloats
        let lses = scratch.contextLSEs.pointer
        let gathered = scratch.combineReceive.pointer
        try cp.allGather(UnsafeBufferPointer(start: lses, count: total),
                         into: UnsafeMutableBufferPointer(start: gathered, count: cpSize * total))
        let outputs = scratch.combineSend.pointer
        let own = cpRank * lseFloats
        for index in 0..<total {
            // Sender i's LSE for this (head owner, row, head) is at gathered[i * total + index].
            let normaliser = AttentionMerge.normaliser(gathered + index, stride: total, count: cpSize)
            let weight = normaliser.weight(of: lses[index])
            let output = outputs + index * headDim
            if weight > 0 {
                VectorOps.scale(output, by: weight, count: headDim)
            } else {
                output.update(repeating: 0, count: headDim)  // never 0 * inf or 0 * NaN
            }
            if index >= own && index < own + lseFloats { target.lses[index - own] = normaliser.lse }
        }
        try cp.reduceScatter(UnsafeBufferPointer(start: outputs, count: cpSize * outputFloats),
                             into: UnsafeMutableBufferPointer(start: target.outputs, count: outputFloats))
    }

    private func allToAll(cp: any Communicator, scratch: AttentionScratch, into target: PartialTarget) throws {
        let chunk = outputFloats + lseFloats
        let received = scratch.combineReceive.pointer
        try cp.allToAll(UnsafeBufferPointer(start: scratch.combineSend.pointer, count: cpSize * chunk),
                        into: UnsafeMutableBufferPointer(start: received, count: cpSize * chunk))
        // Chunk i: rank i's partials for this rank's heads.
        AttentionMerge.merge(outputs: received, partStride: chunk, lses: received + outputFloats, lseStride: chunk,
                             parts: cpSize, rows: lseFloats, dim: headDim, into: target.outputs, lseOut: target.lses)
    }
}
