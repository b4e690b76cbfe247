import Foundation
import TestSupport
import Testing
@testable import TesseraTensor

@Suite struct DequantizeTests {
    // MARK: - 16-bit floats

    /// Every finite and infinite half converts to the same float as the platform's Float16.
    @Test func halfToFloatMatchesFloat16ForEveryNonNaN() {
        #if arch(x86_64) || arch(arm64)
        var mismatches = 0
        for bits in 0...UInt16.max {
            let half = Float16(bitPattern: bits)
            guard !half.isNaN else { continue }
            if FloatConversion.halfToFloat(bits).bitPattern != Float(half).bitPattern { mismatches += 1 }
        }
        #expect(mismatches == 0)
        #endif
    }

    @Test func halfEdgeCases() {
        #expect(FloatConversion.halfToFloat(0x0000).bitPattern == 0x0000_0000)
        #expect(FloatConversion.halfToFloat(0x8000).bitPattern == 0x8000_0000)   // -0
        #expect(FloatConversion.halfToFloat(0x0001) == 0x1p-24)                    // smallest subnormal
        #expect(FloatConversion.halfToFloat(0x83FF) == -Float(0x3FF) * 0x1p-24)    // largest negative subnormal
        #expect(FloatConversion.halfToFloat(0x0400) == 0x1p-14)                    // smallest normal
        #expect(FloatConversion.halfToFloat(0x7BFF) == 65504)
        #expect(FloatConversion.halfToFloat(0x7C00) == .infinity)
        #expect(FloatConversion.halfToFloat(0xFC00) == -.infinity)
        // NaN payloads survive unquietened, as in NumPy: 0x7C01 -> 0x7F802000.
        #expect(FloatConversion.halfToFloat(0x7C01).bitPattern == 0x7F80_2000)
        #expect(FloatConversion.halfToFloat(0xFE00).bitPattern == 0xFFC0_0000)
    }

    @Test func bfloat16IsTheUpperHalf() {
        #expect(FloatConversion.bfloat16ToFloat(0x3F80) == 1)
        #expect(FloatConversion.bfloat16ToFloat(0xC0A0) == -5)
        #expect(FloatConversion.bfloat16ToFloat(0x7F80) == .infinity)
        #expect(FloatConversion.bfloat16ToFloat(0x0001).bitPattern == 0x0001_0000)   // subnormal
        #expect(FloatConversion.bfloat16ToFloat(0x7FC1).bitPattern == 0x7FC1_0000)
    }

    // MARK: - Block layouts, by hand

    private func dequantize(_ dtype: DType, _ bytes: [UInt8], count: Int) -> [Float] {
        bytes.withUnsafeBytes { Dequantize.floats(dtype, from: $0, count: count) }
    }

    @Test func q8_0Block() {
        // d = 0.5 (f16 0x3800), q = -16 ... 15
        let qs = (0..<32).map { UInt8(bitPattern: Int8($0 - 16)) }
        let out = dequantize(.q8_0, [0x00, 0x38] + qs, count: 32)
        #expect(out == (0..<32).map { Float($0 - 16) * 0.5 })
    }

    @Test func q4_0NibbleOrder() {
        // d = 2 (0x4000); byte j holds element j (low nibble) and element j + 16 (high nibble).
        let qs: [UInt8] = (0..<16).map { (j: Int) -> UInt8 in UInt8(j) | (UInt8(15 - j) << 4) }
        let out = dequantize(.q4_0, [0x00, 0x40] + qs, count: 32)
        let low: [Float] = (0..<16).map { Float($0 - 8) * 2 }
        let high: [Float] = (0..<16).map { Float(7 - $0) * 2 }
        let expected = low + high
        #expect(out == expected)
    }

    @Test func q4_1ScaleAndMinimum() {
        // d = 0.25 (0x3400), m = -1 (0xBC00), two blocks; the second has d = 0, m = 0.75 (0x3A00).
        let qs: [UInt8] = (0..<16).map { (j: Int) -> UInt8 in UInt8(j) | (UInt8(j) << 4) }
        let block1: [UInt8] = [0x00, 0x34, 0x00, 0xBC] + qs
        let block2: [UInt8] = [0x00, 0x00, 0x00, 0x3A] + [UInt8](repeating: 0xAB, count: 16)
        let out = dequantize(.q4_1, block1 + block2, count: 64)
        let first: [Float] = (0..<16).map { Float($0) * 0.25 - 1 }
        #expect(Array(out[0..<32]) == first + first)
        #expect(Array(out[32..<64]) == [Float](repeating: 0.75, count: 32))
    }

    @Test func f16AndBF16Arrays() {
        let f16: [UInt8] = [0x00, 0x3C, 0x00, 0xC0, 0x01, 0x00]   // 1, -2, smallest subnormal
        #expect(dequantize(.f16, f16, count: 3) == [1, -2, 0x1p-24])
        let bf16: [UInt8] = [0x80, 0x3F, 0x40, 0xC0]                // 1, -3
        #expect(dequantize(.bf16, bf16, count: 2) == [1, -3])
    }

    @Test func unalignedSourceIsFine() {
        // Mapped tensors can start at any offset; loads must not assume alignment.
        let bytes: [UInt8] = [0xFF, 0x00, 0x00, 0x80, 0x3F]        // f32 1.0 at offset 1
        let out = bytes.withUnsafeBytes { Dequantize.floats(.f32, from: UnsafeRawBufferPointer(rebasing: $0[1...]), count: 1) }
        #expect(out == [1])
    }

    // MARK: - gguf-py reference (Tests/Fixtures/gguf)

    /// Every tensor of quant_types.gguf, read straight from the bytes at the offsets the meta
    /// JSON gives (independently of the GGUF reader), equals gguf-py's dequantisation bit for bit.
    @Test func matchesGGUFPyBitForBit() throws {
        let meta = try #require(Fixtures.json("gguf/quant_types_meta.json") as? [String: Any])
        let files = try #require(meta["files"] as? [String: Any])
        let reference = try MiniSafetensors(url: Fixtures.url("gguf/quant_types_ref.safetensors"))
        for fileName in ["quant_types.gguf", "quant_types_align64.gguf"] {
            let info = try #require(files[fileName] as? [String: Any])
            let dataStart = try #require(info["tensor_data_offset"] as? Int)
            let tensors = try #require(info["tensors"] as? [[String: Any]])
            let bytes = try Data(contentsOf: Fixtures.url("gguf/\(fileName)"))
            #expect(tensors.count == 11)
            for tensor in tensors {
                let name = try #require(tensor["name"] as? String)
                let typeName = try #require(tensor["type"] as? String)
                let dtype = try #require(DType(rawValue: typeName.lowercased()))
                let count = try #require(tensor["n_elements"] as? Int)
                let start = dataStart + (try #require(tensor["offset"] as? Int))
                let nBytes = try #require(tensor["n_bytes"] as? Int)
                #expect(dtype.byteCount(elements: count) == nBytes)
                let ours = bytes.withUnsafeBytes {
                    Dequantize.floats(dtype, from: UnsafeRawBufferPointer(rebasing: $0[start..<start + nBytes]), count: count)
                }
                let expected = try reference.floats(name)
                #expect(ours.map(\.bitPattern) == expected.map(\.bitPattern), "\(fileName) \(name) (\(typeName))")
            }
        }
    }
}

/// Just enough of a safetensors reader for F32 reference arrays, so these tests do not depend
/// on TesseraModels.
private struct MiniSafetensors {
    let data: Data
    let header: [String: Any]
    let dataStart: Int

    init(url: URL) throws {
        data = try Data(contentsOf: url)
        let length = data.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        header = try #require(try JSONSerialization.jsonObject(with: data[8..<8 + length]) as? [String: Any])
        dataStart = 8 + length
    }

    func floats(_ name: String) throws -> [Float] {
        let entry = try #require(header[name] as? [String: Any])
        #expect(entry["dtype"] as? String == "F32")
        let offsets = try #require(entry["data_offsets"] as? [Int])
        let start = dataStart
        return data.withUnsafeBytes { raw in
            (0..<(offsets[1] - offsets[0]) / 4).map {
                Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: start + offsets[0] + $0 * 4, as: UInt32.self)))
            }
        }
    }
}
