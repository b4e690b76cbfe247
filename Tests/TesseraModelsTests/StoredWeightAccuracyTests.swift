import Foundation
import Testing
import TestSupport
@testable import TesseraModels
import TesseraTensor
import TesseraTokenizer

/// The default model on its stored weights (Q4_1 layers, Q8_0 embedding and head, the fast
/// default) against the exact path (the same weights widened to f32 at load, the path the
/// transformers parity suites check), token by token over a text with teacher forcing:
/// llama.cpp's measure of a quantisation, same top-1 token and the mean KL divergence of the
/// next-token distributions. (8-bit activations, as llama.cpp uses, measured 95.7% and 0.0027
/// here, below the 98% asked: the stored path keeps activations in f32.)
@Suite("Stored weights against the exact path", .serialized)
struct StoredWeightAccuracyTests {
    @Test func defaultModelKeepsTopTokenAndDistribution() throws {
        let files = try ModelFiles.open(try Fixtures.smolLM2())
        let tokenizer = try Tokenizer(spec: try #require(files.tokenizerSpec))
        let text = try String(contentsOf: Fixtures.url("text/accuracy_corpus.txt"), encoding: .utf8)
        let ids = tokenizer.encode(text)
        #expect(ids.count > 800)
        let exact = try SmolLM2ParityTests.model()
        let stored = try TransformerModel(config: files.config, weights: files.weights)
        #expect(stored.weights.layers[0].dense?.gateUp.typeSummary == "q4_1")
        #expect(stored.weights.lmHead.typeSummary == "q8_0")

        // Two prefill chunks of 256 tokens (weights widened into tiles), then one token per step
        // (weights streamed against the input rows): both of the stored path's products.
        let steps = [256, 256] + [Int](repeating: 1, count: ids.count - 512)
        let reference = try SmolLM2ParityTests.runner(exact, tokens: ids.count).logits(ids, steps: steps)
        let candidate = try SmolLM2ParityTests.runner(stored, tokens: ids.count).logits(ids, steps: steps)
        var agree = 0
        var klSum = 0.0
        for (p, q) in zip(reference, candidate) {
            if argmax(p) == argmax(q) { agree += 1 }
            klSum += Self.klDivergence(p, q)
        }
        let n = Double(reference.count)
        let top1 = Double(agree) / n
        let meanKL = klSum / n
        print(String(format: "stored vs f32 over %d positions: same top-1 %.2f%%, mean KL %.5f", reference.count, top1 * 100, meanKL))
        #expect(top1 >= 0.98)
        #expect(meanKL <= 0.005)
    }

    func argmax(_ row: [Float]) -> Int { row.indices.max { row[$0] < row[$1] }! }

    /// KL(softmax(p) || softmax(q)) in double precision.
    static func klDivergence(_ p: [Float], _ q: [Float]) -> Double {
        let lp = logSoftmax(p), lq = logSoftmax(q)
        var sum = 0.0
        for i in lp.indices { sum += exp(lp[i]) * (lp[i] - lq[i]) }
        return max(0, sum)
    }

    static func logSoftmax(_ x: [Float]) -> [Double] {
        let m = Double(x.max()!)
        let logZ = m + log(x.reduce(0.0) { $0 + exp(Double($1) - m) })
        return x.map { Double($0) - logZ }
    }
}
