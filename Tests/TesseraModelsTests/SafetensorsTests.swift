import Foundation
import TestSupport
import Testing
@testable import TesseraModels
import TesseraTensor

@Suite struct SafetensorsTests {
    @Test func readsFixtureArrays() throws {
        let file = try SafetensorsFile(url: Fixtures.url("logits/tiny-llama.safetensors"))
        let ids = try file.integers("prompt1.ids")
        #expect(ids.count == 7)
        #expect(try file.info("prompt1.ids").dtype == .i32)
        let logits = try file.tensor("prompt1.logits")
        #expect(logits.shape == [7, 1000])
        #expect(logits.data.allSatisfy { $0.isFinite })
        // Floats are not integers and vice versa.
        #expect(throws: ModelFileError.self) { try file.integers("prompt1.logits") }
        #expect(throws: ModelFileError.self) { try file.floats("prompt1.ids") }
    }

    @Test func singleFileFolderInF16() throws {
        let weights = try SafetensorsWeightSource(folder: Fixtures.url("models/tiny-llama"))
        #expect(weights.tensorInfos.count == 21)
        let q = try #require(weights.tensorInfos["model.layers.0.self_attn.q_proj.weight"])
        #expect(q.dtype == .f16)
        #expect(q.shape == [64, 64])
        #expect(weights.tensorInfos["model.layers.1.self_attn.k_proj.weight"]?.shape == [16, 64])
        try expectRowReadsAgree(weights)
    }

    @Test func bf16Folder() throws {
        let weights = try SafetensorsWeightSource(folder: Fixtures.url("models/tiny-qwen3"))
        #expect(weights.tensorInfos["model.layers.0.self_attn.q_norm.weight"]?.dtype == .bf16)
        #expect(weights.tensorInfos["lm_head.weight"] == nil)
        try expectRowReadsAgree(weights)
    }

    @Test func shardedFolder() throws {
        let weights = try SafetensorsWeightSource(folder: Fixtures.url("models/tiny-llama-1kv"))
        #expect(weights.files.count == 2)
        #expect(weights.tensorInfos.count == 30)
        #expect(weights.tensorInfos["lm_head.weight"]?.shape == [1000, 64])
        #expect(weights.tensorInfos["model.layers.2.self_attn.k_proj.weight"]?.shape == [8, 64])
        try expectRowReadsAgree(weights)
    }

    /// For every tensor, reading a range of rows equals slicing the whole tensor.
    private func expectRowReadsAgree(_ weights: some WeightSource) throws {
        for (name, info) in weights.tensorInfos {
            let whole = try weights.load(name)
            #expect(whole.shape == info.shape)
            #expect(whole.data.allSatisfy { $0.isFinite })
            let rows = info.shape[0]
            let width = whole.count / rows
            let range = (rows / 3)..<(rows - rows / 4)
            let part = try weights.load(name, rows: range)
            #expect(part.shape == [range.count] + info.shape.dropFirst())
            #expect(part.data == Array(whole.data[(range.lowerBound * width)..<(range.upperBound * width)]), "\(name)")
        }
    }

    @Test func dtypeConversionsAndIntegers() throws {
        let half: [UInt16] = [0x3C00, 0xC000, 0x0001, 0x7C00]        // 1, -2, 2^-24, inf
        let bf: [UInt16] = [0x3F80, 0xC040]                            // 1, -3
        let url = try TestSafetensors.write([
            .init(name: "h", dtype: "F16", shape: [2, 2], bytes: TestSafetensors.bytes(half)),
            .init(name: "b", dtype: "BF16", shape: [2], bytes: TestSafetensors.bytes(bf)),
            .init(name: "i64", dtype: "I64", shape: [3], bytes: TestSafetensors.bytes([Int64(-5), 1 << 40, 7])),
            .init(name: "u8", dtype: "U8", shape: [2], bytes: [3, 250]),
            .init(name: "scalar", dtype: "F32", shape: [], bytes: TestSafetensors.bytes([Float(2.5).bitPattern])),
        ], metadata: ["format": "pt"])
        let file = try SafetensorsFile(url: url)
        #expect(file.metadata == ["format": "pt"])
        #expect(try file.floats("h") == [1, -2, 0x1p-24, .infinity])
        #expect(try file.floats("b") == [1, -3])
        #expect(try file.integers("i64") == [-5, 1 << 40, 7])
        #expect(try file.integers("u8") == [3, 250])
        let weights = try SafetensorsWeightSource(files: [file])
        #expect(weights.tensorInfos.keys.sorted() == ["b", "h", "scalar"])
        #expect(try weights.load("h", rows: 1..<2) == Tensor(shape: [1, 2], data: [0x1p-24, .infinity]))
        #expect(try weights.load("scalar") == Tensor(shape: [], data: [2.5]))
        let error = try #require(throws: ModelFileError.self) { try weights.load("i64") }
        #expect(error.description.contains("tensor 'i64' has type I64"))
        let missing = try #require(throws: ModelFileError.self) { try weights.load("nope") }
        #expect(missing.description.contains("no tensor named 'nope'"))
        let rows = try #require(throws: ModelFileError.self) { try weights.load("h", rows: 1..<3) }
        #expect(rows.description.contains("out of range"))
    }

    @Test func duplicateTensorAcrossFiles() throws {
        let a = try SafetensorsFile(url: TestSafetensors.write([.init(name: "w", dtype: "F32", shape: [1], bytes: [0, 0, 0, 0])]))
        let b = try SafetensorsFile(url: TestSafetensors.write([.init(name: "w", dtype: "F32", shape: [1], bytes: [0, 0, 0, 0])]))
        let error = try #require(throws: ModelFileError.self) { try SafetensorsWeightSource(files: [a, b]) }
        #expect(error.description.contains("duplicate tensor"))
    }
}

/// Writes safetensors files in tests.
enum TestSafetensors {
    struct Entry {
        var name: String
        var dtype: String
        var shape: [Int]
        var bytes: [UInt8]
    }

    static func bytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        var out: [UInt8] = []
        for value in values { withUnsafeBytes(of: value.littleEndian) { out += $0 } }
        return out
    }

    /// The JSON header text for entries laid out back to back.
    static func header(_ entries: [Entry], metadata: [String: String]? = nil) -> String {
        var parts: [String] = []
        if let metadata {
            let fields = metadata.map { "\"\($0.key)\":\"\($0.value)\"" }.joined(separator: ",")
            parts.append("\"__metadata__\":{\(fields)}")
        }
        var offset = 0
        for entry in entries {
            let shape = entry.shape.map(String.init).joined(separator: ",")
            parts.append("\"\(entry.name)\":{\"dtype\":\"\(entry.dtype)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + entry.bytes.count)]}")
            offset += entry.bytes.count
        }
        return "{" + parts.joined(separator: ",") + "}"
    }

    /// A file from a header text and data bytes; `headerLength` overrides the length prefix.
    static func file(header: String, data: [UInt8], headerLength: UInt64? = nil) -> [UInt8] {
        let json = Array(header.utf8)
        return bytes([headerLength ?? UInt64(json.count)]) + json + data
    }

    static func write(_ entries: [Entry], metadata: [String: String]? = nil, name: String = "model.safetensors") throws -> URL {
        let data = entries.flatMap(\.bytes)
        return try TestGGUF.write(file(header: header(entries, metadata: metadata), data: data), name: name)
    }
}
