extension ModelConfig {
    /// The longest sequence (prompt + output) a run serves: `requested` (`--max-model-len`), or
    /// the model's maximum when nil. The one rule every command, the engine and the capacity
    /// report use; a request above the model's maximum is refused, naming both (as vLLM does).
    public func maxModelLen(requested: Int?) throws(MaxModelLenError) -> Int {
        guard let requested else { return maxPositionEmbeddings }
        guard requested >= 1 else { throw .notPositive(requested) }
        guard requested <= maxPositionEmbeddings else {
            throw .aboveModelMaximum(requested: requested, modelMaximum: maxPositionEmbeddings)
        }
        return requested
    }
}

public enum MaxModelLenError: Error, CustomStringConvertible, Equatable {
    case notPositive(Int)
    case aboveModelMaximum(requested: Int, modelMaximum: Int)

    public var description: String {
        switch self {
        case .notPositive(let value):
            "--max-model-len must be at least 1 (got \(value))"
        case let .aboveModelMaximum(requested, modelMaximum):
            "--max-model-len \(requested) is above the model's maximum of \(modelMaximum) tokens (max_position_embeddings)"
        }
    }
}
