import Testing
@testable import TesseraModels

@Suite("PagedKVCache")
struct KVCacheTests {
    let config = RandomWeights.config(heads: 4, kvHeads: 2, headDim: 8)

    @Test func sizes() {
        for dtype in KVCacheDType.allCases {
            let cache = PagedKVCache(config: config, numBlocks: 5, blockSize: 4, dtype: dtype)
            #expect(cache.capacity == 20)
            #expect(cache.bytesPerToken == 2 * config.numLayers * config.kvDim * dtype.bytesPerElement)
            #expect(cache.totalBytes == cache.capacity * cache.bytesPerToken)
            #expect(PagedKVCache.bytesPerToken(config: config, dtype: dtype) == cache.bytesPerToken)
        }
    }

    @Test func slotsFollowTheBlockTable() {
        let cache = PagedKVCache(config: config, numBlocks: 8, blockSize: 4, dtype: .f32)
        let table = [6, 2, 7]
        #expect(cache.slot(position: 0, blockTable: table) == 24)
        #expect(cache.slot(position: 3, blockTable: table) == 27)
        #expect(cache.slot(position: 4, blockTable: table) == 8)
        #expect(cache.slot(position: 9, blockTable: table) == 29)
    }

    @Test(arguments: KVCacheDType.allCases)
    func writeThenReadPerHead(dtype: KVCacheDType) {
        let cache = PagedKVCache(config: config, numBlocks: 3, blockSize: 2, dtype: dtype)
        let width = config.kvDim, hd = config.headDim
        let keys = AttentionTests.random(6 * width, seed: 1, scale: 3)
        let values = AttentionTests.random(6 * width, seed: 2, scale: 3)
        for layer in 0..<config.numLayers {
            for slot in 0..<6 {
                cache.write(layer: layer, slot: slot, key: Array(keys[slot * width..<(slot + 1) * width]).map { $0 + Float(layer) },
                            value: Array(values[slot * width..<(slot + 1) * width]))
            }
        }
        let tolerance: Float = switch dtype {
        case .f32: 0
        case .f16: 3e-3
        case .bf16: 3e-2
        }
        for layer in 0..<config.numLayers {
            for head in 0..<config.numKVHeads {
                var out = [Float](repeating: 0, count: 3 * hd)
                cache.read(layer: layer, values: false, kvHead: head, firstSlot: 2, count: 3, into: &out)
                for t in 0..<3 {
                    for i in 0..<hd {
                        let expected = keys[(2 + t) * width + head * hd + i] + Float(layer)
                        #expect(abs(out[t * hd + i] - expected) <= tolerance * max(1, abs(expected)))
                    }
                }
                cache.read(layer: layer, values: true, kvHead: head, firstSlot: 0, count: 1, into: &out)
                for i in 0..<hd {
                    #expect(abs(out[i] - values[head * hd + i]) <= tolerance * max(1, abs(values[head * hd + i])))
                }
            }
        }
        #expect((cache.floats(layer: 0, values: false) != nil) == (dtype == .f32))
    }
}
