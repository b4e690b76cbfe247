import Foundation
import TesseraTensor

/// The weights of a Hugging Face model folder: `model.safetensors`, or the shards listed in
/// `model.safetensors.index.json` (`{"weight_map": {"tensor name": "shard file name"}}`).
/// Hugging Face files are already in the layout `WeightSource` promises; nothing is permuted.
///
/// Tensors of non-float dtypes are left out of `tensorInfos`; loading one throws
/// `ModelFileError.unsupportedTensorType`.
public struct SafetensorsWeightSource: WeightSource {
    public static let singleFileName = "model.safetensors"
    public static let indexFileName = "model.safetensors.index.json"

    public let files: [SafetensorsFile]
    /// The folder, index or file the weights were opened from (named in errors).
    public let origin: String
    public let tensorInfos: [String: TensorInfo]
    private let locations: [String: (file: SafetensorsFile, info: SafetensorsTensorInfo)]

    /// Opens the weights of a Hugging Face folder, preferring the index when both exist.
    public init(folder: URL) throws {
        let index = folder.appendingPathComponent(Self.indexFileName)
        let single = folder.appendingPathComponent(Self.singleFileName)
        if FileManager.default.fileExists(atPath: index.path) {
            try self.init(index: index)
        } else if FileManager.default.fileExists(atPath: single.path) {
            try self.init(files: [SafetensorsFile(url: single)], origin: folder.path)
        } else {
            throw ModelFileError.missingFile(path: folder.path, what: "\(Self.singleFileName) or \(Self.indexFileName)")
        }
    }

    /// Opens every shard named in a `model.safetensors.index.json`.
    public init(index: URL) throws {
        let file = index.path
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(contentsOf: index))
        } catch {
            throw ModelFileError.invalidValue(file: file, what: "index JSON", reason: "\(error)")
        }
        guard let weightMap = (object as? [String: Any])?["weight_map"] as? [String: Any] else {
            throw ModelFileError.invalidValue(file: file, what: "index JSON", reason: "no \"weight_map\" object")
        }
        let folder = index.deletingLastPathComponent()
        var shards: [String: SafetensorsFile] = [:]
        var locations: [String: (file: SafetensorsFile, info: SafetensorsTensorInfo)] = [:]
        for (tensor, value) in weightMap.sorted(by: { $0.key < $1.key }) {
            guard let shard = value as? String, !shard.isEmpty, !shard.contains("/"), shard != "..", shard != "." else {
                throw ModelFileError.invalidValue(
                    file: file, what: "shard of tensor '\(tensor)'", reason: "'\(value)' is not a file name in the model folder")
            }
            if shards[shard] == nil {
                let url = folder.appendingPathComponent(shard)
                guard FileManager.default.fileExists(atPath: url.path) else {
                    throw ModelFileError.missingShard(file: file, shard: url.path, tensor: tensor)
                }
                shards[shard] = try SafetensorsFile(url: url)
            }
            let opened = shards[shard]!
            locations[tensor] = (opened, try opened.info(tensor))
        }
        self.files = shards.keys.sorted().map { shards[$0]! }
        self.origin = file
        self.locations = locations
        self.tensorInfos = Self.weightInfos(locations)
    }

    /// The tensors of several files; a name in more than one file is an error.
    public init(files: [SafetensorsFile], origin: String? = nil) throws {
        var locations: [String: (file: SafetensorsFile, info: SafetensorsTensorInfo)] = [:]
        for file in files {
            for (name, info) in file.tensors {
                if let other = locations[name] {
                    throw ModelFileError.duplicateName(
                        file: file.path, kind: "tensor (also in \(other.file.path))", name: name)
                }
                locations[name] = (file, info)
            }
        }
        self.files = files
        self.origin = origin ?? files.map(\.path).joined(separator: ", ")
        self.locations = locations
        self.tensorInfos = Self.weightInfos(locations)
    }

    private static func weightInfos(_ locations: [String: (file: SafetensorsFile, info: SafetensorsTensorInfo)]) -> [String: TensorInfo] {
        locations.compactMapValues { location in
            location.info.dtype.dtype.map { TensorInfo(name: location.info.name, shape: location.info.shape, dtype: $0) }
        }
    }

    public func load(_ name: String) throws -> Tensor {
        let (file, info) = try location(name)
        _ = try file.loadableDType(of: info)
        return try load(name, rows: 0..<(info.shape.first ?? 1))
    }

    public func load(_ name: String, rows: Range<Int>) throws -> Tensor {
        let (file, info) = try location(name)
        _ = try file.loadableDType(of: info)
        // A scalar is treated as one row of one element.
        let rowCount = info.shape.first ?? 1
        let rowLength = info.shape.dropFirst().reduce(1, *)
        guard rows.lowerBound >= 0, rows.upperBound <= rowCount else {
            throw ModelFileError.rowsOutOfRange(file: file.path, tensor: name, rows: rows, rowCount: rowCount)
        }
        let count = rows.count * rowLength
        let data = try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            try file.convert(info, elements: (rows.lowerBound * rowLength)..<(rows.upperBound * rowLength), into: buffer)
            initialized = count
        }
        let shape = info.shape.isEmpty ? (rows.count == 1 ? [] : [rows.count]) : [rows.count] + info.shape.dropFirst()
        return Tensor(shape: shape, data: data)
    }

    /// Converts only the requested columns of each row, straight from the mapped file.
    public func load(_ name: String, rows: Range<Int>, columns: Range<Int>) throws -> Tensor {
        let (file, info) = try location(name)
        _ = try file.loadableDType(of: info)
        let width = try checkSlice(name, rows: rows, columns: columns)
        let count = rows.count * columns.count
        let data = try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            for (index, row) in rows.enumerated() {
                let start = row * width + columns.lowerBound
                let slice = UnsafeMutableBufferPointer(rebasing: buffer[(index * columns.count)..<((index + 1) * columns.count)])
                try file.convert(info, elements: start..<(start + columns.count), into: slice)
            }
            initialized = count
        }
        return Tensor(shape: [rows.count, columns.count], data: data)
    }

    private func location(_ name: String) throws -> (SafetensorsFile, SafetensorsTensorInfo) {
        guard let location = locations[name] else {
            throw ModelFileError.missingTensor(file: origin, name: name)
        }
        return location
    }
}

extension SafetensorsWeightSource: StoredWeightSource {
    /// f16 and bf16 rows as stored: whole rows point into the mapping, column slices are
    /// copied. f32 tensors: nil (loaded as f32, which is what they are).
    package func stored(_ name: String, rows: Range<Int>, columns: Range<Int>?) throws -> WeightMatrix? {
        let (file, info) = try location(name)
        let dtype = try file.loadableDType(of: info)
        guard dtype != .f32, let rowCount = info.shape.first, rowCount > 0 else { return nil }
        let width = info.shape.dropFirst().reduce(1, *)
        let columns = columns ?? 0..<width
        _ = try checkSlice(name, rows: rows, columns: columns)
        guard !columns.isEmpty else { return nil }
        let bytes = file.rawBytes(of: info).baseAddress!
        let size = dtype.blockBytes
        if columns.count == width {
            return WeightMatrix(dtype: dtype, rows: rows.count, columns: width, bytes: bytes + rows.lowerBound * width * size,
                                owner: file.mapping)
        }
        let copy = StoredBytes(count: rows.count * columns.count * size)
        for (index, row) in rows.enumerated() {
            (copy.pointer + index * columns.count * size).copyMemory(
                from: bytes + (row * width + columns.lowerBound) * size, byteCount: columns.count * size)
        }
        return WeightMatrix(dtype: dtype, rows: rows.count, columns: columns.count, bytes: copy.pointer, owner: copy)
    }
}
