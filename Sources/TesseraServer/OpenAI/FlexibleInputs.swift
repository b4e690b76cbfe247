/// The `prompt` of a completion request: OpenAI accepts a string, a list of strings, a list of
/// token ids, or a list of lists of token ids (each list entry is one prompt).
enum PromptInput: Decodable, Equatable {
    case texts([String])
    case tokenLists([[Int]])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self = .texts([text])
        } else if let texts = try? container.decode([String].self) {
            self = .texts(texts)
        } else if let ids = try? container.decode([Int].self) {
            self = .tokenLists([ids])
        } else if let lists = try? container.decode([[Int]].self) {
            self = .tokenLists(lists)
        } else {
            throw DecodingError.typeMismatch(PromptInput.self, .init(
                codingPath: decoder.codingPath,
                debugDescription: "must be a string, an array of strings, an array of token ids or an array of arrays of token ids"))
        }
    }

    var count: Int {
        switch self {
        case .texts(let texts): texts.count
        case .tokenLists(let lists): lists.count
        }
    }
}

/// `stop`: one string or a list of them.
struct StopInput: Decodable, Equatable {
    let strings: [String]

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let one = try? container.decode(String.self) {
            strings = [one]
        } else if let many = try? container.decode([String].self) {
            strings = many
        } else {
            throw DecodingError.typeMismatch(StopInput.self, .init(
                codingPath: decoder.codingPath, debugDescription: "must be a string or an array of strings"))
        }
    }
}

/// A chat message's `content`: a string, or a list of parts of which only text parts are
/// understood here (this server serves text models).
struct MessageContent: Decodable, Equatable {
    let text: String

    private struct Part: Decodable {
        let type: String
        let text: String?
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self.text = text
            return
        }
        guard let parts = try? container.decode([Part].self) else {
            throw DecodingError.typeMismatch(MessageContent.self, .init(
                codingPath: decoder.codingPath,
                debugDescription: "must be a string or an array of content parts ({\"type\": \"text\", \"text\": ...})"))
        }
        var text = ""
        for (index, part) in parts.enumerated() {
            guard part.type == "text", let partText = part.text else {
                throw DecodingError.dataCorrupted(.init(
                    codingPath: decoder.codingPath + [IndexKey(index)],
                    debugDescription: "content parts of type '\(part.type)' are not supported: only text parts"))
            }
            text += partText
        }
        self.text = text
    }
}

struct StreamOptions: Decodable, Equatable {
    var includeUsage: Bool?

    enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
}

/// A coding-path entry for an array index, for error messages such as `messages[2].content`.
struct IndexKey: CodingKey {
    let intValue: Int?
    let stringValue: String

    init(_ index: Int) {
        intValue = index
        stringValue = "Index \(index)"
    }

    init?(intValue: Int) { self.init(intValue) }
    init?(stringValue: String) { nil }
}
