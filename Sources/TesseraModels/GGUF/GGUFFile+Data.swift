import TesseraTensor

/// Reading tensor data in GGUF's own layout (no renaming, no permutation).
extension GGUFFile {
    /// The raw bytes of a tensor, valid while the file object is alive.
    package func rawBytes(of tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        let start = dataOffset + tensor.offset
        return UnsafeRawBufferPointer(rebasing: mapping.bytes[start..<start + tensor.byteCount])
    }

    /// The element type to dequantise `tensor` with, or the unsupported-type error.
    package func loadableDType(of tensor: GGUFTensorInfo) throws -> DType {
        guard let dtype = tensor.type.dtype else {
            throw ModelFileError.unsupportedTensorType(file: path, tensor: tensor.name, type: tensor.type.description)
        }
        return dtype
    }

    /// Dequantises the flat elements `elements` (in storage order) of `tensor` into `destination`.
    /// A range that does not start and end on block boundaries is served through a small
    /// temporary covering the blocks involved.
    package func dequantize(
        _ tensor: GGUFTensorInfo, elements: Range<Int>, into destination: UnsafeMutableBufferPointer<Float>
    ) throws {
        let dtype = try loadableDType(of: tensor)
        precondition(elements.lowerBound >= 0 && elements.upperBound <= tensor.elementCount)
        precondition(destination.count == elements.count)
        let bytes = rawBytes(of: tensor)
        let block = dtype.blockSize
        let firstBlock = elements.lowerBound / block
        let endBlock = (elements.upperBound + block - 1) / block
        let source = UnsafeRawBufferPointer(rebasing: bytes[(firstBlock * dtype.blockBytes)...])
        if elements.lowerBound % block == 0 && elements.upperBound % block == 0 {
            Dequantize.convert(dtype, from: source, into: destination)
        } else {
            let covering = Dequantize.floats(dtype, from: source, count: (endBlock - firstBlock) * block)
            let skip = elements.lowerBound - firstBlock * block
            for i in 0..<elements.count { destination[i] = covering[skip + i] }
        }
    }

    /// The whole tensor dequantised to f32, flat in storage order (`ne[0]` fastest).
    public func floats(_ name: String) throws -> [Float] {
        guard let tensor = tensor(named: name) else { throw ModelFileError.missingTensor(file: path, name: name) }
        _ = try loadableDType(of: tensor)
        return try [Float](unsafeUninitializedCapacity: tensor.elementCount) { buffer, initialized in
            try dequantize(tensor, elements: 0..<tensor.elementCount, into: buffer)
            initialized = tensor.elementCount
        }
    }
}

extension GGUFFile {
    /// Rows `rows` of a tensor in GGUF's layout, where a row is `ne[0]` contiguous values,
    /// dequantised to f32 (no renaming or un-permuting; see `GGUFWeightSource` for that).
    public func floats(_ name: String, rows: Range<Int>) throws -> [Float] {
        guard let tensor = tensor(named: name) else { throw ModelFileError.missingTensor(file: path, name: name) }
        _ = try loadableDType(of: tensor)
        let rowLength = tensor.dimensions[0]
        let rowCount = tensor.elementCount / rowLength
        guard rows.lowerBound >= 0, rows.upperBound <= rowCount else {
            throw ModelFileError.rowsOutOfRange(file: path, tensor: name, rows: rows, rowCount: rowCount)
        }
        let count = rows.count * rowLength
        return try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            try dequantize(tensor, elements: (rows.lowerBound * rowLength)..<(rows.upperBound * rowLength), into: buffer)
            initialized = count
        }
    }
}
