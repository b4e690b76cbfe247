import TesseraTensor

/// Where a stored tensor came from and what it looks like, before loading.
public struct TensorInfo: Sendable, Equatable {
    /// Hugging Face name, e.g. `model.layers.0.self_attn.q_proj.weight`.
    public var name: String
    /// Hugging Face order, outermost first: a linear weight is `[out, in]`.
    public var shape: [Int]
    public var dtype: DType

    public init(name: String, shape: [Int], dtype: DType) {
        self.name = name
        self.shape = shape
        self.dtype = dtype
    }
}

/// A set of named weights in Hugging Face naming and layout, whatever the file format.
///
/// GGUF sources translate names (`blk.0.attn_q.weight` -> `model.layers.0.self_attn.q_proj.weight`),
/// reverse the dimension order, and undo llama.cpp's rotary permutation of Q and K rows, so a
/// model implementation sees one layout.
public protocol WeightSource: Sendable {
    /// Every tensor the source holds, by Hugging Face name.
    var tensorInfos: [String: TensorInfo] { get }

    /// The whole tensor, dequantised to f32, in Hugging Face layout.
    func load(_ name: String) throws -> Tensor

    /// Rows `rows` of a tensor viewed as `[shape[0], rest]`, dequantised to f32.
    /// Lets a rank read only its shard of a weight.
    func load(_ name: String, rows: Range<Int>) throws -> Tensor

    /// Rows `rows`, columns `columns` of a tensor viewed as `[shape[0], rest]` (a column
    /// indexes the flattened rest), dequantised to f32, shape `[rows.count, columns.count]`.
    /// Lets a rank read only its shard of a row-parallel weight (`o_proj`, `down_proj`).
    /// The default reads bounded chunks of whole rows and copies out the columns.
    func load(_ name: String, rows: Range<Int>, columns: Range<Int>) throws -> Tensor
}

extension WeightSource {
    public func load(_ name: String, rows: Range<Int>, columns: Range<Int>) throws -> Tensor {
        let width = try checkSlice(name, rows: rows, columns: columns)
        var data = [Float](repeating: 0, count: rows.count * columns.count)
        // Whole rows per read, at most about 1 Mi floats (4 MiB) at a time, so a rank never
        // holds more than that of the parts of the matrix it does not keep.
        let rowsPerRead = max(1, (1 << 20) / max(1, width))
        var start = rows.lowerBound
        while start < rows.upperBound {
            let end = min(rows.upperBound, start + rowsPerRead)
            let chunk = try load(name, rows: start..<end)
            guard chunk.count == (end - start) * width else {
                throw WeightSliceError.unexpectedSize(tensor: name, rows: start..<end, expected: (end - start) * width, actual: chunk.count)
            }
            for row in start..<end {
                let from = (row - start) * width + columns.lowerBound
                let to = (row - rows.lowerBound) * columns.count
                for i in 0..<columns.count { data[to + i] = chunk.data[from + i] }
            }
            start = end
        }
        return Tensor(shape: [rows.count, columns.count], data: data)
    }

    /// Checks `rows` and `columns` against the tensor's shape and returns its row width.
    package func checkSlice(_ name: String, rows: Range<Int>, columns: Range<Int>) throws(WeightSliceError) -> Int {
        guard let info = tensorInfos[name], let rowCount = info.shape.first else {
            throw .notAMatrix(tensor: name, shape: tensorInfos[name]?.shape)
        }
        let width = info.shape.dropFirst().reduce(1, *)
        guard rows.lowerBound >= 0, rows.upperBound <= rowCount, columns.lowerBound >= 0, columns.upperBound <= width else {
            throw .outOfRange(tensor: name, rows: rows, columns: columns, shape: [rowCount, width])
        }
        return width
    }
}

/// Why a rows-and-columns slice of a weight cannot be read.
public enum WeightSliceError: Error, CustomStringConvertible, Equatable {
    /// The tensor is unknown (`shape` nil) or a scalar.
    case notAMatrix(tensor: String, shape: [Int]?)
    case outOfRange(tensor: String, rows: Range<Int>, columns: Range<Int>, shape: [Int])
    case unexpectedSize(tensor: String, rows: Range<Int>, expected: Int, actual: Int)

    public var description: String {
        switch self {
        case let .notAMatrix(tensor, shape):
            if let shape { "tensor '\(tensor)' of shape \(shape) has no rows and columns to slice" }
            else { "no tensor named '\(tensor)'" }
        case let .outOfRange(tensor, rows, columns, shape):
            "rows \(rows.lowerBound)..<\(rows.upperBound), columns \(columns.lowerBound)..<\(columns.upperBound) "
                + "of tensor '\(tensor)' are out of range (viewed as \(shape[0]) x \(shape[1]))"
        case let .unexpectedSize(tensor, rows, expected, actual):
            "rows \(rows.lowerBound)..<\(rows.upperBound) of tensor '\(tensor)' came back with \(actual) values, expected \(expected)"
        }
    }
}

/// A source that can hand out weights in the element type its file stores (quantised blocks,
/// f16, bf16) instead of widened to f32: GGUF and safetensors files.
/// `DequantizedWeights` hides this, for the exact f32 path.
package protocol StoredWeightSource: WeightSource {
    /// Rows `rows` of the matrix `name` viewed as `[shape[0], rest]` (only `columns` of them when
    /// given) as stored, pointing into the mapped file where the rows lie there as they are;
    /// nil when this slice cannot be had that way (columns not on block boundaries, an f32
    /// tensor), and the caller loads f32.
    func stored(_ name: String, rows: Range<Int>, columns: Range<Int>?) throws -> WeightMatrix?

    /// Why tensor `name`, which the file has, cannot be loaded (an element type Tessera cannot
    /// read), or nil (the default).
    func unloadableReason(_ name: String) -> ModelFileError?
}

extension StoredWeightSource {
    package func unloadableReason(_ name: String) -> ModelFileError? { nil }
}

/// Another source's weights, always widened to f32: the exact path, which the parity suites
/// against transformers run on (`--weights f32`).
package struct DequantizedWeights: StoredWeightSource {
    package let base: any WeightSource

    package init(_ base: any WeightSource) { self.base = base }

    package var tensorInfos: [String: TensorInfo] { base.tensorInfos }
    package func load(_ name: String) throws -> Tensor { try base.load(name) }
    package func load(_ name: String, rows: Range<Int>) throws -> Tensor { try base.load(name, rows: rows) }
    package func load(_ name: String, rows: Range<Int>, columns: Range<Int>) throws -> Tensor {
        try base.load(name, rows: rows, columns: columns)
    }
    package func stored(_ name: String, rows: Range<Int>, columns: Range<Int>?) throws -> WeightMatrix? { nil }
    package func unloadableReason(_ name: String) -> ModelFileError? {
        (base as? any StoredWeightSource)?.unloadableReason(name)
    }
}
