import Foundation

/// One tensor as described in a GGUF file, in GGUF's own naming and layout.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// `ne[]`: sizes innermost (contiguous) first, the reverse of PyTorch / Hugging Face order.
    public let dimensions: [Int]
    public let type: GGMLType
    /// Byte offset from the start of the data section (a multiple of the file's alignment).
    public let offset: Int
    public let byteCount: Int
    public let elementCount: Int

    /// Sizes outermost first, as PyTorch and Hugging Face describe the same tensor.
    public var shape: [Int] { dimensions.reversed() }
}

/// A GGUF file (versions 2 and 3), memory-mapped, with its metadata and tensor directory fully
/// parsed and validated on open. Tensor data is read (and dequantised) only on request.
///
/// Layout: magic `GGUF`, u32 version, u64 tensor count, u64 metadata count, the metadata
/// entries, the tensor infos, padding to `general.alignment` (default 32), then the data
/// section, in which every tensor's offset is aligned.
public final class GGUFFile: Sendable {
    public let path: String
    public let version: UInt32
    public let alignment: Int
    /// Absolute file offset of the data section.
    public let dataOffset: Int
    public let fileSize: Int
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    public let metadata: [String: GGUFValue]
    /// Tensors in file order.
    public let tensors: [GGUFTensorInfo]
    private let tensorIndex: [String: Int]
    let mapping: MappedFile

    public static let defaultAlignment = 32
    /// Nested metadata arrays deeper than this are rejected (a crafted file could otherwise
    /// recurse until the stack overflows).
    static let maximumArrayDepth = 16
    /// GGML_MAX_DIMS.
    static let maximumDimensions = 4

    public convenience init(url: URL) throws {
        try self.init(path: url.path)
    }

    public init(path: String) throws {
        let mapping = try MappedFile(path: path)
        self.mapping = mapping
        self.path = path
        self.fileSize = mapping.count
        var cursor = GGUFCursor(bytes: mapping.bytes, file: path)

        let magicStart = try cursor.take(4, "magic")
        let magic = Array(mapping.bytes[magicStart..<magicStart + 4])
        guard magic == Array("GGUF".utf8) else {
            let hex = magic.map { String($0, radix: 16, uppercase: true) }.joined(separator: " ")
            throw ModelFileError.badMagic(file: path, found: "\(hex) ('\(String(decoding: magic, as: UTF8.self))')")
        }
        version = try cursor.u32("version")
        guard version == 2 || version == 3 else {
            throw ModelFileError.unsupportedVersion(file: path, version: version)
        }
        let tensorCount = try cursor.u64("tensor count")
        let metadataCount = try cursor.u64("metadata count")

        // Metadata.
        let entries = try cursor.plausibleCount(metadataCount, minimumSize: 8 + 4 + 1, "metadata count")
        var keys: [String] = []
        var metadata: [String: GGUFValue] = [:]
        keys.reserveCapacity(entries)
        for index in 0..<entries {
            let key = try cursor.string("key of metadata entry \(index)")
            guard metadata[key] == nil else {
                throw ModelFileError.duplicateName(file: path, kind: "metadata key", name: key)
            }
            let code = try cursor.u32("value type of metadata key '\(key)'")
            guard let type = GGUFValueType(rawValue: code) else {
                throw ModelFileError.invalidValue(file: path, what: "value type of metadata key '\(key)'", reason: "unknown type code \(code)")
            }
            metadata[key] = try Self.readValue(type, &cursor, key: key, depth: 0)
            keys.append(key)
        }
        self.metadataKeys = keys
        self.metadata = metadata

        let alignmentValue = metadata["general.alignment"]
        if let alignmentValue {
            guard let value = alignmentValue.intValue, value > 0, value & (value - 1) == 0 else {
                throw ModelFileError.invalidValue(
                    file: path, what: "general.alignment", reason: "\(alignmentValue.intValue.map(String.init) ?? alignmentValue.typeName) is not a positive power of two")
            }
            alignment = value
        } else {
            alignment = Self.defaultAlignment
        }

        // Tensor directory: name, n_dims, ne[n_dims], type, offset.
        let count = try cursor.plausibleCount(tensorCount, minimumSize: 8 + 4 + 8 + 4 + 8, "tensor count")
        var raw: [(name: String, dimensions: [UInt64], code: UInt32, offset: UInt64)] = []
        raw.reserveCapacity(count)
        for index in 0..<count {
            let name = try cursor.string("name of tensor \(index)")
            let dimensionCount = try cursor.u32("dimension count of tensor '\(name)'")
            guard (1...UInt32(Self.maximumDimensions)).contains(dimensionCount) else {
                throw ModelFileError.invalidValue(
                    file: path, what: "dimension count of tensor '\(name)'",
                    reason: "\(dimensionCount) is not between 1 and \(Self.maximumDimensions)")
            }
            let dimensions = try cursor.integers(UInt64.self, count: Int(dimensionCount), "dimensions of tensor '\(name)'")
            let code = try cursor.u32("type of tensor '\(name)'")
            let offset = try cursor.u64("data offset of tensor '\(name)'")
            raw.append((name, dimensions, code, offset))
        }

        // The data section starts at the next multiple of the alignment.
        let (padded, _) = cursor.offset.addingReportingOverflow(alignment - 1)
        dataOffset = padded / alignment * alignment

        var tensors: [GGUFTensorInfo] = []
        var tensorIndex: [String: Int] = [:]
        tensors.reserveCapacity(raw.count)
        for entry in raw {
            guard tensorIndex[entry.name] == nil else {
                throw ModelFileError.duplicateName(file: path, kind: "tensor name", name: entry.name)
            }
            let info = try Self.validateTensor(
                name: entry.name, dimensions: entry.dimensions, code: entry.code, offset: entry.offset,
                file: path, alignment: alignment, dataOffset: dataOffset, fileSize: fileSize)
            tensorIndex[entry.name] = tensors.count
            tensors.append(info)
        }
        self.tensors = tensors
        self.tensorIndex = tensorIndex
    }

    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// Checks one tensor's type, shape and extent against the file.
    private static func validateTensor(
        name: String, dimensions: [UInt64], code: UInt32, offset: UInt64,
        file: String, alignment: Int, dataOffset: Int, fileSize: Int
    ) throws -> GGUFTensorInfo {
        guard let type = GGMLType(rawValue: code) else {
            throw ModelFileError.unknownTensorType(file: file, tensor: name, code: code)
        }
        var elements = 1
        for (axis, size) in dimensions.enumerated() {
            guard size > 0 else {
                throw ModelFileError.invalidShape(file: file, tensor: name, shape: dimensions, reason: "dimension \(axis) is zero")
            }
            guard let size = Int(exactly: size) else {
                throw ModelFileError.invalidShape(file: file, tensor: name, shape: dimensions, reason: "dimension \(axis) is too large")
            }
            let (product, overflow) = elements.multipliedReportingOverflow(by: size)
            guard !overflow else {
                throw ModelFileError.invalidShape(file: file, tensor: name, shape: dimensions, reason: "element count overflows")
            }
            elements = product
        }
        let layout = type.blockLayout
        guard dimensions[0] % UInt64(layout.elements) == 0 else {
            throw ModelFileError.invalidShape(
                file: file, tensor: name, shape: dimensions,
                reason: "row length \(dimensions[0]) is not a multiple of the \(type) block size \(layout.elements)")
        }
        let (byteCount, sizeOverflow) = (elements / layout.elements).multipliedReportingOverflow(by: layout.bytes)
        guard !sizeOverflow else {
            throw ModelFileError.invalidShape(file: file, tensor: name, shape: dimensions, reason: "byte size overflows")
        }
        guard offset % UInt64(alignment) == 0 else {
            throw ModelFileError.misalignedTensor(file: file, tensor: name, offset: offset, alignment: alignment)
        }
        // Absolute start and end, overflow-checked; anything not fitting in Int is past the end.
        let start = Int(exactly: offset).flatMap { relative -> Int? in
            let (sum, overflow) = relative.addingReportingOverflow(dataOffset)
            return overflow ? nil : sum
        }
        guard let start else {
            throw ModelFileError.invalidValue(
                file: file, what: "data offset of tensor '\(name)'", reason: "\(offset) is beyond the end of the file (\(fileSize) bytes)")
        }
        guard start <= fileSize, byteCount <= fileSize - start else {
            throw ModelFileError.tensorOutOfBounds(file: file, tensor: name, offset: start, size: byteCount, fileSize: fileSize)
        }
        return GGUFTensorInfo(
            name: name, dimensions: dimensions.map { Int($0) }, type: type, offset: Int(offset),
            byteCount: byteCount, elementCount: elements)
    }

    /// Reads one metadata value of `type`.
    private static func readValue(_ type: GGUFValueType, _ cursor: inout GGUFCursor, key: String, depth: Int) throws -> GGUFValue {
        let what = "value of metadata key '\(key)'"
        switch type {
        case .uint8: return .uint8(try cursor.integer(UInt8.self, what))
        case .int8: return .int8(try cursor.integer(Int8.self, what))
        case .uint16: return .uint16(try cursor.integer(UInt16.self, what))
        case .int16: return .int16(try cursor.integer(Int16.self, what))
        case .uint32: return .uint32(try cursor.integer(UInt32.self, what))
        case .int32: return .int32(try cursor.integer(Int32.self, what))
        case .uint64: return .uint64(try cursor.integer(UInt64.self, what))
        case .int64: return .int64(try cursor.integer(Int64.self, what))
        case .float32: return .float32(try cursor.float32(what))
        case .float64: return .float64(try cursor.float64(what))
        case .bool: return .bool(try cursor.integer(UInt8.self, what) != 0)
        case .string: return .string(try cursor.string(what))
        case .array: return .array(try readArray(&cursor, key: key, depth: depth))
        }
    }

    /// An array: u32 element type, u64 count, the elements.
    private static func readArray(_ cursor: inout GGUFCursor, key: String, depth: Int) throws -> GGUFArray {
        let what = "array of metadata key '\(key)'"
        guard depth < maximumArrayDepth else {
            throw ModelFileError.invalidValue(file: cursor.file, what: what, reason: "arrays nested deeper than \(maximumArrayDepth) levels")
        }
        let code = try cursor.u32("element type of \(what)")
        guard let type = GGUFValueType(rawValue: code) else {
            throw ModelFileError.invalidValue(file: cursor.file, what: "element type of \(what)", reason: "unknown type code \(code)")
        }
        let rawCount = try cursor.u64("length of \(what)")
        let count = try cursor.plausibleCount(rawCount, minimumSize: type.minimumEncodedSize, "length of \(what)")
        switch type {
        case .uint8: return .uint8(try cursor.integers(UInt8.self, count: count, what))
        case .int8: return .int8(try cursor.integers(Int8.self, count: count, what))
        case .uint16: return .uint16(try cursor.integers(UInt16.self, count: count, what))
        case .int16: return .int16(try cursor.integers(Int16.self, count: count, what))
        case .uint32: return .uint32(try cursor.integers(UInt32.self, count: count, what))
        case .int32: return .int32(try cursor.integers(Int32.self, count: count, what))
        case .uint64: return .uint64(try cursor.integers(UInt64.self, count: count, what))
        case .int64: return .int64(try cursor.integers(Int64.self, count: count, what))
        case .float32: return .float32(try cursor.integers(UInt32.self, count: count, what).map(Float.init(bitPattern:)))
        case .float64: return .float64(try cursor.integers(UInt64.self, count: count, what).map(Double.init(bitPattern:)))
        case .bool: return .bool(try cursor.integers(UInt8.self, count: count, what).map { $0 != 0 })
        case .string:
            var strings: [String] = []
            strings.reserveCapacity(count)
            for index in 0..<count {
                strings.append(try cursor.string("element \(index) of \(what)"))
            }
            return .string(strings)
        case .array:
            var arrays: [GGUFArray] = []
            arrays.reserveCapacity(count)
            for _ in 0..<count {
                arrays.append(try readArray(&cursor, key: key, depth: depth + 1))
            }
            return .array(arrays)
        }
    }
}
