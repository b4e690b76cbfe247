/// Everything that can be wrong with a model file or folder. Every case names the file
/// (`file` is the path as opened) and says what was wrong with which part of it.
public enum ModelFileError: Error, CustomStringConvertible, Equatable {
    /// A file or folder the model needs is not there.
    case missingFile(path: String, what: String)
    /// The file exists but could not be opened or mapped.
    case unreadable(path: String, reason: String)
    /// Reading `what` needs `needed` bytes at `offset`, past the end of the file.
    case truncated(file: String, what: String, offset: Int, needed: Int, fileSize: Int)
    case badMagic(file: String, found: String)
    case unsupportedVersion(file: String, version: UInt32)
    /// A count read from the file (tensors, keys, array or string length) is larger than the
    /// rest of the file could possibly hold.
    case implausibleCount(file: String, what: String, count: UInt64, remainingBytes: Int)
    /// A structural value is invalid (type code, alignment, dimension count, JSON header, ...).
    case invalidValue(file: String, what: String, reason: String)
    case duplicateName(file: String, kind: String, name: String)
    case invalidShape(file: String, tensor: String, shape: [UInt64], reason: String)
    /// A tensor's bytes (absolute file offset and size) do not lie inside the file's data.
    case tensorOutOfBounds(file: String, tensor: String, offset: Int, size: Int, fileSize: Int)
    case misalignedTensor(file: String, tensor: String, offset: UInt64, alignment: Int)
    case unknownTensorType(file: String, tensor: String, code: UInt32)
    /// The tensor's element type is known but cannot be loaded (reported on load, not on open).
    case unsupportedTensorType(file: String, tensor: String, type: String)
    case missingTensor(file: String, name: String)
    case missingMetadata(file: String, key: String)
    /// A required field of a JSON file (config.json) is absent or null.
    case missingField(file: String, field: String)
    case wrongMetadataType(file: String, key: String, expected: String, found: String)
    case unsupportedArchitecture(file: String, architecture: String)
    /// A configuration value is missing a required property (positive, divisible, ...).
    case invalidConfig(file: String, field: String, value: String, reason: String)
    /// A configuration key is set to a value that changes the model's math in a way Tessera
    /// does not implement (sliding window, soft-capping, ...), so running would be wrong.
    case unsupportedConfig(file: String, key: String, value: String, reason: String)
    case unsupportedTokenizer(file: String, key: String, value: String)
    /// A shard named by a safetensors index does not exist.
    case missingShard(file: String, shard: String, tensor: String)
    case rowsOutOfRange(file: String, tensor: String, rows: Range<Int>, rowCount: Int)

    public var description: String {
        switch self {
        case let .missingFile(path, what):
            "\(path): \(what) not found"
        case let .unreadable(path, reason):
            "\(path): cannot read: \(reason)"
        case let .truncated(file, what, offset, needed, fileSize):
            "\(file): truncated: \(what) needs \(needed) bytes at offset \(offset), past end of file (\(fileSize) bytes)"
        case let .badMagic(file, found):
            "\(file): bad magic \(found), not a GGUF file"
        case let .unsupportedVersion(file, version):
            if version == 1 {
                "\(file): GGUF version 1 is not supported (only versions 2 and 3); re-convert the model with a current llama.cpp"
            } else if version.byteSwapped == 2 || version.byteSwapped == 3 {
                "\(file): big-endian GGUF (version \(version.byteSwapped)) is not supported"
            } else {
                "\(file): unsupported GGUF version \(version) (only versions 2 and 3)"
            }
        case let .implausibleCount(file, what, count, remaining):
            "\(file): implausible \(what): \(count) is more than the remaining \(remaining) bytes of the file could hold"
        case let .invalidValue(file, what, reason):
            "\(file): invalid \(what): \(reason)"
        case let .duplicateName(file, kind, name):
            "\(file): duplicate \(kind) '\(name)'"
        case let .invalidShape(file, tensor, shape, reason):
            "\(file): tensor '\(tensor)' has invalid shape \(shape): \(reason)"
        case let .tensorOutOfBounds(file, tensor, offset, size, fileSize):
            "\(file): tensor '\(tensor)' data (offset \(offset), \(size) bytes) extends past end of file (\(fileSize) bytes)"
        case let .misalignedTensor(file, tensor, offset, alignment):
            "\(file): tensor '\(tensor)' data offset \(offset) is not a multiple of the alignment \(alignment)"
        case let .unknownTensorType(file, tensor, code):
            "\(file): tensor '\(tensor)' has unknown type code \(code)"
        case let .unsupportedTensorType(file, tensor, type):
            "\(file): tensor '\(tensor)' has type \(type), which Tessera cannot load (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)"
        case let .missingTensor(file, name):
            "\(file): no tensor named '\(name)'"
        case let .missingMetadata(file, key):
            "\(file): missing metadata key '\(key)'"
        case let .missingField(file, field):
            "\(file): missing required field '\(field)'"
        case let .wrongMetadataType(file, key, expected, found):
            "\(file): metadata key '\(key)' should be \(expected) but is \(found)"
        case let .unsupportedArchitecture(file, architecture):
            "\(file): unsupported architecture '\(architecture)' (supported: llama, mistral, qwen2, qwen3, "
                + "deepseek_v2, deepseek_v3; GGUF: llama, qwen2, qwen3, deepseek2)"
        case let .invalidConfig(file, field, value, reason):
            "\(file): invalid \(field) = \(value): \(reason)"
        case let .unsupportedConfig(file, key, value, reason):
            "\(file): unsupported \(key) = \(value): \(reason)"
        case let .unsupportedTokenizer(file, key, value):
            "\(file): unsupported tokenizer: \(key) = '\(value)'"
        case let .missingShard(file, shard, tensor):
            "\(file): shard '\(shard)' (holding tensor '\(tensor)') not found"
        case let .rowsOutOfRange(file, tensor, rows, rowCount):
            "\(file): rows \(rows.lowerBound)..<\(rows.upperBound) of tensor '\(tensor)' are out of range (it has \(rowCount) rows)"
        }
    }
}
