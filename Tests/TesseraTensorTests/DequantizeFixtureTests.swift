import CTesseraKernels
import Foundation
import TestSupport
import Testing

/// `tk_dequantize_row` against gguf-py on real rows of every GGML type llama.cpp's quantiser
/// wrote from the default model (`Tests/Fixtures/quant/<TYPE>.json`, `make_fixtures.py --only
/// quant`): the f32 values must be the same bit patterns, and `tk_row_bytes` the stored size.
/// Runs at whatever instruction-set level is selected (the best one unless a serialized suite
/// is switching levels); it never changes the level itself.
@Suite struct DequantizeFixtureTests {
    /// A C enum constant as the Int32 the functions take.
    static func code(_ value: some BinaryInteger) -> Int32 { Int32(value) }

    /// Every fixture type with its `ggml_type` number as Tessera's header spells it.
    static let types: [(String, Int32)] = [
        ("F32", code(TK_F32)), ("F16", code(TK_F16)), ("BF16", code(TK_BF16)),
        ("Q4_0", code(TK_Q4_0)), ("Q4_1", code(TK_Q4_1)), ("Q5_0", code(TK_Q5_0)),
        ("Q5_1", code(TK_Q5_1)), ("Q8_0", code(TK_Q8_0)), ("IQ4_NL", code(TK_IQ4_NL)),
        ("Q2_K", code(TK_Q2_K)), ("Q3_K", code(TK_Q3_K)), ("Q4_K", code(TK_Q4_K)),
        ("Q5_K", code(TK_Q5_K)), ("Q6_K", code(TK_Q6_K)),
    ]

    struct Row {
        let tensor: String
        let index: Int
        let count: Int
        let bytes: [UInt8]
        /// gguf-py's values as f32 bit patterns.
        let bits: [UInt32]
    }

    struct Fixture {
        let typeID: Int
        let blockElements: Int
        let blockBytes: Int
        let rows: [Row]
    }

    enum ParseError: Error { case missing(String), badHex(String) }

    /// Hex digits to bytes ("0aff" -> [0x0a, 0xff]).
    static func bytes(hex: String) throws -> [UInt8] {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { throw ParseError.badHex("odd length") }
        func nibble(_ c: UInt8) throws -> UInt8 {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            default: throw ParseError.badHex("digit \(c)")
            }
        }
        return try stride(from: 0, to: digits.count, by: 2).map { try nibble(digits[$0]) << 4 | nibble(digits[$0 + 1]) }
    }

    /// Concatenated 8-digit words, each a value's bit pattern written most significant digit
    /// first (3f800000 is 1.0).
    static func words(hex: String) throws -> [UInt32] {
        let b = try bytes(hex: hex)
        guard b.count % 4 == 0 else { throw ParseError.badHex("not whole words") }
        return stride(from: 0, to: b.count, by: 4).map {
            UInt32(b[$0]) << 24 | UInt32(b[$0 + 1]) << 16 | UInt32(b[$0 + 2]) << 8 | UInt32(b[$0 + 3])
        }
    }

    static func load(_ name: String) throws -> Fixture {
        guard let doc = try Fixtures.json("quant/\(name).json") as? [String: Any],
              doc["type"] as? String == name,
              let typeID = doc["type_id"] as? Int,
              let blockElements = doc["block_elements"] as? Int,
              let blockBytes = doc["block_bytes"] as? Int,
              let rows = doc["rows"] as? [[String: Any]]
        else { throw ParseError.missing("quant/\(name).json: header") }
        let parsed = try rows.map { r -> Row in
            guard let tensor = r["tensor"] as? String, let index = r["row"] as? Int, let n = r["n"] as? Int,
                  let nBytes = r["n_bytes"] as? Int, let raw = r["bytes_hex"] as? String,
                  let values = r["values_bits_hex"] as? String
            else { throw ParseError.missing("quant/\(name).json: row") }
            let row = Row(tensor: tensor, index: index, count: n, bytes: try bytes(hex: raw), bits: try words(hex: values))
            guard row.bytes.count == nBytes, row.bits.count == n else { throw ParseError.missing("quant/\(name).json: sizes") }
            return row
        }
        return Fixture(typeID: typeID, blockElements: blockElements, blockBytes: blockBytes, rows: parsed)
    }

    /// `tk_dequantize_row` of `bytes` (`count` values) as bit patterns.
    static func dequantizedBits(_ type: Int32, _ bytes: [UInt8], count: Int) -> [UInt32] {
        var out = [Float](repeating: .nan, count: count)
        bytes.withUnsafeBytes { src in
            out.withUnsafeMutableBufferPointer { dst in
                tk_dequantize_row(type, src.baseAddress, dst.baseAddress, Int64(count))
            }
        }
        return out.map(\.bitPattern)
    }

    /// Indices where two bit-pattern arrays differ, with the first few spelled out.
    static func mismatches(_ got: [UInt32], _ want: [UInt32]) -> (count: Int, first: String) {
        let bad = zip(got, want).enumerated().filter { $0.element.0 != $0.element.1 }
        let first = bad.prefix(4).map {
            "[\($0.offset)] \(String($0.element.0, radix: 16)) (\(Float(bitPattern: $0.element.0))) != "
                + "\(String($0.element.1, radix: 16)) (\(Float(bitPattern: $0.element.1)))"
        }
        return (bad.count + abs(got.count - want.count), first.joined(separator: "; "))
    }

    @Test(arguments: types)
    func headerAgreesWithGGML(name: String, type: Int32) throws {
        let f = try Self.load(name)
        #expect(Int(type) == f.typeID, "ggml type number of \(name)")
        #expect(tk_type_supported(type) == 1, "\(name) not supported")
        #expect(tk_block_elements(type) == Int64(f.blockElements), "\(name) block elements")
        #expect(tk_block_bytes(type) == f.blockBytes, "\(name) block bytes")
    }

    @Test(arguments: types)
    func rowBytes(name: String, type: Int32) throws {
        let f = try Self.load(name)
        #expect(!f.rows.isEmpty)
        for row in f.rows {
            #expect(tk_row_bytes(type, Int64(row.count)) == row.bytes.count, "\(name) \(row.tensor) row \(row.index)")
            if f.blockElements > 1 {
                // not a whole number of blocks
                #expect(tk_row_bytes(type, Int64(row.count + 1)) == 0, "\(name): \(row.count + 1) values")
            }
        }
    }

    /// Each row alone, and all rows in one call (rows are whole blocks, stored back to back).
    @Test(arguments: types)
    func valuesBitForBit(name: String, type: Int32) throws {
        let f = try Self.load(name)
        for row in f.rows {
            let got = Self.dequantizedBits(type, row.bytes, count: row.count)
            let (count, first) = Self.mismatches(got, row.bits)
            #expect(count == 0, "\(name) \(row.tensor) row \(row.index): \(count) of \(row.count) differ: \(first)")
        }
        let got = Self.dequantizedBits(type, f.rows.flatMap(\.bytes), count: f.rows.reduce(0) { $0 + $1.count })
        let (count, first) = Self.mismatches(got, f.rows.flatMap(\.bits))
        #expect(count == 0, "\(name), rows together: \(count) differ: \(first)")
    }

    /// The fixtures are not degenerate: every row has many distinct values and (but for F32,
    /// whose only tensors are RMSNorm weights, all positive) values of both signs, so a
    /// dequantiser that returns zeros or drops a sign or field cannot pass by accident.
    @Test(arguments: types)
    func fixtureRowsAreInformative(name: String, type: Int32) throws {
        let f = try Self.load(name)
        for row in f.rows {
            let values = row.bits.map { Float(bitPattern: $0) }
            let finite = values.allSatisfy { $0.isFinite }
            #expect(finite, "\(name) row \(row.index)")
            let bothSigns = values.contains { $0 > 0 } && values.contains { $0 < 0 }
            #expect(bothSigns || name == "F32", "\(name) row \(row.index)")
            #expect(Set(row.bits).count > 8, "\(name) row \(row.index): \(Set(row.bits).count) distinct values")
        }
    }
}
