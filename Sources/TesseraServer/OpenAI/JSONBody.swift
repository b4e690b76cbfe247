import Foundation
import NIOCore

/// The server's one JSON encoding, for bodies, stream events and errors alike: sorted keys
/// (stable output), slashes left unescaped.
enum JSONBody {
    static func encode(_ value: some Encodable) throws -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return ByteBuffer(data: try encoder.encode(value))
    }
}
