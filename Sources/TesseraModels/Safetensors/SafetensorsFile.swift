import Foundation
import TesseraTensor

/// One tensor of a safetensors file.
public struct SafetensorsTensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: SafetensorsDType
    /// Outermost first (PyTorch order).
    public let shape: [Int]
    /// Absolute byte range in the file.
    public let byteRange: Range<Int>

    public var elementCount: Int { shape.reduce(1, *) }
}

/// A safetensors file, memory-mapped, its header parsed and every tensor's extent checked on open.
///
/// Layout: u64 little-endian header length N, N bytes of JSON
/// (`{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}`),
/// then the data section, to which `data_offsets` are relative.
public final class SafetensorsFile: Sendable {
    public let path: String
    public let tensors: [String: SafetensorsTensorInfo]
    /// The optional `__metadata__` string map.
    public let metadata: [String: String]
    let mapping: MappedFile

    /// Headers larger than this are rejected before being parsed (the reference
    /// implementation's limit is 100 MB).
    public static let maximumHeaderLength = 100_000_000

    public convenience init(url: URL) throws {
        try self.init(path: url.path)
    }

    public init(path: String) throws {
        let mapping = try MappedFile(path: path)
        self.mapping = mapping
        self.path = path
        let bytes = mapping.bytes
        guard bytes.count >= 8 else {
            throw ModelFileError.truncated(file: path, what: "header length", offset: 0, needed: 8, fileSize: bytes.count)
        }
        let headerLength = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw ModelFileError.implausibleCount(
                file: path, what: "safetensors header length", count: headerLength, remainingBytes: bytes.count - 8)
        }
        guard headerLength <= UInt64(Self.maximumHeaderLength) else {
            throw ModelFileError.invalidValue(
                file: path, what: "safetensors header length",
                reason: "\(headerLength) bytes exceeds the limit of \(Self.maximumHeaderLength)")
        }
        let dataStart = 8 + Int(headerLength)
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(bytes[8..<dataStart]))
        } catch {
            throw ModelFileError.invalidValue(file: path, what: "JSON header", reason: "not valid JSON (\(error))")
        }
        guard let header = json as? [String: Any] else {
            throw ModelFileError.invalidValue(file: path, what: "JSON header", reason: "the top level is not an object")
        }
        var tensors: [String: SafetensorsTensorInfo] = [:]
        var metadata: [String: String] = [:]
        for (name, entry) in header {
            if name == "__metadata__" {
                metadata = (entry as? [String: Any])?.compactMapValues { $0 as? String } ?? [:]
                continue
            }
            tensors[name] = try Self.tensorInfo(
                name: name, entry: entry, file: path, dataStart: dataStart, fileSize: bytes.count)
        }
        self.tensors = tensors
        self.metadata = metadata
    }

    /// Validates one header entry: dtype, shape and offsets, and that they agree.
    private static func tensorInfo(
        name: String, entry: Any, file: String, dataStart: Int, fileSize: Int
    ) throws -> SafetensorsTensorInfo {
        func invalid(_ what: String, _ reason: String) -> ModelFileError {
            .invalidValue(file: file, what: "\(what) of tensor '\(name)'", reason: reason)
        }
        guard let entry = entry as? [String: Any] else { throw invalid("header entry", "not an object") }
        guard let dtypeName = entry["dtype"] as? String else { throw invalid("dtype", "missing or not a string") }
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else { throw invalid("dtype", "unknown dtype '\(dtypeName)'") }
        guard let rawShape = entry["shape"] as? [Any], let shape = nonNegativeInts(rawShape) else {
            throw invalid("shape", "missing or not a list of non-negative integers: \(entry["shape"] ?? "nil")")
        }
        guard let rawOffsets = entry["data_offsets"] as? [Any], let offsets = nonNegativeInts(rawOffsets),
              offsets.count == 2, offsets[0] <= offsets[1] else {
            throw invalid("data_offsets", "expected [begin, end] with 0 <= begin <= end, got \(entry["data_offsets"] ?? "nil")")
        }
        let shape64 = shape.map { UInt64($0) }
        var bytes = dtype.byteSize
        for size in shape {
            let (product, overflow) = bytes.multipliedReportingOverflow(by: size)
            guard !overflow else {
                throw ModelFileError.invalidShape(file: file, tensor: name, shape: shape64, reason: "byte size overflows")
            }
            bytes = product
        }
        let span = offsets[1] - offsets[0]
        guard span == bytes else {
            throw ModelFileError.invalidShape(
                file: file, tensor: name, shape: shape64,
                reason: "\(dtypeName) data needs \(bytes) bytes but data_offsets [\(offsets[0]), \(offsets[1])] span \(span)")
        }
        let (start, overflow) = dataStart.addingReportingOverflow(offsets[0])
        guard !overflow, start <= fileSize, span <= fileSize - start else {
            throw ModelFileError.tensorOutOfBounds(file: file, tensor: name, offset: start, size: span, fileSize: fileSize)
        }
        return SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, byteRange: start..<(start + span))
    }

    private static func nonNegativeInts(_ values: [Any]) -> [Int]? {
        var result: [Int] = []
        for value in values {
            guard let int = HFConfigJSON.exactInt(value), int >= 0 else { return nil }
            result.append(int)
        }
        return result
    }

    // MARK: - Reading

    public func info(_ name: String) throws -> SafetensorsTensorInfo {
        guard let info = tensors[name] else { throw ModelFileError.missingTensor(file: path, name: name) }
        return info
    }

    func rawBytes(of info: SafetensorsTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: mapping.bytes[info.byteRange])
    }

    package func loadableDType(of info: SafetensorsTensorInfo) throws -> DType {
        guard let dtype = info.dtype.dtype else {
            throw ModelFileError.unsupportedTensorType(file: path, tensor: info.name, type: info.dtype.rawValue)
        }
        return dtype
    }

    /// Converts the flat elements `elements` of a float tensor into `destination`.
    package func convert(_ info: SafetensorsTensorInfo, elements: Range<Int>, into destination: UnsafeMutableBufferPointer<Float>) throws {
        let dtype = try loadableDType(of: info)
        precondition(elements.lowerBound >= 0 && elements.upperBound <= info.elementCount && destination.count == elements.count)
        let size = info.dtype.byteSize
        let source = UnsafeRawBufferPointer(rebasing: rawBytes(of: info)[(elements.lowerBound * size)...])
        Dequantize.convert(dtype, from: source, into: destination)
    }

    /// A float tensor (F32, F16 or BF16) as f32, flat in row-major order.
    public func floats(_ name: String) throws -> [Float] {
        let info = try info(name)
        _ = try loadableDType(of: info)
        let count = info.elementCount
        return try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            try convert(info, elements: 0..<count, into: buffer)
            initialized = count
        }
    }

    /// A float tensor with its shape.
    public func tensor(_ name: String) throws -> Tensor {
        Tensor(shape: try info(name).shape, data: try floats(name))
    }

    /// An integer tensor (I8, I16, I32, I64, U8, U16, U32, U64, BOOL) as `[Int]`, flat in
    /// row-major order. For fixtures such as token ids, not for weights.
    public func integers(_ name: String) throws -> [Int] {
        let info = try info(name)
        let bytes = rawBytes(of: info)
        let count = info.elementCount
        func read<T: FixedWidthInteger>(_: T.Type) -> [Int]? {
            var result: [Int] = []
            result.reserveCapacity(count)
            for i in 0..<count {
                let value = T(littleEndian: bytes.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self))
                guard let int = Int(exactly: value) else { return nil }
                result.append(int)
            }
            return result
        }
        let values: [Int]?
        switch info.dtype {
        case .i8: values = read(Int8.self)
        case .u8, .bool: values = read(UInt8.self)
        case .i16: values = read(Int16.self)
        case .u16: values = read(UInt16.self)
        case .i32: values = read(Int32.self)
        case .u32: values = read(UInt32.self)
        case .i64: values = read(Int64.self)
        case .u64: values = read(UInt64.self)
        default:
            throw ModelFileError.invalidValue(
                file: path, what: "dtype of tensor '\(name)'", reason: "\(info.dtype.rawValue) is not an integer type")
        }
        guard let values else {
            throw ModelFileError.invalidValue(file: path, what: "tensor '\(name)'", reason: "a U64 value does not fit in Int")
        }
        return values
    }
}
