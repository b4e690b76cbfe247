import Foundation
import Testing
import TestSupport
@testable import TesseraModels

/// A model file with K-quant weights against transformers: `Tests/Fixtures/quant/tiny-llama-kq.<type>.gguf`
/// is a random-weight Llama with 256-wide rows quantised by llama.cpp's quantiser (Q4_K_M: Q4_K and
/// Q6_K; Q6_K), and `tiny-llama-kq.json` holds transformers' logits of each file (gguf-py's
/// dequantised weights, f32 activations) at recorded positions and a 10-token greedy
/// continuation (`scripts/fixtures_kquant_model.py`).
@Suite struct QuantizedModelFixtureTests {
    static let files = ["Q4_K_M", "Q6_K"]
    /// As for SmolLM2's Q4_1 file: weights dequantised exactly, f32 arithmetic in another order.
    static let tolerance: Float = 1e-3

    struct Prompt {
        let ids: [Int]
        let positions: [Int]
        let logits: [[Float]]
        let greedy: [Int]?
        let greedyMargins: [Double]?
    }

    enum LayoutError: Error { case unexpected(String) }

    /// 8 hex digits per f32 bit pattern, most significant first, concatenated.
    static func floats(hex: String) throws -> [Float] {
        let digits = Array(hex.utf8)
        guard digits.count % 8 == 0 else { throw LayoutError.unexpected("hex length \(digits.count)") }
        return try stride(from: 0, to: digits.count, by: 8).map { start in
            guard let bits = UInt32(String(decoding: digits[start..<start + 8], as: UTF8.self), radix: 16)
            else { throw LayoutError.unexpected("hex digits at \(start)") }
            return Float(bitPattern: bits)
        }
    }

    static func prompts(_ type: String) throws -> (file: String, prompts: [Prompt]) {
        guard let doc = try Fixtures.json("quant/tiny-llama-kq.json") as? [String: Any],
              let files = doc["files"] as? [String: Any], let entry = files[type] as? [String: Any],
              let file = entry["file"] as? String, let prompts = entry["prompts"] as? [[String: Any]]
        else { throw LayoutError.unexpected("quant/tiny-llama-kq.json: \(type)") }
        let parsed = try prompts.map { p -> Prompt in
            guard let ids = p["ids"] as? [Int], let positions = p["positions"] as? [Int],
                  let rows = p["logits_bits_hex"] as? [String]
            else { throw LayoutError.unexpected("quant/tiny-llama-kq.json: \(type) prompt") }
            return Prompt(ids: ids, positions: positions, logits: try rows.map(floats(hex:)),
                          greedy: p["greedy"] as? [Int], greedyMargins: p["greedy_margins"] as? [Double])
        }
        return (file, parsed)
    }

    static func model(_ file: String) throws -> TransformerModel {
        let files = try ModelFiles.open(Fixtures.url("quant/\(file)"))
        #expect(files.config.hiddenSize == 256 && files.config.numLayers == 2, "\(file)")
        return try TransformerModel(config: files.config, weights: files.weights)
    }

    /// Prefill at once and token by token: the recorded positions' logits.
    @Test(arguments: files)
    func logitsMatchTransformers(type: String) throws {
        let (file, prompts) = try Self.prompts(type)
        let model = try Self.model(file)
        var worst: [String: Float] = [:]
        for p in prompts {
            for (label, steps) in [("prefill", [p.ids.count]), ("decode", [Int](repeating: 1, count: p.ids.count))] {
                let all = try TinyModelParityTests.runner(model, tokens: p.ids.count, blockSize: 8).logits(p.ids, steps: steps)
                let got = p.positions.map { all[$0] }
                worst[label] = max(worst[label] ?? 0, AttentionTests.maxAbsDiff(got, p.logits))
            }
        }
        print("quantised \(file): max |logit diff| against transformers", worst.sorted { $0.key < $1.key })
        #expect(worst["prefill"]! <= Self.tolerance, "\(file)")
        #expect(worst["decode"]! <= Self.tolerance, "\(file)")
    }

    /// The greedy continuation; every recorded margin is above twice the tolerance, so a
    /// correct engine picks the same tokens.
    @Test(arguments: files)
    func greedyMatchesTransformers(type: String) throws {
        let (file, prompts) = try Self.prompts(type)
        guard let p = prompts.last, let expected = p.greedy, let margins = p.greedyMargins
        else { throw LayoutError.unexpected("no greedy continuation for \(type)") }
        let separated = margins.allSatisfy { $0 > 2 * Double(Self.tolerance) }
        #expect(separated, "\(file): a margin too small to compare")
        let model = try Self.model(file)
        let runner = TinyModelParityTests.runner(model, tokens: p.ids.count + expected.count, blockSize: 8)
        let (tokens, _) = try runner.greedy(prompt: p.ids, maxNewTokens: expected.count, eos: [])
        #expect(tokens == expected, "\(file)")
    }

    /// The files hold the K-quant types they are there for.
    @Test func fixtureTypes() throws {
        guard let doc = try Fixtures.json("quant/tiny-llama-kq.json") as? [String: Any],
              let files = doc["files"] as? [String: [String: Any]]
        else { throw LayoutError.unexpected("quant/tiny-llama-kq.json") }
        let q4 = files["Q4_K_M"]?["tensor_types"] as? [String: String] ?? [:]
        let q6 = files["Q6_K"]?["tensor_types"] as? [String: String] ?? [:]
        #expect(Set(q4.values) == ["F32", "Q4_K", "Q6_K"])
        #expect(Set(q6.values) == ["F32", "Q6_K"])
    }
}
