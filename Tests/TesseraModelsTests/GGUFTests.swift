import Foundation
import TestSupport
import Testing
@testable import TesseraModels
import TesseraTensor
import TesseraTokenizer

@Suite struct GGUFTests {
    // MARK: - quant_types fixtures (written by gguf-py's GGUFWriter)

    static let fixtureNames = ["quant_types.gguf", "quant_types_align64.gguf"]

    @Test(arguments: fixtureNames)
    func headerAndMetadataMatchGGUFPy(fileName: String) throws {
        let meta = try #require(Fixtures.json("gguf/quant_types_meta.json") as? [String: Any])
        let expected = try #require((meta["files"] as? [String: Any])?[fileName] as? [String: Any])
        let file = try GGUFFile(url: Fixtures.url("gguf/\(fileName)"))
        #expect(Int(file.version) == expected["version"] as? Int)
        #expect(file.alignment == expected["alignment"] as? Int)
        #expect(file.dataOffset == expected["tensor_data_offset"] as? Int)
        #expect(file.fileSize == expected["file_size"] as? Int)
        #expect(file.metadataKeys.count == expected["kv_count"] as? Int)

        let entries = try #require(expected["metadata"] as? [[String: Any]])
        #expect(file.metadataKeys == entries.compactMap { $0["key"] as? String })
        for entry in entries {
            let key = try #require(entry["key"] as? String)
            let value = try #require(file.metadata[key], "missing \(key)")
            #expect(value.type.description.lowercased() == entry["type"] as? String, "\(key)")
            if case .array(let array) = value {
                #expect(array.elementType.description.lowercased() == entry["element_type"] as? String, "\(key)")
                if case .array(let inner) = array {
                    #expect(inner.allSatisfy { $0.elementType.description.lowercased() == entry["inner_element_type"] as? String })
                }
            }
            #expect(Self.matches(value, json: entry["value_string"] ?? entry["value"]!), "\(key): \(value)")
        }
    }

    /// Compares a metadata value with its JSON rendering (64-bit integers as decimal strings).
    static func matches(_ value: GGUFValue, json: Any) -> Bool {
        switch value {
        case .uint8, .int8, .uint16, .int16, .uint32, .int32:
            return value.intValue == (json as? NSNumber)?.intValue
        case .uint64(let v): return "\(v)" == json as? String
        case .int64(let v): return "\(v)" == json as? String
        // Foundation's JSON parser may be an ulp off for long decimals: compare at float32 precision.
        case .float32(let v): return (json as? NSNumber).map { Float($0.doubleValue) } == v
        case .float64(let v): return v == (json as? NSNumber)?.doubleValue
        case .bool(let v): return v == (json as? Bool)
        case .string(let v): return Array(v.utf8) == (json as? String).map { Array($0.utf8) }
        case .array(let array): return matches(array, json: json)
        }
    }

    static func matches(_ array: GGUFArray, json: Any) -> Bool {
        guard let list = json as? [Any], list.count == array.count else { return false }
        let elements: [GGUFValue]
        switch array {
        case .uint8(let a): elements = a.map { .uint8($0) }
        case .int8(let a): elements = a.map { .int8($0) }
        case .uint16(let a): elements = a.map { .uint16($0) }
        case .int16(let a): elements = a.map { .int16($0) }
        case .uint32(let a): elements = a.map { .uint32($0) }
        case .int32(let a): elements = a.map { .int32($0) }
        case .uint64(let a): elements = a.map { .uint64($0) }
        case .int64(let a): elements = a.map { .int64($0) }
        case .float32(let a): elements = a.map { .float32($0) }
        case .float64(let a): elements = a.map { .float64($0) }
        case .bool(let a): elements = a.map { .bool($0) }
        case .string(let a): elements = a.map { .string($0) }
        case .array(let a): elements = a.map { .array($0) }
        }
        return zip(elements, list).allSatisfy { matches($0, json: $1) }
    }

    @Test(arguments: fixtureNames)
    func tensorDirectoryMatchesGGUFPy(fileName: String) throws {
        let meta = try #require(Fixtures.json("gguf/quant_types_meta.json") as? [String: Any])
        let expected = try #require(((meta["files"] as? [String: Any])?[fileName] as? [String: Any])?["tensors"] as? [[String: Any]])
        let file = try GGUFFile(url: Fixtures.url("gguf/\(fileName)"))
        #expect(file.tensors.count == expected.count)
        for (tensor, entry) in zip(file.tensors, expected) {
            #expect(tensor.name == entry["name"] as? String)
            #expect(tensor.type.description == entry["type"] as? String)
            #expect(Int(tensor.type.rawValue) == entry["type_id"] as? Int)
            #expect(tensor.dimensions == entry["ne"] as? [Int])
            #expect(tensor.shape == entry["ref_shape"] as? [Int])
            #expect(tensor.offset == entry["offset"] as? Int)
            #expect(tensor.byteCount == entry["n_bytes"] as? Int)
            #expect(tensor.elementCount == entry["n_elements"] as? Int)
            #expect((file.dataOffset + tensor.offset) % file.alignment == 0)
        }
    }

    @Test(arguments: fixtureNames)
    func tensorsDequantiseLikeGGUFPy(fileName: String) throws {
        let file = try GGUFFile(url: Fixtures.url("gguf/\(fileName)"))
        let reference = try SafetensorsFile(url: Fixtures.url("gguf/quant_types_ref.safetensors"))
        for tensor in file.tensors {
            let expected = try reference.floats(tensor.name)
            let ours = try file.floats(tensor.name)
            #expect(ours.map(\.bitPattern) == expected.map(\.bitPattern), "\(tensor.name) (\(tensor.type))")
            // Reading a subset of rows gives the same values as slicing the whole tensor.
            let rowLength = tensor.dimensions[0]
            let rowCount = tensor.elementCount / rowLength
            let rows = try file.floats(tensor.name, rows: (rowCount - 1)..<rowCount)
            #expect(rows.map(\.bitPattern) == expected[((rowCount - 1) * rowLength)...].map(\.bitPattern))
        }
    }

    // MARK: - SmolLM2 (the default model)

    @Test func smolLM2RawRowsMatchGGUFPy() throws {
        let file = try GGUFFile(url: Fixtures.smolLM2())
        let index = try #require(Fixtures.json("gguf/smollm2_dequant_ref.json") as? [String: Any])
        let entries = try #require(index["entries"] as? [String: [String: Any]])
        let reference = try SafetensorsFile(url: Fixtures.url("gguf/smollm2_dequant_ref.safetensors"))
        #expect(entries.count >= 6)
        for (key, entry) in entries {
            let name = try #require(entry["tensor"] as? String)
            let first = try #require(entry["first_row"] as? Int)
            let count = try #require(entry["row_count"] as? Int)
            let tensor = try #require(file.tensor(named: name))
            #expect(tensor.type.description == entry["ggml_type"] as? String)
            #expect(tensor.dimensions == entry["ne"] as? [Int])
            let ours = try file.floats(name, rows: first..<(first + count))
            #expect(ours.map(\.bitPattern) == (try reference.floats(key)).map(\.bitPattern), "\(key)")
        }
    }

    @Test func smolLM2Config() throws {
        let file = try GGUFFile(url: Fixtures.smolLM2())
        #expect(file.version == 3)
        #expect(file.tensors.count == 272)
        let config = try ModelConfig(gguf: file)
        #expect(config.architecture == .llama)
        #expect(config.numLayers == 30)
        #expect(config.hiddenSize == 576)
        #expect(config.intermediateSize == 1536)
        #expect(config.numHeads == 9)
        #expect(config.numKVHeads == 3)
        #expect(config.headDim == 64)
        #expect(config.vocabSize == 49152)
        #expect(config.ropeTheta == 100_000)
        #expect(abs(config.rmsNormEps - 1e-5) < 1e-10)
        #expect(config.maxPositionEmbeddings == 8192)
        #expect(config.tieWordEmbeddings)
        #expect(config.bosTokenID == 1)
        #expect(config.eosTokenIDs == [2])
    }

    @Test func smolLM2TokenizerSpec() throws {
        let spec = try TokenizerSpec(gguf: GGUFFile(url: Fixtures.smolLM2()))
        #expect(spec.tokens.count == 49152)
        #expect(spec.merges.count == 48900)
        #expect(spec.preTokenizer == .smollm)
        #expect(spec.bosTokenID == 1)
        #expect(spec.eosTokenID == 2)
        #expect(!spec.addBOS)
        #expect(!spec.ignoreMerges)
        #expect(spec.normalizer == .none)
        #expect(spec.tokens[1] == "<|im_start|>")
        #expect(spec.tokens[2] == "<|im_end|>")
        #expect(spec.specialTokenIDs.isSuperset(of: [0, 1, 2]))
        #expect(spec.merges.allSatisfy { $0.split(separator: " ").count == 2 })
        #expect(spec.chatTemplate?.contains("<|im_start|>") == true)
    }

    @Test func smolLM2WeightNamesAndShapes() throws {
        let weights = try GGUFWeightSource(file: GGUFFile(url: Fixtures.smolLM2()))
        let infos = weights.tensorInfos
        #expect(infos.count == 272)
        #expect(infos["model.embed_tokens.weight"] == TensorInfo(name: "model.embed_tokens.weight", shape: [49152, 576], dtype: .q8_0))
        #expect(infos["model.norm.weight"]?.shape == [576])
        #expect(infos["lm_head.weight"] == nil)   // tied
        #expect(infos["model.layers.0.self_attn.q_proj.weight"]?.shape == [576, 576])
        #expect(infos["model.layers.0.self_attn.k_proj.weight"]?.shape == [192, 576])
        #expect(infos["model.layers.29.mlp.down_proj.weight"] == TensorInfo(name: "model.layers.29.mlp.down_proj.weight", shape: [576, 1536], dtype: .q4_1))
        #expect(infos["model.layers.0.mlp.gate_proj.weight"]?.shape == [1536, 576])
        #expect(infos["model.layers.7.input_layernorm.weight"]?.dtype == .f32)
        #expect(infos["model.layers.7.post_attention_layernorm.weight"]?.shape == [576])
        #expect(infos.keys.allSatisfy { $0.hasPrefix("model.") })
        #expect(weights.ggufName(of: "model.layers.3.self_attn.o_proj.weight") == "blk.3.attn_output.weight")
    }

    /// Q and K rows, un-permuted, equal what transformers loads from the same GGUF
    /// (Tests/Fixtures/gguf/permutation_ref.safetensors, scripts/make_permutation_fixture.py).
    @Test func qkUnpermutationMatchesTransformers() throws {
        let weights = try GGUFWeightSource(file: GGUFFile(url: Fixtures.smolLM2()))
        let reference = try SafetensorsFile(url: Fixtures.url("gguf/permutation_ref.safetensors"))
        #expect(reference.tensors.count == 8)
        for key in reference.tensors.keys.sorted() {
            let parts = key.split(separator: ":")
            let name = String(parts[0])
            let bounds = parts[1].dropFirst("rows".count).split(separator: "-").compactMap { Int($0) }
            let rows = bounds[0]..<bounds[1]
            let expected = try reference.tensor(key)
            let ours = try weights.load(name, rows: rows)
            #expect(ours.shape == expected.shape, "\(key)")
            #expect(ours.data.map(\.bitPattern) == expected.data.map(\.bitPattern), "\(key)")
            // The whole tensor, sliced, agrees with the row read.
            let whole = try weights.load(name)
            let width = whole.shape[1]
            #expect(Array(whole.data[(rows.lowerBound * width)..<(rows.upperBound * width)]) == ours.data, "\(key)")
        }
    }

    // MARK: - Synthetic files

    /// Builds a llama GGUF whose Q/K hold `hf row index + column / 100` in Hugging Face order,
    /// permuted as llama.cpp's converter does; the source must give back the Hugging Face rows.
    @Test func unpermutationOfSyntheticQK() throws {
        let heads = 2, kvHeads = 1, headDim = 4, columns = 32
        func permuted(rows: Int, heads: Int) -> [UInt8] {
            // gguf[h, i, j] = hf[h, j, i] with shapes (heads, headDim/2, 2) and (heads, 2, headDim/2).
            var values: [Float] = []
            for h in 0..<heads {
                for i in 0..<(headDim / 2) {
                    for j in 0..<2 {
                        let hfRow = h * headDim + j * (headDim / 2) + i
                        values += (0..<columns).map { Float(hfRow) + Float($0) / 100 }
                    }
                }
            }
            return TestGGUF.f32Bytes(values)
        }
        var builder = TestGGUF.llama(heads: heads, kvHeads: kvHeads, hidden: heads * headDim)
        builder.tensors = [
            .init(name: "blk.0.attn_q.weight", ne: [UInt64(columns), UInt64(heads * headDim)], type: 0, data: permuted(rows: heads * headDim, heads: heads)),
            .init(name: "blk.0.attn_k.weight", ne: [UInt64(columns), UInt64(kvHeads * headDim)], type: 0, data: permuted(rows: kvHeads * headDim, heads: kvHeads)),
            .init(name: "blk.0.attn_v.weight", ne: [UInt64(columns), 4], type: 0, data: TestGGUF.f32Bytes((0..<(4 * columns)).map { Float($0 / columns) + Float($0 % columns) / 100 })),
        ]
        let weights = try GGUFWeightSource(file: GGUFFile(url: TestGGUF.write(builder.build().bytes)))
        for (name, rowCount) in [("q_proj", heads * headDim), ("k_proj", kvHeads * headDim), ("v_proj", 4)] {
            let full = try weights.load("model.layers.0.self_attn.\(name).weight")
            #expect(full.shape == [rowCount, columns])
            for row in 0..<rowCount {
                #expect(full.data[row * columns] == Float(row), "\(name) row \(row)")
                #expect(full.data[row * columns + 5] == Float(row) + 0.05, "\(name) row \(row)")
            }
            let some = try weights.load("model.layers.0.self_attn.\(name).weight", rows: 1..<3)
            #expect(some.data == Array(full.data[columns..<(3 * columns)]))
        }
    }

    @Test func qwen3IsNotPermutedAndUsesKeyLength() throws {
        var builder = TestGGUF.llama(heads: 2, kvHeads: 1, hidden: 8, architecture: "qwen3")
        builder.metadata.append(("qwen3.attention.key_length", .uint32(16)))
        let rows: [Float] = (0..<(32 * 32)).map { Float($0 / 32) }
        builder.tensors = [.init(name: "blk.0.attn_q.weight", ne: [32, 32], type: 0, data: TestGGUF.f32Bytes(rows))]
        let file = try GGUFFile(url: TestGGUF.write(builder.build().bytes))
        let config = try ModelConfig(gguf: file)
        #expect(config.architecture == .qwen3)
        #expect(config.headDim == 16)
        let q = try GGUFWeightSource(file: file).load("model.layers.0.self_attn.q_proj.weight")
        #expect(q.data == rows)
    }

    @Test func unsupportedTensorTypeFailsOnLoadNotOnOpen() throws {
        var builder = TestGGUF.llama(heads: 2, kvHeads: 1, hidden: 8)
        let iq2Block = 2 + 64   // IQ2_XXS: f16 scale + 64 bytes per 256 values
        builder.tensors = [
            .init(name: "blk.0.ffn_down.weight", ne: [256, 2], type: GGMLType.iq2_XXS.rawValue, data: [UInt8](repeating: 0, count: 2 * iq2Block)),
            .init(name: "output_norm.weight", ne: [8], type: 0, data: TestGGUF.f32Bytes([Float](repeating: 1, count: 8))),
        ]
        let file = try GGUFFile(url: TestGGUF.write(builder.build().bytes))
        #expect(file.tensor(named: "blk.0.ffn_down.weight")?.byteCount == 2 * iq2Block)
        let weights = try GGUFWeightSource(file: file)
        #expect(weights.tensorInfos["model.layers.0.mlp.down_proj.weight"] == nil)
        #expect(try weights.load("model.norm.weight").data == [Float](repeating: 1, count: 8))
        let error = try #require(throws: ModelFileError.self) { try weights.load("model.layers.0.mlp.down_proj.weight") }
        #expect(error.description.contains("'blk.0.ffn_down.weight'"))
        #expect(error.description.contains("IQ2_XXS"))
        #expect(weights.unloadableReason("model.layers.0.mlp.down_proj.weight") == error)
        #expect(weights.unloadableReason("model.norm.weight") == nil)
        #expect(throws: ModelFileError.self) { try file.floats("blk.0.ffn_down.weight") }
    }

    @Test func version2IsAccepted() throws {
        var builder = TestGGUF.llama(heads: 2, kvHeads: 1, hidden: 8)
        builder.version = 2
        #expect(try GGUFFile(url: TestGGUF.write(builder.build().bytes)).version == 2)
    }

    @Test func unknownArchitectureIsRejectedByConfig() throws {
        let builder = TestGGUF.llama(heads: 2, kvHeads: 1, hidden: 8, architecture: "gpt2")
        let file = try GGUFFile(url: TestGGUF.write(builder.build().bytes))
        let error = try #require(throws: ModelFileError.self) { try ModelConfig(gguf: file) }
        #expect(error.description.contains("unsupported architecture 'gpt2'"))
    }

    @Test func configValidationNamesTheKey() throws {
        let builder = TestGGUF.llama(heads: 4, kvHeads: 3, hidden: 16)
        let file = try GGUFFile(url: TestGGUF.write(builder.build().bytes))
        let error = try #require(throws: ModelFileError.self) { try ModelConfig(gguf: file) }
        #expect(error.description.contains("llama.attention.head_count_kv = 3"))
    }

    @Test func unsupportedTokenizersAreNamed() throws {
        var builder = TestGGUF.llama(heads: 2, kvHeads: 1, hidden: 8)
        builder.set("tokenizer.ggml.model", .string("llama"))
        var error = try #require(throws: ModelFileError.self) {
            try TokenizerSpec(gguf: GGUFFile(url: TestGGUF.write(builder.build().bytes)))
        }
        #expect(error.description.contains("tokenizer.ggml.model = 'llama'"))
        builder.set("tokenizer.ggml.model", .string("gpt2"))
        builder.set("tokenizer.ggml.pre", .string("deepseek-coder"))
        error = try #require(throws: ModelFileError.self) {
            try TokenizerSpec(gguf: GGUFFile(url: TestGGUF.write(builder.build().bytes)))
        }
        #expect(error.description.contains("tokenizer.ggml.pre = 'deepseek-coder'"))
    }

    @Test func syntheticTokenizerTypes() throws {
        let spec = try TokenizerSpec(gguf: GGUFFile(url: TestGGUF.write(TestGGUF.llama(heads: 2, kvHeads: 1, hidden: 8).build().bytes)))
        #expect(spec.tokens == ["<s>", "</s>", "a", "b", "ab", "<tool>"])
        #expect(spec.specialTokenIDs == [0, 1])
        #expect(spec.addedTokenIDs == [5])
        #expect(spec.merges == ["a b"])
        #expect(spec.preTokenizer == .llama3)
        #expect(spec.ignoreMerges)
        #expect(spec.addBOS)
        #expect(!spec.addEOS)
    }

    @Test func nameTranslation() {
        #expect(GGUFNames.huggingFace("token_embd.weight") == "model.embed_tokens.weight")
        #expect(GGUFNames.huggingFace("output.weight") == "lm_head.weight")
        #expect(GGUFNames.huggingFace("output_norm.weight") == "model.norm.weight")
        #expect(GGUFNames.huggingFace("blk.12.attn_k_norm.weight") == "model.layers.12.self_attn.k_norm.weight")
        #expect(GGUFNames.huggingFace("blk.0.attn_q.bias") == "model.layers.0.self_attn.q_proj.bias")
        #expect(GGUFNames.huggingFace("blk.1.ffn_norm.weight") == "model.layers.1.post_attention_layernorm.weight")
        #expect(GGUFNames.huggingFace("rope_freqs.weight") == "rope_freqs.weight")
        #expect(GGUFNames.huggingFace("blk.x.attn_q.weight") == "blk.x.attn_q.weight")
    }
}

// MARK: - Writing GGUF files in tests

/// Writes GGUF bytes (for synthetic and deliberately corrupt files).
struct TestGGUF {
    struct Tensor {
        var name: String
        var ne: [UInt64]
        var type: UInt32
        var data: [UInt8]
        /// Written instead of the computed offset when set.
        var offset: UInt64? = nil
    }

    /// Offsets of the sections of a built file.
    struct Layout {
        var metadataStart = 0
        var tensorInfosStart = 0
        var dataStart = 0
        /// Offset of each tensor info's name length.
        var tensorInfoStarts: [Int] = []
    }

    var magic = Array("GGUF".utf8)
    var version: UInt32 = 3
    var metadata: [(String, GGUFValue)] = []
    var tensors: [Tensor] = []
    var alignment = 32
    var tensorCount: UInt64?
    var metadataCount: UInt64?

    mutating func set(_ key: String, _ value: GGUFValue) {
        if let index = metadata.firstIndex(where: { $0.0 == key }) { metadata[index].1 = value } else { metadata.append((key, value)) }
    }

    func build() -> (bytes: [UInt8], layout: Layout) {
        var out: [UInt8] = magic
        var layout = Layout()
        Self.append(version, to: &out)
        Self.append(tensorCount ?? UInt64(tensors.count), to: &out)
        Self.append(metadataCount ?? UInt64(metadata.count), to: &out)
        layout.metadataStart = out.count
        for (key, value) in metadata {
            Self.appendString(key, to: &out)
            Self.append(value.type.rawValue, to: &out)
            Self.appendPayload(value, to: &out)
        }
        layout.tensorInfosStart = out.count
        var offset = 0
        var offsets: [Int] = []
        for tensor in tensors {
            offsets.append(offset)
            offset = (offset + tensor.data.count + alignment - 1) / alignment * alignment
        }
        for (tensor, computed) in zip(tensors, offsets) {
            layout.tensorInfoStarts.append(out.count)
            Self.appendString(tensor.name, to: &out)
            Self.append(UInt32(tensor.ne.count), to: &out)
            for size in tensor.ne { Self.append(size, to: &out) }
            Self.append(tensor.type, to: &out)
            Self.append(tensor.offset ?? UInt64(computed), to: &out)
        }
        while out.count % alignment != 0 { out.append(0) }
        layout.dataStart = out.count
        for (tensor, computed) in zip(tensors, offsets) {
            while out.count < layout.dataStart + computed { out.append(0) }
            out += tensor.data
        }
        while out.count % alignment != 0 { out.append(0) }
        return (out, layout)
    }

    static func append<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out += $0 }
    }

    static func appendString(_ string: String, to out: inout [UInt8]) {
        append(UInt64(string.utf8.count), to: &out)
        out += string.utf8
    }

    static func appendPayload(_ value: GGUFValue, to out: inout [UInt8]) {
        switch value {
        case .uint8(let v): append(v, to: &out)
        case .int8(let v): append(v, to: &out)
        case .uint16(let v): append(v, to: &out)
        case .int16(let v): append(v, to: &out)
        case .uint32(let v): append(v, to: &out)
        case .int32(let v): append(v, to: &out)
        case .uint64(let v): append(v, to: &out)
        case .int64(let v): append(v, to: &out)
        case .float32(let v): append(v.bitPattern, to: &out)
        case .float64(let v): append(v.bitPattern, to: &out)
        case .bool(let v): append(UInt8(v ? 1 : 0), to: &out)
        case .string(let v): appendString(v, to: &out)
        case .array(let a): appendArray(a, to: &out)
        }
    }

    static func appendArray(_ array: GGUFArray, to out: inout [UInt8]) {
        append(array.elementType.rawValue, to: &out)
        append(UInt64(array.count), to: &out)
        switch array {
        case .uint8(let a): a.forEach { append($0, to: &out) }
        case .int8(let a): a.forEach { append($0, to: &out) }
        case .uint16(let a): a.forEach { append($0, to: &out) }
        case .int16(let a): a.forEach { append($0, to: &out) }
        case .uint32(let a): a.forEach { append($0, to: &out) }
        case .int32(let a): a.forEach { append($0, to: &out) }
        case .uint64(let a): a.forEach { append($0, to: &out) }
        case .int64(let a): a.forEach { append($0, to: &out) }
        case .float32(let a): a.forEach { append($0.bitPattern, to: &out) }
        case .float64(let a): a.forEach { append($0.bitPattern, to: &out) }
        case .bool(let a): a.forEach { append(UInt8($0 ? 1 : 0), to: &out) }
        case .string(let a): a.forEach { appendString($0, to: &out) }
        case .array(let a): a.forEach { appendArray($0, to: &out) }
        }
    }

    static func f32Bytes(_ values: [Float]) -> [UInt8] {
        var out: [UInt8] = []
        for value in values { append(value.bitPattern, to: &out) }
        return out
    }

    /// A small valid llama-architecture file with a tokenizer and two tensors.
    static func llama(heads: Int, kvHeads: Int, hidden: Int, architecture: String = "llama") -> TestGGUF {
        var builder = TestGGUF()
        let a = architecture
        builder.metadata = [
            ("general.architecture", .string(a)),
            ("\(a).block_count", .uint32(1)),
            ("\(a).context_length", .uint32(128)),
            ("\(a).embedding_length", .uint32(UInt32(hidden))),
            ("\(a).feed_forward_length", .uint32(64)),
            ("\(a).attention.head_count", .uint32(UInt32(heads))),
            ("\(a).attention.head_count_kv", .uint32(UInt32(kvHeads))),
            ("\(a).rope.freq_base", .float32(10_000)),
            ("\(a).attention.layer_norm_rms_epsilon", .float32(1e-6)),
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string("llama-bpe")),
            ("tokenizer.ggml.tokens", .array(.string(["<s>", "</s>", "a", "b", "ab", "<tool>"]))),
            ("tokenizer.ggml.token_type", .array(.int32([3, 3, 1, 1, 1, 4]))),
            ("tokenizer.ggml.merges", .array(.string(["a b"]))),
            ("tokenizer.ggml.bos_token_id", .uint32(0)),
            ("tokenizer.ggml.eos_token_id", .uint32(1)),
            ("tokenizer.ggml.add_bos_token", .bool(true)),
        ]
        builder.tensors = [
            .init(name: "token_embd.weight", ne: [32, 6], type: GGMLType.q8_0.rawValue, data: [UInt8](repeating: 0, count: 6 * 34)),
            .init(name: "output_norm.weight", ne: [UInt64(hidden)], type: 0, data: f32Bytes([Float](repeating: 1, count: hidden))),
        ]
        return builder
    }

    /// Deletes a file made by `write` together with its folder.
    static func remove(_ url: URL) {
        try? FileManager.default.removeItem(at: url.deletingLastPathComponent())
    }

    /// Writes bytes to a fresh temporary file and returns its URL.
    static func write(_ bytes: [UInt8], name: String = "model.gguf") throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-loader-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let url = folder.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }
}
