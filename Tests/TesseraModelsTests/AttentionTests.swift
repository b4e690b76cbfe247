import Foundation
import TestSupport
import Testing
@testable import TesseraModels
import TesseraTensor

/// A model with deterministic random weights held in memory, for tests that need a real forward
/// pass without a model file.
struct RandomWeights: WeightSource {
    var tensorInfos: [String: TensorInfo] = [:]
    var tensors: [String: Tensor] = [:]

    init(config c: ModelConfig, seed: UInt64 = 1, tied: Bool = false) {
        var seed = seed
        func add(_ name: String, _ shape: [Int], scale: Float, offset: Float = 0) {
            seed += 1
            let data = AttentionTests.random(shape.reduce(1, *), seed: seed, scale: scale).map { $0 + offset }
            tensors[name] = Tensor(shape: shape, data: data)
            tensorInfos[name] = TensorInfo(name: name, shape: shape, dtype: .f32)
        }
        let h = c.hiddenSize
        add("model.embed_tokens.weight", [c.vocabSize, h], scale: 1)
        for i in 0..<c.numLayers {
            let p = "model.layers.\(i)."
            add(p + "input_layernorm.weight", [h], scale: 0.2, offset: 1)
            add(p + "post_attention_layernorm.weight", [h], scale: 0.2, offset: 1)
            add(p + "self_attn.q_proj.weight", [c.qDim, h], scale: 0.5)
            add(p + "self_attn.k_proj.weight", [c.kvDim, h], scale: 0.5)
            add(p + "self_attn.v_proj.weight", [c.kvDim, h], scale: 0.5)
            add(p + "self_attn.o_proj.weight", [h, c.qDim], scale: 0.2)
            if c.architecture == .qwen3 {
                add(p + "self_attn.q_norm.weight", [c.headDim], scale: 0.2, offset: 1)
                add(p + "self_attn.k_norm.weight", [c.headDim], scale: 0.2, offset: 1)
            }
            add(p + "mlp.gate_proj.weight", [c.intermediateSize, h], scale: 0.3)
            add(p + "mlp.up_proj.weight", [c.intermediateSize, h], scale: 0.3)
            add(p + "mlp.down_proj.weight", [h, c.intermediateSize], scale: 0.2)
        }
        add("model.norm.weight", [h], scale: 0.2, offset: 1)
        if !tied { add("lm_head.weight", [c.vocabSize, h], scale: 0.3) }
    }

    func load(_ name: String) throws -> Tensor {
        guard let t = tensors[name] else { throw TransformerError.missingWeight(name) }
        return t
    }

    func load(_ name: String, rows: Range<Int>) throws -> Tensor {
        let t = try load(name)
        let width = t.count / t.shape[0]
        return Tensor(shape: [rows.count] + t.shape.dropFirst(), data: Array(t.data[rows.lowerBound * width..<rows.upperBound * width]))
    }

    static func config(_ arch: Architecture = .llama, heads: Int = 4, kvHeads: Int = 2, headDim: Int = 8) -> ModelConfig {
        ModelConfig(architecture: arch, vocabSize: 61, hiddenSize: 24, intermediateSize: 40, numLayers: 2,
                    numHeads: heads, numKVHeads: kvHeads, headDim: headDim, ropeTheta: 10_000, rmsNormEps: 1e-5,
                    maxPositionEmbeddings: 512, tieWordEmbeddings: false, bosTokenID: nil, eosTokenIDs: [])
    }
}

/// Runs whole sequences through a model in steps of given sizes, returning the logits of
/// every position.
struct StepRunner {
    let model: TransformerModel
    let cache: PagedKVCache
    let blockTable: [Int]

    /// `steps` are the chunk sizes (summing to `tokens.count`).
    func logits(_ tokens: [Int], steps: [Int]) throws -> [[Float]] {
        var rows: [[Float]] = []
        var done = 0
        for size in steps {
            let batch = ForwardBatch(
                tokens: Array(tokens[done..<done + size]), positions: Array(done..<done + size),
                sequences: [SequenceSpan(tokenRange: 0..<size, contextLength: done, blockTable: blockTable)],
                logitIndices: Array(0..<size))
            let out = try model.forward(batch, cache: cache)
            let vocab = out.shape[1]
            for r in 0..<size { rows.append(Array(out.data[r * vocab..<(r + 1) * vocab])) }
            done += size
        }
        return rows
    }
}

@Suite("Attention")
struct AttentionTests {
    static func random(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        TestRandom.floats(count, seed: seed, scale: scale)
    }

    static func maxAbsDiff(_ a: [[Float]], _ b: [[Float]]) -> Float {
        zip(a, b).map { zip($0, $1).map { abs($0 - $1) }.max() ?? 0 }.max() ?? 0
    }

    /// Softmax attention of one query over keys/values, in double: (output, lse).
    static func direct(q: [Float], keys: [[Float]], values: [[Float]]) -> ([Double], Double) {
        let dim = values.first?.count ?? q.count
        guard !keys.isEmpty else { return ([Double](repeating: 0, count: dim), -.infinity) }
        let scores = keys.map { k in zip(q, k).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } }
        let m = scores.max()!
        let weights = scores.map { Foundation.exp($0 - m) }
        let sum = weights.reduce(0, +)
        var out = [Double](repeating: 0, count: dim)
        for (w, v) in zip(weights, values) {
            for i in 0..<dim { out[i] += w / sum * Double(v[i]) }
        }
        return (out, m + Foundation.log(sum))
    }

    // MARK: LSE merge

    @Test(arguments: [[5, 0, 7], [0, 12], [3, 3, 3, 3], [1], [0, 0, 9, 0]])
    func mergeEqualsSoftmaxOverConcatenatedKeys(sliceSizes: [Int]) {
        let dim = 16
        let q = Self.random(dim, seed: 100, scale: 2)
        let total = sliceSizes.reduce(0, +)
        let keys = (0..<total).map { Self.random(dim, seed: 200 + UInt64($0), scale: 2) }
        let values = (0..<total).map { Self.random(dim, seed: 500 + UInt64($0)) }
        var outputs: [[Float]] = []
        var lses: [Float] = []
        var start = 0
        for size in sliceSizes {
            let (o, l) = Self.direct(q: q, keys: Array(keys[start..<start + size]), values: Array(values[start..<start + size]))
            // Empty slices carry garbage outputs: they must never be read.
            outputs.append(size == 0 ? [Float](repeating: .nan, count: dim) : o.map { Float($0) })
            lses.append(Float(l))
            start += size
        }
        let (merged, lse) = AttentionMerge.merge(outputs: outputs, lses: lses)
        let (expected, expectedLSE) = Self.direct(q: q, keys: keys, values: values)
        #expect(abs(Double(lse) - expectedLSE) < 1e-5)
        for i in 0..<dim { #expect(abs(Double(merged[i]) - expected[i]) < 1e-5) }
    }

    @Test func mergeOfOnlyEmptyPartsIsZero() {
        let (o, lse) = AttentionMerge.merge(outputs: [[.nan, .nan], [.infinity, 1]], lses: [-.infinity, -.infinity])
        #expect(o == [0, 0])
        #expect(lse == -.infinity)
        let (none, noneLSE) = AttentionMerge.merge(outputs: [], lses: [])
        #expect(none.isEmpty && noneLSE == -.infinity)
    }

    @Test func mergeWithExtremeLSEsStaysFinite() {
        let a: [Float] = [1, 2, 3], b: [Float] = [-4, 5, -6], c: [Float] = [7, 8, 9]
        // Far apart: the largest dominates completely.
        var (o, lse) = AttentionMerge.merge(outputs: [a, b, c], lses: [1e4, -1e4, -.infinity])
        #expect(o == a && lse == 1e4)
        (o, lse) = AttentionMerge.merge(outputs: [a, b], lses: [-1e4, 1e4])
        #expect(o == b && lse == 1e4)
        // Equal huge LSEs: an even average, lse + log 2.
        (o, lse) = AttentionMerge.merge(outputs: [a, b], lses: [1e4, 1e4])
        #expect(zip(o, [-1.5, 3.5, -1.5] as [Float]).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(abs(lse - (1e4 + logf(2))) <= 1e4 * Float.ulpOfOne)
        (o, lse) = AttentionMerge.merge(outputs: [a, b], lses: [-1e4, -1e4 + 1])
        let wA = 1 / (1 + expf(1))
        #expect(zip(o, zip(a, b).map { $0 * wA + $1 * (1 - wA) }).allSatisfy { abs($0 - $1) < 1e-5 })
        #expect(o.allSatisfy(\.isFinite) && lse.isFinite)
    }

    @Test func mergeBufferFormAliasesFirstPart() {
        // rows = 2 (token, head) pairs, parts = 3, merged in place into part 0.
        let dim = 4, rows = 2, parts = 3
        var outputs = Self.random(parts * rows * dim, seed: 9)
        let lses: [Float] = [0.5, -.infinity, 2, 3, -1, 0]  // [part][row]
        let copy = outputs
        var lseOut = [Float](repeating: 0, count: rows)
        outputs.withUnsafeMutableBufferPointer { o in
            AttentionMerge.merge(outputs: o.baseAddress!, partStride: rows * dim, lses: lses, lseStride: rows,
                                 parts: parts, rows: rows, dim: dim, into: o.baseAddress!, lseOut: &lseOut)
        }
        for r in 0..<rows {
            let partOutputs = (0..<parts).map { p in Array(copy[(p * rows + r) * dim..<(p * rows + r + 1) * dim]) }
            let (expected, expectedLSE) = AttentionMerge.merge(outputs: partOutputs, lses: (0..<parts).map { lses[$0 * rows + r] })
            #expect(Array(outputs[r * dim..<(r + 1) * dim]) == expected)
            #expect(lseOut[r] == expectedLSE)
        }
    }

    // MARK: split-point invariance

    static let sequence = [3, 17, 42, 8, 8, 60, 1, 0, 33, 25, 14, 59, 2, 7, 7, 7, 31, 44, 12, 5, 50, 19, 23,
                           9, 9, 4, 56, 38, 21, 11, 30, 2, 6, 48, 27, 13, 35, 40, 1]

    /// Physical blocks for `count` logical ones, deliberately out of order and with gaps.
    static func scatteredTable(_ count: Int) -> [Int] {
        (0..<count).map { (count - 1 - $0) * 2 + 1 }
    }

    /// (dense-path threshold, dense row chunk): default (prefill steps of >= 32 rows dense),
    /// everything dense in chunks of 5 query rows, nothing dense.
    static let densePaths: [(Int, Int?)] = [(32, nil), (1, 5), (Int.max, nil)]

    @Test(arguments: [Architecture.llama, .qwen3], [1, 4, 16])
    func splitPointsDoNotChangeLogits(arch: Architecture, blockSize: Int) throws {
        let config = arch == .qwen3
            ? RandomWeights.config(.qwen3, heads: 4, kvHeads: 1, headDim: 10)
            : RandomWeights.config(.llama, heads: 4, kvHeads: 2, headDim: 8)
        for (threshold, chunk) in Self.densePaths {
            try checkSplitPoints(config: config, blockSize: blockSize, denseThreshold: threshold, rowChunk: chunk)
        }
    }

    func checkSplitPoints(config: ModelConfig, blockSize: Int, denseThreshold: Int, rowChunk: Int?) throws {
        let model = try TransformerModel(config: config, weights: RandomWeights(config: config),
                                         denseAttentionThreshold: denseThreshold, denseRowChunk: rowChunk)
        let tokens = Self.sequence
        let blocks = (tokens.count + blockSize - 1) / blockSize
        func run(_ steps: [Int], table: [Int], dtype: KVCacheDType = .f32) throws -> [[Float]] {
            let cache = PagedKVCache(config: config, numBlocks: 2 * blocks + 2, blockSize: blockSize, dtype: dtype)
            return try StepRunner(model: model, cache: cache, blockTable: table).logits(tokens, steps: steps)
        }
        let contiguous = Array(0..<blocks)
        let scattered = Self.scatteredTable(blocks)
        let reference = try run([tokens.count], table: contiguous)
        #expect(reference.allSatisfy { $0.allSatisfy(\.isFinite) })
        let chunked = try run([7, 9, 23], table: scattered)
        let decode = try run([Int](repeating: 1, count: tokens.count), table: scattered)
        let mixed = try run([1, 2, 15, 1, 20], table: contiguous)
        #expect(Self.maxAbsDiff(reference, chunked) < 1e-4)
        #expect(Self.maxAbsDiff(reference, decode) < 1e-4)
        #expect(Self.maxAbsDiff(reference, mixed) < 1e-4)
        // A 16-bit cache only rounds the context; the logits move a little, not a lot.
        let halfCache = try run([5, 34], table: scattered, dtype: .bf16)
        #expect(Self.maxAbsDiff(reference, halfCache) < 5e-2)
    }

    @Test func sequencesInOneBatchMatchSeparateRuns() throws {
        let config = RandomWeights.config()
        let model = try TransformerModel(config: config, weights: RandomWeights(config: config))
        let a = Array(Self.sequence.prefix(11)), b = Array(Self.sequence.suffix(9))
        let blockSize = 4
        // Alone.
        let aloneA = try StepRunner(model: model, cache: PagedKVCache(config: config, numBlocks: 3, blockSize: blockSize, dtype: .f32),
                                    blockTable: [0, 1, 2]).logits(a, steps: [8, 3])
        let aloneB = try StepRunner(model: model, cache: PagedKVCache(config: config, numBlocks: 3, blockSize: blockSize, dtype: .f32),
                                    blockTable: [0, 1, 2]).logits(b, steps: [2, 7])
        // Together, in one cache: step 1 prefills a[0..<8] and b[0..<2]; step 2 continues both.
        let cache = PagedKVCache(config: config, numBlocks: 6, blockSize: blockSize, dtype: .f32)
        let tableA = [5, 0, 3], tableB = [4, 1, 2]
        let step1 = ForwardBatch(
            tokens: Array(a[0..<8]) + Array(b[0..<2]), positions: Array(0..<8) + Array(0..<2),
            sequences: [SequenceSpan(tokenRange: 0..<8, contextLength: 0, blockTable: tableA),
                        SequenceSpan(tokenRange: 8..<10, contextLength: 0, blockTable: tableB)],
            logitIndices: [7, 9])
        let out1 = try model.forward(step1, cache: cache)
        let step2 = ForwardBatch(
            tokens: Array(b[2..<9]) + Array(a[8..<11]), positions: Array(2..<9) + Array(8..<11),
            sequences: [SequenceSpan(tokenRange: 7..<10, contextLength: 8, blockTable: tableA),
                        SequenceSpan(tokenRange: 0..<7, contextLength: 2, blockTable: tableB)],
            logitIndices: [9, 6, 0])
        let out2 = try model.forward(step2, cache: cache)
        let v = config.vocabSize
        func row(_ t: Tensor, _ r: Int) -> [Float] { Array(t.data[r * v..<(r + 1) * v]) }
        #expect(Self.maxAbsDiff([row(out1, 0), row(out1, 1)], [aloneA[7], aloneB[1]]) < 1e-4)
        #expect(Self.maxAbsDiff([row(out2, 0), row(out2, 1), row(out2, 2)], [aloneA[10], aloneB[8], aloneB[2]]) < 1e-4)
    }

    @Test func batchesThatBreakTheContractThrow() throws {
        let config = RandomWeights.config()
        let model = try TransformerModel(config: config, weights: RandomWeights(config: config))
        let cache = PagedKVCache(config: config, numBlocks: 2, blockSize: 4, dtype: .f32)
        func batch(positions: [Int] = [0, 1, 2], context: Int = 0, table: [Int] = [0], logits: [Int] = [2],
                   tokens: [Int] = [1, 2, 3]) -> ForwardBatch {
            ForwardBatch(tokens: tokens, positions: positions,
                         sequences: [SequenceSpan(tokenRange: 0..<3, contextLength: context, blockTable: table)],
                         logitIndices: logits)
        }
        #expect(throws: TransformerError.self) { try model.forward(batch(positions: [0, 2, 3]), cache: cache) }
        #expect(throws: TransformerError.self) { try model.forward(batch(positions: [2, 3, 4], context: 2), cache: cache) }
        #expect(throws: TransformerError.self) { try model.forward(batch(table: [7]), cache: cache) }
        #expect(throws: TransformerError.self) { try model.forward(batch(logits: [3]), cache: cache) }
        #expect(throws: TransformerError.self) { try model.forward(batch(tokens: [1, 2, 61]), cache: cache) }
        let ok = try model.forward(batch(), cache: cache)
        #expect(ok.shape == [1, config.vocabSize])
        let empty = try model.forward(ForwardBatch(tokens: [], positions: [], sequences: [], logitIndices: []), cache: cache)
        #expect(empty.shape == [0, config.vocabSize])
    }
}

extension StepRunner {
    /// Greedy decoding as the reference does it: prefill `prompt` in one step, then one token
    /// per step through the cache, taking the first maximal logit, until `maxNewTokens` or an
    /// EOS token (included). Also returns the logits each new token was chosen from.
    func greedy(prompt: [Int], maxNewTokens: Int, eos: Set<Int>) throws -> (tokens: [Int], logits: [[Float]]) {
        var generated: [Int] = []
        var stepLogits: [[Float]] = []
        var batch = ForwardBatch(
            tokens: prompt, positions: Array(0..<prompt.count),
            sequences: [SequenceSpan(tokenRange: 0..<prompt.count, contextLength: 0, blockTable: blockTable)],
            logitIndices: [prompt.count - 1])
        while generated.count < maxNewTokens {
            let logits = try model.forward(batch, cache: cache).data
            stepLogits.append(logits)
            let next = Self.argmax(logits)
            generated.append(next)
            if eos.contains(next) { break }
            let position = prompt.count + generated.count - 1
            batch = ForwardBatch(
                tokens: [next], positions: [position],
                sequences: [SequenceSpan(tokenRange: 0..<1, contextLength: position, blockTable: blockTable)],
                logitIndices: [0])
        }
        return (generated, stepLogits)
    }

    /// Index of the first largest value, like `torch.argmax`.
    static func argmax(_ x: [Float]) -> Int {
        var best = 0
        for i in x.indices where x[i] > x[best] { best = i }
        return best
    }
}
