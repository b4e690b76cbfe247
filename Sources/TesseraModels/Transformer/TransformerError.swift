/// What was wrong with a model's weights or a forward batch.
public enum TransformerError: Error, CustomStringConvertible, Equatable {
    case invalidConfig(String)
    case missingWeight(String)
    case shapeMismatch(name: String, expected: [Int], actual: [Int])
    case invalidBatch(String)

    public var description: String {
        switch self {
        case .invalidConfig(let why): "invalid model config: \(why)"
        case .missingWeight(let name): "weight \(name) is missing from the model file"
        case .shapeMismatch(let name, let expected, let actual):
            "weight \(name) has shape \(actual), expected \(expected)"
        case .invalidBatch(let why): "invalid forward batch: \(why)"
        }
    }
}
