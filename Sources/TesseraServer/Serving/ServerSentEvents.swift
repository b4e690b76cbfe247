import NIOCore

/// `data: <json>\n\n` framing of the streamed responses.
enum ServerSentEvents {
    static let done = ByteBuffer(string: "data: [DONE]\n\n")

    static func data(_ value: any Encodable) throws -> ByteBuffer {
        data(try JSONBody.encode(value))
    }

    static func data(_ json: ByteBuffer) -> ByteBuffer {
        var buffer = ByteBuffer(string: "data: ")
        var json = json
        buffer.writeBuffer(&json)
        buffer.writeString("\n\n")
        return buffer
    }
}
