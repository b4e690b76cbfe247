/// A fixed-size f32 buffer owned by a class, so kernels get a stable pointer without nesting
/// `withUnsafe...` closures. Used for weights (immutable after loading) and per-forward scratch.
final class FloatStorage: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    /// `count` zeros.
    init(count: Int) {
        self.count = count
        pointer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    /// The concatenation of `parts`.
    convenience init(concatenating parts: [[Float]]) {
        self.init(count: parts.reduce(0) { $0 + $1.count })
        var offset = 0
        for part in parts {
            part.withUnsafeBufferPointer { src in
                if let base = src.baseAddress { (pointer + offset).update(from: base, count: src.count) }
            }
            offset += part.count
        }
    }

    deinit { pointer.deallocate() }

    var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}
