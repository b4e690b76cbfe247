import Foundation
import Testing
import TestSupport
@testable import TesseraModels
import TesseraTensor
import TesseraTokenizer

/// The default model on its stored weights (Q4_1 layers, Q8_0 embedding and head, activations
/// quantised to 8 bits per product) against the exact path (the same weights widened to f32,
/// the path the transformers parity suites check), token by token over a text with teacher
/// forcing: llama.cpp's measure of a quantisation, same top-1 token and the mean KL divergence
/// of the next-token distributions.
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

        // Chunks of 256 tokens: prefill-sized products, the shape a server runs.
        let steps = stride(from: 0, to: ids.count, by: 256).map { min(256, ids.count - $0) }
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
        // And the two are not the same computation (the check could fail).
        #expect(klSum > 0)
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
