import Foundation
import TesseraModels

/// The model's forward pass alone on one rank (no engine, no sampling, no threads of ranks):
/// a prefill of `promptLength` tokens in one step into an empty cache, and greedy decode steps
/// of one token after that prefill.
enum ForwardSpeed {
    static func run(model url: URL, runs: Int, promptLength: Int = 128, decodeSteps: Int = 64) throws {
        let files = try ModelFiles.open(url)
        let model = try TransformerModel(config: files.config, weights: files.weights)
        let blockSize = 16
        let blocks = (promptLength + decodeSteps + blockSize - 1) / blockSize
        let table = Array(0..<blocks)
        let prompt = (0..<promptLength).map { 100 + ($0 * 37) % 4000 }
        print("""
            forward pass, \(url.lastPathComponent), one rank, f32 KV cache in blocks of \(blockSize):
              prefill = one step of \(promptLength) tokens into an empty cache;
              decode = \(decodeSteps) greedy single-token steps at context \(promptLength) to \(promptLength + decodeSteps - 1)
            """)
        func emptyCache() -> PagedKVCache {
            PagedKVCache(config: files.config, numBlocks: blocks, blockSize: blockSize, dtype: .f32)
        }
        let prefill = ForwardBatch(
            tokens: prompt, positions: Array(0..<promptLength),
            sequences: [SequenceSpan(tokenRange: 0..<promptLength, contextLength: 0, blockTable: table)],
            logitIndices: [promptLength - 1])

        let prefillFigures = try Figures.measure(runs: runs, prepare: emptyCache) { cache in
            _ = try model.forward(prefill, cache: cache)
        }
        print(prefillFigures.line("  prefill", amount: Double(promptLength), unit: "tokens"))

        let decodeFigures = try Figures.measure(runs: runs, prepare: { () throws -> (PagedKVCache, Int) in
            let cache = emptyCache()
            return (cache, argmax(try model.forward(prefill, cache: cache).data))
        }) { cache, first in
            var token = first
            for k in 0..<decodeSteps {
                let step = ForwardBatch(
                    tokens: [token], positions: [promptLength + k],
                    sequences: [SequenceSpan(tokenRange: 0..<1, contextLength: promptLength + k, blockTable: table)],
                    logitIndices: [0])
                token = argmax(try model.forward(step, cache: cache).data)
            }
        }
        print(decodeFigures.line("  decode", amount: Double(decodeSteps), unit: "tokens"))
    }

    static func argmax(_ values: [Float]) -> Int {
        values.indices.max { values[$0] < values[$1] } ?? 0
    }
}
