extension PagedKVCache {
    /// Local context tokens `tokens` of one sequence (indices into this rank's slice, in order),
    /// one KV head, read through `blockTable` into contiguous f32 `keys` and `values`
    /// (`tokens.count * headDim` floats each), widening a 16-bit cache once.
    ///
    /// The attention kernels' one read of the paged context: block by block, so each piece is
    /// a sequential read the hardware prefetches.
    package func gather(
        layer: Int, kvHead: Int, blockTable: [Int], tokens: Range<Int>,
        keys: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>
    ) {
        var index = tokens.lowerBound
        while index < tokens.upperBound {
            let offset = index % blockSize
            let piece = min(blockSize - offset, tokens.upperBound - index)
            let firstSlot = blockTable[index / blockSize] * blockSize + offset
            let filled = (index - tokens.lowerBound) * headDim
            read(layer: layer, values: false, kvHead: kvHead, firstSlot: firstSlot, count: piece, into: keys + filled)
            if parts == 2 {
                read(layer: layer, values: true, kvHead: kvHead, firstSlot: firstSlot, count: piece, into: values + filled)
            } else {
                (values + filled).update(from: keys + filled, count: piece * headDim)
            }
            index += piece
        }
    }
}
