import CTesseraKernels

/// A linear layer's weight, `rows` x `columns` (Hugging Face `[out, in]`), kept in the form its
/// file stores it: f32, f16, bf16 or a GGML block quantisation. Never widened to f32 unless the
/// model was opened for the exact f32 path.
///
/// A matrix is a stack of parts, each a run of whole rows in one element type: the fused
/// q/k/v projection of a llama.cpp "Q4_K_M" file mixes types, and parts can point straight
/// into a memory-mapped file (no copy) while another part is a copy (permuted rows).
package final class WeightMatrix: @unchecked Sendable {
    // @unchecked: immutable after init; the bytes are only read.
    package let rows: Int
    package let columns: Int
    package let parts: [Part]

    /// `rows` consecutive rows of `dtype` starting at output row `firstRow`, each `rowBytes`
    /// bytes, contiguous at `bytes`, kept alive by `owner`.
    package struct Part: @unchecked Sendable {
        package let dtype: DType
        package let firstRow: Int
        package let rows: Int
        package let rowBytes: Int
        package let bytes: UnsafeRawPointer
        let owner: AnyObject
    }

    /// A matrix of one part over `bytes` (`rows` rows of `columns` values of `dtype`), which
    /// `owner` keeps valid (a mapped file, or a `StoredBytes` copy).
    package init(dtype: DType, rows: Int, columns: Int, bytes: UnsafeRawPointer, owner: AnyObject) {
        precondition(dtype.byteCount(elements: columns) != nil, "\(columns) columns are not whole \(dtype) blocks")
        self.rows = rows
        self.columns = columns
        parts = [Part(dtype: dtype, firstRow: 0, rows: rows, rowBytes: dtype.byteCount(elements: columns)!,
                      bytes: bytes, owner: owner)]
    }

    /// An f32 matrix holding `values` (`rows * columns`, row-major).
    package convenience init(floats values: [Float], rows: Int, columns: Int) {
        precondition(values.count == rows * columns, "\(values.count) values for \(rows) x \(columns)")
        let storage = StoredBytes(count: max(1, values.count) * 4)
        values.withUnsafeBytes { storage.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        self.init(dtype: .f32, rows: rows, columns: columns, bytes: storage.pointer, owner: storage)
    }

    /// The matrices stacked vertically (their rows one after another); all have `columns` columns.
    /// Neighbouring parts keep their bytes where they are.
    package init(stacking matrices: [WeightMatrix]) {
        precondition(!matrices.isEmpty && matrices.allSatisfy { $0.columns == matrices[0].columns })
        columns = matrices[0].columns
        var parts: [Part] = []
        var row = 0
        for matrix in matrices {
            for part in matrix.parts {
                parts.append(Part(dtype: part.dtype, firstRow: row + part.firstRow, rows: part.rows,
                                  rowBytes: part.rowBytes, bytes: part.bytes, owner: part.owner))
            }
            row += matrix.rows
        }
        rows = row
        self.parts = parts
    }

    /// The f32 values when the whole matrix is one f32 part (the exact path), else nil.
    package var floats: UnsafePointer<Float>? {
        guard parts.count == 1, parts[0].dtype == .f32 else { return nil }
        return parts[0].bytes.assumingMemoryBound(to: Float.self)
    }

    /// Bytes the matrix's values take.
    package var byteCount: Int { parts.reduce(0) { $0 + $1.rows * $1.rowBytes } }

    /// Element types of the parts, in order, without repeats ("q4_1", "q5_0+q6_K").
    package var typeSummary: String {
        var seen: [DType] = []
        for part in parts where !seen.contains(part.dtype) { seen.append(part.dtype) }
        return seen.map(\.rawValue).joined(separator: "+")
    }

    /// Every value widened to f32, row-major (tests and tools; the model never needs it).
    package var array: [Float] {
        [Float](unsafeUninitializedCapacity: rows * columns) { buffer, initialized in
            for row in 0..<rows { dequantizeRow(row, into: buffer.baseAddress! + row * columns) }
            initialized = rows * columns
        }
    }

    /// Row `row` widened to f32 into `destination[0 ..< columns]` (embedding lookups).
    package func dequantizeRow(_ row: Int, into destination: UnsafeMutablePointer<Float>) {
        precondition(row >= 0 && row < rows)
        let part = parts.last { $0.firstRow <= row }!
        tk_dequantize_row(part.dtype.ggmlNumber, part.bytes + (row - part.firstRow) * part.rowBytes, destination, Int64(columns))
    }
}

/// An owned, aligned byte buffer: weight rows copied out of a file (permuted or sliced ones).
package final class StoredBytes: @unchecked Sendable {
    package let pointer: UnsafeMutableRawPointer
    package let count: Int

    package init(count: Int) {
        self.count = count
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
    }

    deinit { pointer.deallocate() }
}
