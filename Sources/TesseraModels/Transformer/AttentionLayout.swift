/// Both views are plain pointers shared with worker threads: items of one phase touch disjoint
/// (row, head) slices, so sharing them is race-free (hence `@unchecked Sendable`).

/// Where the context part reads the query of (CP rank `c`, local head `j`, batch row `row`):
/// in place in the projection output on a lone rank, or in the all-gathered queries of the
/// CP group, rank-major `[cp, rows, heads, headDim]`.
struct QueryView: @unchecked Sendable {
    let base: UnsafePointer<Float>
    let rankStride: Int
    let rowStride: Int
    let headDim: Int

    @inline(__always)
    func query(rank c: Int, row: Int, head j: Int) -> UnsafePointer<Float> {
        base + c * rankStride + row * rowStride + j * headDim
    }
}

/// Where the context part writes its partial output and LSE for (CP rank `c` whose head it
/// is, local head `j`, batch row `row`): chunk `c` holds `[rows, heads, headDim]` outputs and
/// `[rows, heads]` LSEs, the chunk the combine sends to rank `c`.
struct PartialTarget: @unchecked Sendable {
    let outputs: UnsafeMutablePointer<Float>
    let lses: UnsafeMutablePointer<Float>
    /// Floats from chunk `c` to chunk `c + 1`, for outputs and for LSEs.
    let outputChunkStride: Int
    let lseChunkStride: Int
    let numHeads: Int
    let headDim: Int

    /// Floats between consecutive rows of one head's outputs.
    var rowStride: Int { numHeads * headDim }

    @inline(__always)
    func output(rank c: Int, row: Int, head j: Int) -> UnsafeMutablePointer<Float> {
        outputs + c * outputChunkStride + (row * numHeads + j) * headDim
    }

    @inline(__always)
    func lse(rank c: Int, row: Int, head j: Int) -> UnsafeMutablePointer<Float> {
        lses + c * lseChunkStride + row * numHeads + j
    }
}
