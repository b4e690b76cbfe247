/// Typed access to metadata, with errors that name the file and key.
extension GGUFFile {
    /// The architecture prefix of the model keys (`general.architecture`, e.g. `llama`).
    public func architectureName() throws -> String {
        try string("general.architecture")
    }

    public func string(_ key: String) throws -> String {
        let value = try required(key)
        guard let string = value.stringValue else { throw wrongType(key, "STRING", value) }
        return string
    }

    public func optionalString(_ key: String) throws -> String? {
        try metadata[key] == nil ? nil : string(key)
    }

    /// A value of any integer type that fits in `Int`.
    public func int(_ key: String) throws -> Int {
        let value = try required(key)
        guard let int = value.intValue else { throw wrongType(key, "an integer", value) }
        return int
    }

    public func optionalInt(_ key: String) throws -> Int? {
        try metadata[key] == nil ? nil : int(key)
    }

    /// A float32 or float64 value (integers are accepted too, since writers differ).
    public func double(_ key: String) throws -> Double {
        let value = try required(key)
        if let double = value.doubleValue { return double }
        if let int = value.intValue { return Double(int) }
        throw wrongType(key, "a float", value)
    }

    public func optionalDouble(_ key: String) throws -> Double? {
        try metadata[key] == nil ? nil : double(key)
    }

    public func optionalBool(_ key: String) throws -> Bool? {
        guard let value = metadata[key] else { return nil }
        guard let bool = value.boolValue else { throw wrongType(key, "BOOL", value) }
        return bool
    }

    public func stringArray(_ key: String) throws -> [String] {
        let value = try required(key)
        guard let strings = value.arrayValue?.strings else { throw wrongType(key, "ARRAY[STRING]", value) }
        return strings
    }

    public func integerArray(_ key: String) throws -> [Int] {
        let value = try required(key)
        guard let ints = value.arrayValue?.integers else { throw wrongType(key, "an integer array", value) }
        return ints
    }

    private func required(_ key: String) throws -> GGUFValue {
        guard let value = metadata[key] else { throw ModelFileError.missingMetadata(file: path, key: key) }
        return value
    }

    private func wrongType(_ key: String, _ expected: String, _ value: GGUFValue) -> ModelFileError {
        .wrongMetadataType(file: path, key: key, expected: expected, found: value.typeName)
    }
}
