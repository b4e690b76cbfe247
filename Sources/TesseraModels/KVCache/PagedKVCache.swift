import TesseraTensor

/// Paged KV storage of one rank: per layer, K and V blocks of `blockSize` token slots, each
/// slot `numKVHeads * headDim` values in `dtype`, `numKVHeads` being the heads this rank holds.
/// A latent-attention model stores one part only (`parts == 1`): its cached latent is both
/// key and value, and reading values reads the keys.
///
/// Physical slot `s` of a layer is block `s / blockSize`, offset `s % blockSize`; the slots of
/// one block are contiguous. Which blocks a sequence uses is the caller's business (the block
/// table in `SequenceSpan`); the cache only stores.
///
/// Not synchronised: one forward pass at a time may write a given cache. It is `Sendable` so a
/// rank's cache can be handed to the thread that runs that rank.
public final class PagedKVCache: @unchecked Sendable {
    public let numBlocks: Int
    public let blockSize: Int
    public let dtype: KVCacheDType
    public let numLayers: Int
    /// Values per token slot: `numKVHeads * headDim`.
    public let slotWidth: Int
    /// KV heads stored per slot: the rank's share (all of the model's on a single rank).
    public let numKVHeads: Int
    public let headDim: Int
    /// Stored tensors per layer: 2 (K and V) or 1 (latent attention: values are the keys).
    public let parts: Int

    /// Per layer: keys then values, each `numBlocks * blockSize * slotWidth` elements.
    private let storage: UnsafeMutableRawPointer
    private let bytesPerLayerPart: Int

    /// A cache for all of `config`'s KV heads (one rank, no tensor parallelism).
    public convenience init(config: ModelConfig, numBlocks: Int, blockSize: Int, dtype: KVCacheDType) {
        self.init(config: config, numBlocks: numBlocks, blockSize: blockSize, dtype: dtype, kvHeads: config.numKVHeads)
    }

    /// A cache for `kvHeads` KV heads of `config` (a rank's share under tensor parallelism).
    /// With context parallelism, `numBlocks` counts this rank's physical blocks: each holds
    /// `blockSize` of the tokens this rank owns, so the CP group holds `cp` times as many.
    public init(config: ModelConfig, numBlocks: Int, blockSize: Int, dtype: KVCacheDType, kvHeads: Int) {
        precondition(numBlocks >= 0 && blockSize > 0, "numBlocks=\(numBlocks) must be >= 0 and blockSize=\(blockSize) > 0")
        precondition(kvHeads > 0 && kvHeads <= config.numKVHeads, "kvHeads=\(kvHeads) outside 1...\(config.numKVHeads)")
        self.numBlocks = numBlocks
        self.blockSize = blockSize
        self.dtype = dtype
        self.numLayers = config.numLayers
        self.numKVHeads = kvHeads
        self.headDim = config.headDim
        self.slotWidth = kvHeads * config.headDim
        self.parts = config.kvCacheParts
        self.bytesPerLayerPart = numBlocks * blockSize * slotWidth * dtype.bytesPerElement
        let total = max(1, parts * numLayers * bytesPerLayerPart)
        storage = UnsafeMutableRawPointer.allocate(byteCount: total, alignment: 64)
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: total)
    }

    deinit { storage.deallocate() }

    /// Bytes one token occupies across all layers, K and V (or the latent).
    public var bytesPerToken: Int { parts * numLayers * slotWidth * dtype.bytesPerElement }

    /// Bytes per token of a single-rank cache for `config` in `dtype`, for sizing one before
    /// allocating it (per rank under parallelism: `KVCapacityPlan.bytesPerTokenPerRank`).
    public static func bytesPerToken(config: ModelConfig, dtype: KVCacheDType) -> Int {
        config.kvCacheParts * config.numLayers * config.kvDim * dtype.bytesPerElement
    }

    /// Token slots in the cache.
    public var capacity: Int { numBlocks * blockSize }
    /// Bytes allocated for all blocks.
    public var totalBytes: Int { parts * numLayers * bytesPerLayerPart }

    /// Physical slot of absolute position `position` under `blockTable` on a single rank
    /// (cp = 1); with cp > 1 the owner's slot is `KVPlacement.slot(of:blockTable:blockSize:)`.
    @inline(__always)
    public func slot(position: Int, blockTable: [Int]) -> Int {
        blockTable[position / blockSize] * blockSize + position % blockSize
    }

    /// Start of layer `layer`'s keys (`values: false`) or values, as raw bytes (the keys
    /// again when values are the keys).
    @inline(__always)
    package func base(layer: Int, values: Bool) -> UnsafeMutableRawPointer {
        storage + (parts * layer + (values && parts == 2 ? 1 : 0)) * bytesPerLayerPart
    }

    /// Stores one token's K and V (`slotWidth` f32 values each) at `slot` of `layer`,
    /// rounding to the cache dtype.
    package func write(layer: Int, slot: Int, key: UnsafePointer<Float>, value: UnsafePointer<Float>) {
        precondition(slot >= 0 && slot < capacity, "slot \(slot) outside the cache's \(capacity) slots")
        store(key, into: base(layer: layer, values: false), slot: slot)
        if parts == 2 { store(value, into: base(layer: layer, values: true), slot: slot) }
    }

    @inline(__always)
    private func store(_ src: UnsafePointer<Float>, into part: UnsafeMutableRawPointer, slot: Int) {
        let element = slot * slotWidth
        switch dtype {
        case .f32:
            (part.assumingMemoryBound(to: Float.self) + element).update(from: src, count: slotWidth)
        case .f16:
            HalfPrecision.floatToF16(src, part.assumingMemoryBound(to: UInt16.self) + element, count: slotWidth)
        case .bf16:
            HalfPrecision.floatToBF16(src, part.assumingMemoryBound(to: UInt16.self) + element, count: slotWidth)
        }
    }

    /// Layer `layer`'s keys or values as f32 when the cache stores f32 (read in place,
    /// `slotWidth` floats per slot), nil otherwise.
    @inline(__always)
    package func floats(layer: Int, values: Bool) -> UnsafePointer<Float>? {
        dtype == .f32 ? UnsafePointer(base(layer: layer, values: values).assumingMemoryBound(to: Float.self)) : nil
    }

    /// Reads `count` consecutive slots from `firstSlot` of one KV head as f32, `headDim`
    /// values per token, into `out` (`count * headDim` floats).
    package func read(
        layer: Int, values: Bool, kvHead: Int, firstSlot: Int, count: Int, into out: UnsafeMutablePointer<Float>
    ) {
        let src = base(layer: layer, values: values)
        for t in 0..<count {
            let element = (firstSlot + t) * slotWidth + kvHead * headDim
            let dst = out + t * headDim
            switch dtype {
            case .f32:
                dst.update(from: src.assumingMemoryBound(to: Float.self) + element, count: headDim)
            case .f16:
                HalfPrecision.f16ToFloat(src.assumingMemoryBound(to: UInt16.self) + element, dst, count: headDim)
            case .bf16:
                HalfPrecision.bf16ToFloat(src.assumingMemoryBound(to: UInt16.self) + element, dst, count: headDim)
            }
        }
    }
}
