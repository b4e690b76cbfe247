import TesseraTensor

/// The weights of a GGUF file in Hugging Face naming and layout.
///
/// - Names are translated (`blk.0.attn_q.weight` -> `model.layers.0.self_attn.q_proj.weight`).
/// - Shapes are reported outermost first (`[out, in]` for a linear weight); the bytes need no
///   transposition, since GGUF's `ne[0]` is the contiguous dimension.
/// - For the `llama` architecture, the Q and K projection rows are un-permuted. llama.cpp's
///   converter reorders the rows of each head from Hugging Face's "first half / second half"
///   rotary layout to interleaved pairs: `w.reshape(n_head, 2, head_dim/2, cols).swapaxes(1, 2)`,
///   so Hugging Face row `h*head_dim + j*(head_dim/2) + i` is stored at GGUF row
///   `h*head_dim + 2*i + j`. Here each requested row is read from where it was stored.
///   (`qwen3` GGUFs are not permuted: llama.cpp uses NeoX-style rotary for them.)
///
/// Tensors whose type cannot be loaded (e.g. IQ2_XXS) are left out of `tensorInfos`; loading
/// one throws `ModelFileError.unsupportedTensorType` naming it and its type.
public struct GGUFWeightSource: WeightSource {
    public let file: GGUFFile
    public let tensorInfos: [String: TensorInfo]
    private let entries: [String: Entry]

    private struct Entry: Sendable {
        let tensor: GGUFTensorInfo
        /// Heads of a permuted Q/K tensor; nil when rows are stored in Hugging Face order.
        let rotaryHeads: Int?
    }

    public init(file: GGUFFile) throws {
        self.file = file
        let permuted = try file.architectureName() == "llama"
        var queryHeads = 0
        var keyHeads = 0
        if permuted {
            queryHeads = try file.int("llama.attention.head_count")
            keyHeads = try file.optionalInt("llama.attention.head_count_kv") ?? queryHeads
        }
        var entries: [String: Entry] = [:]
        var infos: [String: TensorInfo] = [:]
        for tensor in file.tensors {
            let name = GGUFNames.huggingFace(tensor.name)
            guard entries[name] == nil else {
                throw ModelFileError.duplicateName(file: file.path, kind: "tensor name (after renaming to Hugging Face)", name: name)
            }
            var heads: Int?
            if permuted, let kind = GGUFNames.rotaryRows(tensor.name) {
                let count = kind == .query ? queryHeads : keyHeads
                let rows = tensor.shape[0]
                guard count > 0, rows % count == 0, (rows / count) % 2 == 0 else {
                    throw ModelFileError.invalidShape(
                        file: file.path, tensor: tensor.name, shape: tensor.dimensions.map(UInt64.init),
                        reason: "\(rows) rows cannot be split into \(count) heads of even size to undo the rotary permutation")
                }
                heads = count
            }
            entries[name] = Entry(tensor: tensor, rotaryHeads: heads)
            if let dtype = tensor.type.dtype {
                infos[name] = TensorInfo(name: name, shape: tensor.shape, dtype: dtype)
            }
        }
        self.entries = entries
        self.tensorInfos = infos
    }

    /// The GGUF name a Hugging Face name was translated from.
    public func ggufName(of name: String) -> String? {
        entries[name]?.tensor.name
    }

    public func load(_ name: String) throws -> Tensor {
        let entry = try entry(name)
        return try load(name, rows: 0..<entry.tensor.shape[0])
    }

    public func load(_ name: String, rows: Range<Int>) throws -> Tensor {
        let entry = try entry(name)
        let tensor = entry.tensor
        _ = try file.loadableDType(of: tensor)
        let shape = tensor.shape
        let rowCount = shape[0]
        let rowLength = tensor.elementCount / rowCount
        guard rows.lowerBound >= 0, rows.upperBound <= rowCount else {
            throw ModelFileError.rowsOutOfRange(file: file.path, tensor: name, rows: rows, rowCount: rowCount)
        }
        let count = rows.count * rowLength
        let data = try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            if let heads = entry.rotaryHeads {
                let headDim = rowCount / heads
                for (index, row) in rows.enumerated() {
                    let stored = Self.storedRow(row, headDim: headDim)
                    let slice = UnsafeMutableBufferPointer(rebasing: buffer[(index * rowLength)..<((index + 1) * rowLength)])
                    try file.dequantize(tensor, elements: (stored * rowLength)..<((stored + 1) * rowLength), into: slice)
                }
            } else {
                try file.dequantize(tensor, elements: (rows.lowerBound * rowLength)..<(rows.upperBound * rowLength), into: buffer)
            }
            initialized = count
        }
        return Tensor(shape: [rows.count] + shape.dropFirst(), data: data)
    }

    /// Dequantises only the blocks covering the requested columns of each row (rows of a
    /// permuted Q/K tensor are read from where they were stored).
    public func load(_ name: String, rows: Range<Int>, columns: Range<Int>) throws -> Tensor {
        let entry = try entry(name)
        let tensor = entry.tensor
        _ = try file.loadableDType(of: tensor)
        let width = try checkSlice(name, rows: rows, columns: columns)
        let headDim = entry.rotaryHeads.map { tensor.shape[0] / $0 }
        let count = rows.count * columns.count
        let data = try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            for (index, row) in rows.enumerated() {
                let stored = headDim.map { Self.storedRow(row, headDim: $0) } ?? row
                let start = stored * width + columns.lowerBound
                let slice = UnsafeMutableBufferPointer(rebasing: buffer[(index * columns.count)..<((index + 1) * columns.count)])
                try file.dequantize(tensor, elements: start..<(start + columns.count), into: slice)
            }
            initialized = count
        }
        return Tensor(shape: [rows.count, columns.count], data: data)
    }

    /// Why `name`, which the file has, cannot be loaded (its element type), or nil.
    package func unloadableReason(_ name: String) -> ModelFileError? {
        guard let tensor = entries[name]?.tensor, tensor.type.dtype == nil else { return nil }
        return .unsupportedTensorType(file: file.path, tensor: tensor.name, type: tensor.type.description)
    }

    /// Where llama.cpp's converter stored Hugging Face row `row` of a rotary projection.
    static func storedRow(_ row: Int, headDim: Int) -> Int {
        let half = headDim / 2
        let head = row / headDim
        let within = row % headDim
        // Hugging Face: within = j*half + i (j selects the half). GGUF: within = 2*i + j.
        return head * headDim + 2 * (within % half) + within / half
    }

    private func entry(_ name: String) throws -> Entry {
        guard let entry = entries[name] else { throw ModelFileError.missingTensor(file: file.path, name: name) }
        return entry
    }
}

extension GGUFWeightSource: StoredWeightSource {
    /// Quantised, f16 and bf16 rows as stored: whole rows point into the mapping; rows of a
    /// permuted Q/K tensor, and column slices on block boundaries, are copied. f32 tensors
    /// and columns inside blocks: nil (loaded as f32).
    package func stored(_ name: String, rows: Range<Int>, columns: Range<Int>?) throws -> WeightMatrix? {
        let entry = try entry(name)
        let tensor = entry.tensor
        guard let dtype = tensor.type.dtype, dtype != .f32 else { return nil }
        let rowCount = tensor.shape[0]
        let width = tensor.elementCount / max(1, rowCount)
        guard rows.lowerBound >= 0, rows.upperBound <= rowCount else {
            throw ModelFileError.rowsOutOfRange(file: file.path, tensor: name, rows: rows, rowCount: rowCount)
        }
        let columns = columns ?? 0..<width
        guard columns.lowerBound >= 0, columns.upperBound <= width, !columns.isEmpty,
              columns.lowerBound % dtype.blockSize == 0, columns.count % dtype.blockSize == 0,
              let rowBytes = dtype.byteCount(elements: width),
              let sliceBytes = dtype.byteCount(elements: columns.count) else { return nil }
        let bytes = file.rawBytes(of: tensor)
        let skip = columns.lowerBound / dtype.blockSize * dtype.blockBytes
        if entry.rotaryHeads == nil && columns.count == width {
            return WeightMatrix(dtype: dtype, rows: rows.count, columns: width,
                                bytes: bytes.baseAddress! + rows.lowerBound * rowBytes, owner: file.mapping)
        }
        let headDim = entry.rotaryHeads.map { rowCount / $0 }
        let copy = StoredBytes(count: rows.count * sliceBytes)
        for (index, row) in rows.enumerated() {
            let stored = headDim.map { Self.storedRow(row, headDim: $0) } ?? row
            (copy.pointer + index * sliceBytes).copyMemory(from: bytes.baseAddress! + stored * rowBytes + skip, byteCount: sliceBytes)
        }
        return WeightMatrix(dtype: dtype, rows: rows.count, columns: columns.count, bytes: copy.pointer, owner: copy)
    }
}
