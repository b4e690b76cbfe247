import Foundation

/// Byte counts as people write them on a command line (`--kv-cache-memory 4GiB`).
///
/// - A plain number is bytes: `13609107456`; `B` may be appended.
/// - `KiB`, `MiB`, `GiB`, `TiB` are binary (powers of 1024); `KB`, `MB`, `GB`, `TB` decimal
///   (powers of 1000), as in the SI and IEC standards. Units ignore case; a space may
///   separate number and unit.
/// - A fraction is allowed with a unit (`1.5GB`) and rounded down to whole bytes; a plain
///   byte count must be whole.
/// - A bare `K`, `M`, `G` or `T` is rejected: tools disagree on whether `2G` is 2·10⁹ or
///   2·2³⁰ bytes, a 7% difference, and a KV-cache budget silently 7% too large fails late.
///   The error spells out both readings.
public enum MemorySize {
    private static let units: [String: Int] = [
        "": 1, "b": 1,
        "kb": 1_000, "mb": 1_000_000, "gb": 1_000_000_000, "tb": 1_000_000_000_000,
        "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
    ]
    private static let ambiguous: Set<String> = ["k", "m", "g", "t"]

    /// Bytes denoted by `text`; see the type's documentation for the accepted forms.
    public static func parse(_ text: String) throws(MemorySizeError) -> Int {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw .invalidNumber(text: text) }
        let numberEnd = trimmed.firstIndex { !($0.isASCII && ($0.isNumber || $0 == ".")) } ?? trimmed.endIndex
        let number = trimmed[..<numberEnd]
        let unit = trimmed[numberEnd...].trimmingCharacters(in: .whitespaces).lowercased()

        let parts = number.split(separator: ".", omittingEmptySubsequences: false)
        guard !number.isEmpty, parts.count <= 2, parts.contains(where: { !$0.isEmpty }) else {
            throw .invalidNumber(text: text)
        }
        let integerDigits = parts[0]
        // Digits past 18 change the result by far less than a byte and would overflow.
        let fractionDigits = parts.count == 2 ? parts[1].prefix(18) : ""

        if ambiguous.contains(unit) {
            let binary = try? parse(String(number) + unit + "ib")
            let decimal = try? parse(String(number) + unit + "b")
            throw .ambiguousUnit(text: text, unit: unit.uppercased(), number: String(number),
                                 binaryBytes: binary, decimalBytes: decimal)
        }
        guard let multiplier = units[unit] else {
            throw .unknownUnit(text: text, unit: String(trimmed[numberEnd...]).trimmingCharacters(in: .whitespaces))
        }
        if multiplier == 1 && fractionDigits.contains(where: { $0 != "0" }) {
            throw .fractionalBytes(text: text)
        }

        guard let whole = integerDigits.isEmpty ? 0 : Int(integerDigits) else { throw .overflow(text: text) }
        let (wholeBytes, overflow) = whole.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { throw .overflow(text: text) }
        guard !fractionDigits.isEmpty, let fraction = Int(fractionDigits) else { return wholeBytes }
        // floor(fraction * multiplier / 10^digits) in 128-bit arithmetic; the quotient is
        // below `multiplier`, so it fits.
        var scale = 1
        for _ in 0..<fractionDigits.count { scale *= 10 }
        let product = fraction.multipliedFullWidth(by: multiplier)
        let fractionBytes = scale.dividingFullWidth((product.high, product.low)).quotient
        let (total, overflowTotal) = wholeBytes.addingReportingOverflow(fractionBytes)
        guard !overflowTotal else { throw .overflow(text: text) }
        return total
    }

    /// `bytes` in the largest binary unit that keeps the number >= 1, with two decimals:
    /// `12.67 GiB`, `512 B`.
    public static func format(_ bytes: Int) -> String {
        let names = ["KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = "B"
        for name in names where abs(value) >= 1024 {
            value /= 1024
            unit = name
        }
        return unit == "B" ? "\(bytes) B" : String(format: "%.2f", value) + " " + unit
    }
}

/// Why a memory size did not parse; each message quotes the text.
public enum MemorySizeError: Error, CustomStringConvertible, Equatable {
    case invalidNumber(text: String)
    case unknownUnit(text: String, unit: String)
    /// `K`, `M`, `G` or `T` alone; the two readings are given when they are representable.
    case ambiguousUnit(text: String, unit: String, number: String, binaryBytes: Int?, decimalBytes: Int?)
    case fractionalBytes(text: String)
    case overflow(text: String)

    private static let accepted = "a number of bytes, optionally with a unit: B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024)"

    public var description: String {
        switch self {
        case let .invalidNumber(text):
            return "invalid memory size \"\(text)\": expected \(Self.accepted)"
        case let .unknownUnit(text, unit):
            return "invalid memory size \"\(text)\": unknown unit \"\(unit)\"; expected \(Self.accepted)"
        case let .ambiguousUnit(text, unit, number, binaryBytes, decimalBytes):
            let binary = binaryBytes.map { " (\($0) bytes)" } ?? ""
            let decimal = decimalBytes.map { " (\($0) bytes)" } ?? ""
            return "ambiguous memory size \"\(text)\": unit \"\(unit)\" could mean powers of 1024 or 1000; "
                + "write \"\(number)\(unit)iB\"\(binary) or \"\(number)\(unit)B\"\(decimal)"
        case let .fractionalBytes(text):
            return "invalid memory size \"\(text)\": a byte count must be a whole number (add a unit, e.g. KiB, for fractions)"
        case let .overflow(text):
            return "memory size \"\(text)\" is too large"
        }
    }
}
