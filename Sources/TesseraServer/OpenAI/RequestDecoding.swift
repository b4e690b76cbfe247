import Foundation

/// Decodes a request body, turning every decoding failure into a 400 that names the field.
enum RequestDecoding {
    static func decode<T: Decodable>(_ type: T.Type, from body: Data) throws(APIError) -> T {
        guard !body.isEmpty else { throw .invalid("The request body is empty: send a JSON object.", param: nil) }
        do {
            return try JSONDecoder().decode(T.self, from: body)
        } catch let error as DecodingError {
            if case .dataCorrupted(let context) = error, context.codingPath.isEmpty,
               let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] {
                throw culprit(T.self, in: object)
            }
            throw apiError(error)
        } catch {
            throw .invalid("The request body is not valid JSON: \(error.localizedDescription)", param: nil)
        }
    }

    /// Foundation's decoder reports a number that does not fit its field (1.5 for an integer)
    /// as "not valid JSON" with no path. The body is valid JSON, so the field at fault is the one
    /// whose removal makes that error go away.
    private static func culprit<T: Decodable>(_ type: T.Type, in object: [String: Any]) -> APIError {
        for key in object.keys.sorted() {
            var without = object
            without[key] = nil
            guard let data = try? JSONSerialization.data(withJSONObject: without) else { continue }
            do { _ = try JSONDecoder().decode(T.self, from: data) } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
                continue
            } catch DecodingError.keyNotFound(let missing, let context) where context.codingPath.isEmpty && missing.stringValue == key {
                // A required field: without it decoding stops before reaching the culprit, so this says nothing.
                continue
            } catch {}
            return .invalid("'\(key)' has a value of the wrong kind (e.g. a fraction where an integer belongs).", param: key)
        }
        return .invalid("The request body could not be read: a value does not fit its field.", param: nil)
    }

    /// `messages[1].content` from a coding path.
    static func fieldName(_ path: [any CodingKey]) -> String {
        var name = ""
        for key in path {
            if let index = key.intValue {
                name += "[\(index)]"
            } else {
                name += name.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return name
    }

    static func apiError(_ error: DecodingError) -> APIError {
        switch error {
        case .keyNotFound(let key, let context):
            let field = fieldName(context.codingPath + [key])
            return .invalid("'\(field)' is required.", param: field)
        case .valueNotFound(_, let context):
            let field = fieldName(context.codingPath)
            return .invalid("'\(field)' must not be null.", param: field)
        case .typeMismatch(let type, let context):
            let field = fieldName(context.codingPath)
            if field.isEmpty { return .invalid("The request body must be a JSON object.", param: nil) }
            return .invalid("'\(field)' \(expectation(type, context))", param: field)
        case .dataCorrupted(let context):
            let field = fieldName(context.codingPath)
            if field.isEmpty {
                return .invalid("The request body is not valid JSON.", param: nil)
            }
            return .invalid("'\(field)' is invalid: \(context.debugDescription)", param: field)
        @unknown default:
            return .invalid("The request body could not be read.", param: nil)
        }
    }

    /// "must be a number" and the like, from the type the decoder wanted.
    private static func expectation(_ type: Any.Type, _ context: DecodingError.Context) -> String {
        switch type {
        case is String.Type: "must be a string."
        case is Bool.Type: "must be a boolean."
        case is Int.Type: "must be an integer."
        case is Double.Type, is Float.Type: "must be a number."
        case is PromptInput.Type, is StopInput.Type, is MessageContent.Type: context.debugDescription + "."
        default:
            if "\(type)".hasPrefix("Array") { "must be an array." }
            else if "\(type)".hasPrefix("Dictionary") { "must be an object." }
            else { "must be an object." }
        }
    }
}
