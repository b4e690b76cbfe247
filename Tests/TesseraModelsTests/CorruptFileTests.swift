import Foundation
import TestSupport
import Testing
@testable import TesseraModels

/// Damaged and malicious files must give a `ModelFileError` that names the file and the
/// problem: never a crash, a hang or a huge allocation.
@Suite struct CorruptFileTests {
    static func valid() -> TestGGUF { TestGGUF.llama(heads: 2, kvHeads: 1, hidden: 8) }

    /// Opens `bytes` as GGUF and checks the error message mentions the file and every phrase.
    @discardableResult
    func expectGGUFError(_ bytes: [UInt8], _ phrases: String..., sourceLocation: SourceLocation = #_sourceLocation) throws -> ModelFileError {
        let url = try TestGGUF.write(bytes)
        defer { TestGGUF.remove(url) }
        let error = try #require(throws: ModelFileError.self, sourceLocation: sourceLocation) { try GGUFFile(url: url) }
        #expect(error.description.hasPrefix(url.path + ": "), "\(error)", sourceLocation: sourceLocation)
        for phrase in phrases {
            #expect(error.description.contains(phrase), "\(error)", sourceLocation: sourceLocation)
        }
        return error
    }

    static func patch<T: FixedWidthInteger>(_ bytes: inout [UInt8], at offset: Int, _ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(offset..<offset + $0.count, with: $0) }
    }

    // MARK: - GGUF

    @Test func theBaseFileIsValid() throws {
        let url = try TestGGUF.write(Self.valid().build().bytes)
        let file = try GGUFFile(url: url)
        #expect(file.tensors.count == 2)
        _ = try ModelConfig(gguf: file)
        _ = try GGUFWeightSource(file: file).load("model.embed_tokens.weight")
    }

    @Test func truncatedAtEachSection() throws {
        let (bytes, layout) = Self.valid().build()
        try expectGGUFError([], "truncated", "magic")
        try expectGGUFError(Array(bytes[..<2]), "truncated", "magic")
        try expectGGUFError(Array(bytes[..<6]), "truncated", "version")
        try expectGGUFError(Array(bytes[..<12]), "truncated", "tensor count")
        try expectGGUFError(Array(bytes[..<20]), "truncated", "metadata count")
        // Counts are checked against the bytes left before anything is read or allocated.
        try expectGGUFError(Array(bytes[..<(layout.metadataStart + 5)]), "implausible metadata count: 17 is more than the remaining 5 bytes")
        // The end of the metadata: the last value (a bool) is cut off.
        try expectGGUFError(Array(bytes[..<(layout.tensorInfosStart - 1)]), "truncated", "value of metadata key 'tokenizer.ggml.add_bos_token'")
        // Inside the vocabulary array.
        var prefix = Self.valid()
        prefix.metadata = Array(prefix.metadata.prefix { $0.0 != "tokenizer.ggml.tokens" })
        let tokensStart = prefix.build().layout.tensorInfosStart
        try expectGGUFError(Array(bytes[..<(tokensStart + 50)]), "array of metadata key 'tokenizer.ggml.tokens'")
        try expectGGUFError(Array(bytes[..<(layout.tensorInfoStarts[1] + 10)]), "tensor 1")
        try expectGGUFError(Array(bytes[..<(layout.tensorInfoStarts[1] + 30)]), "truncated", "'output_norm.weight'")
        try expectGGUFError(Array(bytes[..<(layout.dataStart + 10)]), "'token_embd.weight' data", "extends past end of file")
    }

    /// Every prefix of the file that cuts into a tensor's data or anything before it fails
    /// cleanly; only the trailing padding may be cut.
    @Test func everyTruncationFailsCleanly() throws {
        let builder = Self.valid()
        let (bytes, layout) = builder.build()
        let end = layout.dataStart + 224 + builder.tensors[1].data.count   // Q8_0 data padded to 224, then F32
        for length in 0..<end {
            let url = try TestGGUF.write(Array(bytes[..<length]))
            defer { TestGGUF.remove(url) }
            #expect(throws: ModelFileError.self, "length \(length)") { try GGUFFile(url: url) }
        }
        _ = try GGUFFile(url: TestGGUF.write(Array(bytes[..<end])))
    }

    @Test func badMagicAndVersions() throws {
        var builder = Self.valid()
        builder.magic = Array("GGML".utf8)
        try expectGGUFError(builder.build().bytes, "bad magic", "not a GGUF file")
        builder = Self.valid()
        builder.version = 1
        try expectGGUFError(builder.build().bytes, "GGUF version 1 is not supported")
        builder.version = 99
        try expectGGUFError(builder.build().bytes, "unsupported GGUF version 99")
        builder.version = UInt32(3).byteSwapped
        try expectGGUFError(builder.build().bytes, "big-endian")
    }

    @Test func absurdCounts() throws {
        var builder = Self.valid()
        builder.tensorCount = 1 << 60
        try expectGGUFError(builder.build().bytes, "implausible tensor count: 1152921504606846976 is more than the remaining")
        builder = Self.valid()
        builder.metadataCount = UInt64.max
        try expectGGUFError(builder.build().bytes, "implausible metadata count")

        // A key length larger than the file.
        var (bytes, layout) = Self.valid().build()
        Self.patch(&bytes, at: layout.metadataStart, UInt64(1) << 62)
        try expectGGUFError(bytes, "implausible length of key of metadata entry 0")

        // A string value length larger than the file: the value of general.architecture.
        (bytes, layout) = Self.valid().build()
        let valueStart = layout.metadataStart + 8 + "general.architecture".utf8.count + 4
        Self.patch(&bytes, at: valueStart, UInt64.max)
        try expectGGUFError(bytes, "implausible length of value of metadata key 'general.architecture'")

        // An array length larger than the file.
        builder = TestGGUF()
        builder.metadata = [("a", .array(.uint32([1, 2, 3])))]
        (bytes, layout) = builder.build()
        Self.patch(&bytes, at: layout.metadataStart + 8 + 1 + 4 + 4, UInt64(1) << 40)
        try expectGGUFError(bytes, "implausible length of array of metadata key 'a'")

        // Arrays nested without end.
        var nested = GGUFArray.int8([1])
        for _ in 0..<40 { nested = .array([nested]) }
        builder.metadata = [("deep", .array(nested))]
        try expectGGUFError(builder.build().bytes, "nested deeper than")
    }

    @Test func badMetadataValues() throws {
        var builder = TestGGUF()
        builder.metadata = [("k", .uint8(1))]
        var (bytes, layout) = builder.build()
        Self.patch(&bytes, at: layout.metadataStart + 8 + 1, UInt32(77))
        try expectGGUFError(bytes, "value type of metadata key 'k'", "unknown type code 77")

        builder.metadata = [("k", .uint8(1)), ("k", .uint8(2))]
        try expectGGUFError(builder.build().bytes, "duplicate metadata key 'k'")

        builder.metadata = [("general.alignment", .uint32(48))]
        try expectGGUFError(builder.build().bytes, "invalid general.alignment: 48 is not a positive power of two")

        builder.metadata = [("a", .array(.uint8([1])))]
        (bytes, layout) = builder.build()
        Self.patch(&bytes, at: layout.metadataStart + 8 + 1 + 4, UInt32(13))
        try expectGGUFError(bytes, "element type of array of metadata key 'a'", "unknown type code 13")
    }

    @Test func badTensorInfos() throws {
        func variant(_ change: (inout TestGGUF.Tensor) -> Void) -> [UInt8] {
            var builder = Self.valid()
            change(&builder.tensors[1])
            return builder.build().bytes
        }
        try expectGGUFError(variant { $0.offset = 1 << 20 }, "'output_norm.weight' data", "extends past end of file")
        try expectGGUFError(variant { $0.offset = UInt64.max - 31 }, "data offset of tensor 'output_norm.weight'", "beyond the end of the file")
        try expectGGUFError(variant { $0.offset = 8 }, "'output_norm.weight' data offset 8 is not a multiple of the alignment 32")
        try expectGGUFError(variant { $0.type = 99 }, "'output_norm.weight' has unknown type code 99")
        try expectGGUFError(variant { $0.ne = [8, 0] }, "'output_norm.weight' has invalid shape", "dimension 1 is zero")
        try expectGGUFError(variant { $0.ne = [1 << 40, 1 << 40] }, "element count overflows")
        try expectGGUFError(variant { $0.ne = [1, 1, 1, 1, 8] }, "dimension count of tensor 'output_norm.weight'", "5 is not between 1 and 4")
        try expectGGUFError(variant { $0.ne = [] }, "dimension count", "0 is not between 1 and 4")
        try expectGGUFError(variant { $0.name = "token_embd.weight" }, "duplicate tensor name 'token_embd.weight'")
        try expectGGUFError(variant { $0.ne = [8, 2] }, "extends past end of file")   // fine shape, but data too short
        var builder = Self.valid()
        builder.tensors[0].ne = [33, 6]
        try expectGGUFError(builder.build().bytes, "row length 33 is not a multiple of the Q8_0 block size 32")
    }

    /// Random byte corruption: opening and loading either work or throw `ModelFileError`.
    @Test func randomCorruptionNeverCrashes() throws {
        let (original, _) = Self.valid().build()
        var generator = SplitMix64(seed: 12345)
        for trial in 0..<300 {
            var bytes = original
            for _ in 0...(trial % 4) {
                let index = Int(generator.next() % UInt64(bytes.count))
                bytes[index] = UInt8(truncatingIfNeeded: generator.next())
            }
            let url = try TestGGUF.write(bytes)
            defer { TestGGUF.remove(url) }
            do {
                let file = try GGUFFile(url: url)
                let weights = try GGUFWeightSource(file: file)
                for name in weights.tensorInfos.keys { _ = try weights.load(name) }
                _ = try ModelConfig(gguf: file)
            } catch is ModelFileError {
                // expected for most corruptions
            }
        }
    }

    // MARK: - safetensors

    @discardableResult
    func expectSafetensorsError(_ bytes: [UInt8], _ phrases: String..., sourceLocation: SourceLocation = #_sourceLocation) throws -> ModelFileError {
        let url = try TestGGUF.write(bytes, name: "model.safetensors")
        defer { TestGGUF.remove(url) }
        let error = try #require(throws: ModelFileError.self, sourceLocation: sourceLocation) { try SafetensorsFile(url: url) }
        #expect(error.description.hasPrefix(url.path + ": "), "\(error)", sourceLocation: sourceLocation)
        for phrase in phrases {
            #expect(error.description.contains(phrase), "\(error)", sourceLocation: sourceLocation)
        }
        return error
    }

    @Test func safetensorsHeaders() throws {
        let data = [UInt8](repeating: 0, count: 24)
        let good = #"{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}"#
        _ = try SafetensorsFile(url: TestGGUF.write(TestSafetensors.file(header: good, data: data), name: "ok.safetensors"))

        try expectSafetensorsError([1, 2, 3], "truncated", "header length")
        try expectSafetensorsError(TestSafetensors.file(header: good, data: data, headerLength: 1 << 40), "implausible safetensors header length: 1099511627776")
        try expectSafetensorsError(TestSafetensors.file(header: "{\"w\": [", data: data), "invalid JSON header", "not valid JSON")
        try expectSafetensorsError(TestSafetensors.file(header: "[1, 2]", data: data), "not an object")
        try expectSafetensorsError(TestSafetensors.file(header: #"{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}"#, data: data),
                                   "tensor 'w' has invalid shape [2, 3]", "needs 24 bytes", "span 20")
        try expectSafetensorsError(TestSafetensors.file(header: #"{"w":{"dtype":"F32","shape":[2,4],"data_offsets":[0,32]}}"#, data: data),
                                   "tensor 'w' data", "extends past end of file")
        try expectSafetensorsError(TestSafetensors.file(header: #"{"w":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}}"#, data: data),
                                   "dtype of tensor 'w'", "unknown dtype 'F4'")
        try expectSafetensorsError(TestSafetensors.file(header: #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#, data: data),
                                   "data_offsets of tensor 'w'")
        try expectSafetensorsError(TestSafetensors.file(header: #"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: data),
                                   "shape of tensor 'w'")
        try expectSafetensorsError(TestSafetensors.file(header: #"{"w":{"shape":[1],"data_offsets":[0,4]}}"#, data: data),
                                   "dtype of tensor 'w'", "missing")
        try expectSafetensorsError(TestSafetensors.file(header: #"{"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}}"#, data: data),
                                   "byte size overflows")
    }

    @Test func missingAndEscapingShards() throws {
        let shard = try TestSafetensors.write([.init(name: "a", dtype: "F32", shape: [1], bytes: [0, 0, 0, 0])],
                                              name: "model-00001-of-00002.safetensors")
        let folder = shard.deletingLastPathComponent()
        let index = folder.appendingPathComponent(SafetensorsWeightSource.indexFileName)
        try Data(#"{"metadata":{},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}"#.utf8).write(to: index)
        var error = try #require(throws: ModelFileError.self) { try SafetensorsWeightSource(folder: folder) }
        #expect(error.description.contains("model-00002-of-00002.safetensors' (holding tensor 'b') not found"))
        #expect(error.description.hasPrefix(index.path))

        try Data(#"{"weight_map":{"a":"../../etc/passwd"}}"#.utf8).write(to: index)
        error = try #require(throws: ModelFileError.self) { try SafetensorsWeightSource(folder: folder) }
        #expect(error.description.contains("is not a file name in the model folder"))

        try Data(#"{"weight_map":{"zz":"model-00001-of-00002.safetensors"}}"#.utf8).write(to: index)
        error = try #require(throws: ModelFileError.self) { try SafetensorsWeightSource(folder: folder) }
        #expect(error.description.contains("no tensor named 'zz'"))

        try Data("{not json".utf8).write(to: index)
        error = try #require(throws: ModelFileError.self) { try SafetensorsWeightSource(folder: folder) }
        #expect(error.description.contains("invalid index JSON"))
    }
}
