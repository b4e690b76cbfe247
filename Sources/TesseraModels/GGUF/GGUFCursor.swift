/// A bounds-checked little-endian reader over the bytes of a GGUF file.
///
/// Every read checks the remaining length first and throws `ModelFileError.truncated` naming
/// what was being read; counts read from the file are checked against the remaining bytes
/// before anything is allocated for them.
struct GGUFCursor {
    let bytes: UnsafeRawBufferPointer
    let file: String
    private(set) var offset = 0

    init(bytes: UnsafeRawBufferPointer, file: String) {
        self.bytes = bytes
        self.file = file
    }

    var remaining: Int { bytes.count - offset }

    /// Reserves `count` bytes for `what` and returns their start offset.
    mutating func take(_ count: Int, _ what: @autoclosure () -> String) throws -> Int {
        guard count >= 0, count <= remaining else {
            throw ModelFileError.truncated(file: file, what: what(), offset: offset, needed: count, fileSize: bytes.count)
        }
        let start = offset
        offset += count
        return start
    }

    mutating func skip(to newOffset: Int, _ what: @autoclosure () -> String) throws {
        _ = try take(newOffset - offset, what())
    }

    mutating func integer<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        let start = try take(MemoryLayout<T>.size, what())
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: start, as: T.self))
    }

    mutating func u32(_ what: @autoclosure () -> String) throws -> UInt32 { try integer(UInt32.self, what()) }
    mutating func u64(_ what: @autoclosure () -> String) throws -> UInt64 { try integer(UInt64.self, what()) }

    mutating func float32(_ what: @autoclosure () -> String) throws -> Float {
        Float(bitPattern: try integer(UInt32.self, what()))
    }

    mutating func float64(_ what: @autoclosure () -> String) throws -> Double {
        Double(bitPattern: try integer(UInt64.self, what()))
    }

    /// Checks a count read from the file against the bytes left: `count` items of at least
    /// `minimumSize` bytes each must fit. Returns the count as `Int`.
    func plausibleCount(_ count: UInt64, minimumSize: Int, _ what: @autoclosure () -> String) throws -> Int {
        let limit = UInt64(remaining / max(minimumSize, 1))
        guard count <= limit else {
            throw ModelFileError.implausibleCount(file: file, what: what(), count: count, remainingBytes: remaining)
        }
        return Int(count)
    }

    /// A GGUF string: u64 byte length, then UTF-8 bytes (invalid sequences are repaired with
    /// U+FFFD rather than rejected).
    mutating func string(_ what: @autoclosure () -> String) throws -> String {
        let length = try plausibleCount(try u64("length of \(what())"), minimumSize: 1, "length of \(what())")
        let start = try take(length, what())
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<start + length]), as: UTF8.self)
    }

    /// `count` consecutive little-endian integers.
    mutating func integers<T: FixedWidthInteger>(_: T.Type, count: Int, _ what: @autoclosure () -> String) throws -> [T] {
        let size = MemoryLayout<T>.size
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: size)
        guard !overflow else {
            throw ModelFileError.implausibleCount(file: file, what: what(), count: UInt64(count), remainingBytes: remaining)
        }
        let start = try take(byteCount, what())
        let bytes = self.bytes
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            for i in 0..<count {
                buffer[i] = T(littleEndian: bytes.loadUnaligned(fromByteOffset: start + i * size, as: T.self))
            }
            initialized = count
        }
    }
}
