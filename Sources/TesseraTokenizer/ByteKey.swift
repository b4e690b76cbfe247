/// A byte string as a dictionary key, hashed in one call over its bytes (`[UInt8]`'s own
/// `Hashable` feeds the hasher one byte at a time, which dominated word-cache lookups).
/// Equality is byte equality, never `String`'s canonical equivalence.
struct ByteKey: Hashable, Sendable {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    init(_ buffer: UnsafeBufferPointer<UInt8>) { self.bytes = Array(buffer) }

    func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    static func == (a: ByteKey, b: ByteKey) -> Bool { a.bytes == b.bytes }
}
