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

/// An optional field sent as an explicit `null` while nil, as OpenAI sends `finish_reason`,
/// `logprobs` and an error's `param` and `code` (synthesized `Encodable` would leave it out).
@propertyWrapper
struct NullWhenNil<Value: Encodable>: Encodable {
    var wrappedValue: Value?

    init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(wrappedValue)
    }
}

extension NullWhenNil: Sendable where Value: Sendable {}
