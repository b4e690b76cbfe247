import CTesseraKernels
import Synchronization
import Testing

/// The instruction-set level is process-wide and Swift Testing runs suites in parallel: every
/// test of this target that calls `tk_isa_select` should run its body inside
/// `KernelLevels.exclusive`, so that no other test switches the level under it (`.serialized`
/// orders tests within one suite only). The best level is selected again on the way out.
enum KernelLevels {
    private static let mutex = Mutex(())

    static func exclusive(_ body: () -> Void) {
        mutex.withLock { _ in
            defer { _ = tk_isa_select(tk_isa_best()) }
            body()
        }
    }
}

/// The C kernels at every instruction-set level this CPU accepts (portable always): products
/// against a double-precision reference built from the dequantised weights and the dequantised
/// activation blocks, activation blocks byte-identical across levels and equal to the stated
/// rule, and exact 16-bit float conversions. Serialized because the level is process-wide; each
/// test restores the best level, and no other suite may rely on the level; tests switching
/// levels hold `KernelLevels.exclusive`.
@Suite(.serialized)
struct KernelVariantTests {
    // MARK: - Fixtures

    /// SplitMix64: fixed seeds, so a failure reproduces.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// A C enum constant as the Int32 the functions take.
    static func code(_ value: some BinaryInteger) -> Int32 { Int32(value) }

    /// Every weight type with the byte offsets of its f16 scale fields (random bytes there could
    /// be NaN or infinite, so they are set to finite scales).
    static let weightTypes: [(type: Int32, name: String, halves: [Int])] = [
        (code(TK_F32), "F32", []), (code(TK_F16), "F16", []), (code(TK_BF16), "BF16", []),
        (code(TK_Q4_0), "Q4_0", [0]), (code(TK_Q4_1), "Q4_1", [0, 2]), (code(TK_Q5_0), "Q5_0", [0]),
        (code(TK_Q5_1), "Q5_1", [0, 2]), (code(TK_Q8_0), "Q8_0", [0]), (code(TK_IQ4_NL), "IQ4_NL", [0]),
        (code(TK_Q2_K), "Q2_K", [80, 82]), (code(TK_Q3_K), "Q3_K", [108]), (code(TK_Q4_K), "Q4_K", [0, 2]),
        (code(TK_Q5_K), "Q5_K", [0, 2]), (code(TK_Q6_K), "Q6_K", [208]),
    ]

    /// The levels `tk_isa_select` accepts here, portable first; leaves the best level selected.
    static func levels() -> [Int32] {
        defer { _ = tk_isa_select(tk_isa_best()) }
        return [TK_ISA_PORTABLE, TK_ISA_AVX2, TK_ISA_AVX512, TK_ISA_NEON].map(code).filter { tk_isa_select($0) == 0 }
    }

    /// A finite f16 between 2^-10 and 2^-1 in magnitude, either sign.
    static func randomHalf(_ g: inout Generator) -> UInt16 {
        let sign = UInt16.random(in: 0...1, using: &g) << 15
        return sign | UInt16.random(in: 5...14, using: &g) << 10 | UInt16.random(in: 0...0x3FF, using: &g)
    }

    /// `rows` weight rows of `k` values of `type`: random bytes with finite scales; float types
    /// from values in [-1, 1].
    static func randomWeights(_ type: Int32, halves: [Int], rows: Int, k: Int, _ g: inout Generator) -> [UInt8] {
        let count = rows * tk_row_bytes(type, Int64(k))
        switch type {
        case Self.code(TK_F32):
            return (0..<(rows * k)).flatMap { _ in bytes(of: Float.random(in: -1...1, using: &g).bitPattern) }
        case Self.code(TK_BF16):
            return (0..<(rows * k)).flatMap { _ in bytes(of: UInt16(Float.random(in: -1...1, using: &g).bitPattern >> 16)) }
        case Self.code(TK_F16):
            return (0..<(rows * k)).flatMap { _ in bytes(of: randomHalf(&g)) }
        default:
            var out = (0..<count).map { _ in UInt8.random(in: 0...255, using: &g) }
            let block = tk_block_bytes(type)
            for start in stride(from: 0, to: count, by: block) {
                for offset in halves {
                    let h = randomHalf(&g)
                    out[start + offset] = UInt8(h & 0xFF)
                    out[start + offset + 1] = UInt8(h >> 8)
                }
            }
            return out
        }
    }

    static func bytes<T: FixedWidthInteger>(of value: T) -> [UInt8] {
        (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
    }

    static func load32(_ b: [UInt8], _ at: Int) -> UInt32 {
        var v: UInt32 = 0
        for i in (0..<4).reversed() { v = v << 8 | UInt32(b[at + i]) }
        return v
    }

    static func loadHalf(_ b: [UInt8], _ at: Int) -> Double { halfToDouble(UInt16(b[at]) | UInt16(b[at + 1]) << 8) }

    /// binary16 to Double, written out here so the reference does not use the code under test.
    static func halfToDouble(_ bits: UInt16) -> Double {
        let sign: Double = bits & 0x8000 != 0 ? -1 : 1
        let exponent = Int(bits >> 10) & 0x1F, mantissa = Double(bits & 0x3FF)
        if exponent == 0 { return sign * mantissa * 0x1p-24 }
        if exponent == 31 { return mantissa == 0 ? sign * .infinity : .nan }
        return sign * (1 + mantissa / 1024) * Double(sign: .plus, exponent: exponent - 15, significand: 1)
    }

    /// The values an activation row of `act` blocks stands for (d * q), and for Q8_1 the stored
    /// block sums s, which the Q4_1/Q5_1 products use for the minimum.
    static func dequantizeActivations(_ act: Int32, _ b: [UInt8], k: Int) -> (values: [Double], sums: [Double]) {
        switch act {
        case code(TK_F32):
            return ((0..<k).map { Double(Float(bitPattern: load32(b, 4 * $0))) }, [])
        case code(TK_Q8_K):
            var values: [Double] = []
            for start in stride(from: 0, to: b.count, by: 292) {
                let d = Double(Float(bitPattern: load32(b, start)))
                values += (0..<256).map { d * Double(Int8(bitPattern: b[start + 4 + $0])) }
            }
            return (values, [])
        default:
            let size = act == code(TK_Q8_1) ? 36 : 34
            var values: [Double] = [], sums: [Double] = []
            for start in stride(from: 0, to: b.count, by: size) {
                let d = loadHalf(b, start)
                if size == 36 { sums.append(loadHalf(b, start + 2)) }
                values += (0..<32).map { d * Double(Int8(bitPattern: b[start + size - 32 + $0])) }
            }
            return (values, sums)
        }
    }

    static func dequantize(_ type: Int32, _ b: [UInt8], k: Int) -> [Double] {
        var out = [Float](repeating: .nan, count: k)
        b.withUnsafeBytes { raw in out.withUnsafeMutableBufferPointer { tk_dequantize_row(type, raw.baseAddress, $0.baseAddress, Int64(k)) } }
        return out.map(Double.init)
    }

    static func quantize(_ act: Int32, _ x: ArraySlice<Float>) -> [UInt8] {
        var out = [UInt8](repeating: 0xEE, count: tk_row_bytes(act, Int64(x.count)))
        x.withUnsafeBufferPointer { xs in
            out.withUnsafeMutableBytes { tk_quantize_activation_row(act, xs.baseAddress, $0.baseAddress, Int64(xs.count)) }
        }
        return out
    }

    /// Activations: mostly moderate values, some rows scaled up or down, one block of zeros
    /// (d = 0), and blocks whose amax is 127 with halves in between (exact rounding ties).
    static func randomActivations(count: Int, _ g: inout Generator) -> [Float] {
        var x = (0..<count).map { _ in Float.random(in: -2...2, using: &g) }
        if count >= 64 {
            for i in 0..<32 { x[i] = 0 }
            for i in 32..<64 { x[i] = i == 32 ? 127 : Float(i % 21) - 10.5 }
        }
        let scale = [Float(1), 1e-3, 40].randomElement(using: &g)!
        return x.map { $0 * scale }
    }

    // MARK: - Products

    /// tk_gemm_rows for every level, weight type, k (1, 3, 9 blocks; float types also odd
    /// lengths past the vector width), row ranges of 1...13 rows and m = 1, 2, 5, 17 activation
    /// rows, within 1e-5 of sum |w a| of the reference; only c[i][j0..<j1] written; accumulate
    /// adds; tk_vec_dot agrees.
    @Test func productsMatchDoubleReference() { KernelLevels.exclusive { checkProducts() } }

    private func checkProducts() {
        let totalRows = 13, ldc = totalRows + 3
        let sentinel: Float = -12345.5
        for level in Self.levels() {
            #expect(tk_isa_select(level) == 0)
            #expect(tk_isa_current() == level)
            let levelName = String(cString: tk_isa_name(level))
            for (type, name, halves) in Self.weightTypes {
                #expect(tk_type_supported(type) == 1)
                let act = tk_activation_type(type)
                let perBlock = Int(tk_block_elements(type))
                let lengths = perBlock == 1 ? [1, 3, 9, 35, 300] : [1, 3, 9].map { $0 * perBlock }
                for k in lengths {
                    for m in [1, 2, 5, 17] {
                        var g = Generator(state: UInt64(type) << 40 ^ UInt64(k) << 16 ^ UInt64(m))
                        let w = Self.randomWeights(type, halves: halves, rows: totalRows, k: k, &g)
                        let wRow = tk_row_bytes(type, Int64(k))
                        let x = Self.randomActivations(count: m * k, &g)
                        var a: [UInt8] = []
                        for i in 0..<m { a += Self.quantize(act, x[(i * k)..<((i + 1) * k)]) }
                        let aRow = tk_row_bytes(act, Int64(k))
                        #expect(a.count == m * aRow)

                        // Reference and its scale, [i][j].
                        let activations = (0..<m).map { i in
                            Self.dequantizeActivations(act, Array(a[(i * aRow)..<((i + 1) * aRow)]), k: k)
                        }
                        var exact = [Double](repeating: 0, count: m * totalRows)
                        var scale = [Double](repeating: 0, count: m * totalRows)
                        for j in 0..<totalRows {
                            let wBytes = Array(w[(j * wRow)..<((j + 1) * wRow)])
                            let wj = Self.dequantize(type, wBytes, k: k)
                            for i in 0..<m {
                                let (ai, sums) = activations[i]
                                var s = 0.0, magnitude = 0.0
                                for p in 0..<k {
                                    s += wj[p] * ai[p]
                                    magnitude += abs(wj[p] * ai[p])
                                }
                                // Q4_1/Q5_1: x = d q + m meets the stored block sum s rather than
                                // the sum of the block's activations.
                                for (b, stored) in sums.enumerated() {
                                    let minimum = Self.loadHalf(wBytes, b * Int(tk_block_bytes(type)) + 2)
                                    let blockSum = ai[(b * 32)..<(b * 32 + 32)].reduce(0, +)
                                    s += minimum * (stored - blockSum)
                                }
                                exact[i * totalRows + j] = s
                                scale[i * totalRows + j] = magnitude
                            }
                        }

                        var failures: [String] = []
                        func check(_ got: Float, _ expected: Double, _ tolerance: Double, _ what: String) {
                            if !(abs(Double(got) - expected) <= tolerance), failures.count < 5 {
                                failures.append("\(what): \(got) vs \(expected) (tolerance \(tolerance))")
                            }
                        }
                        for rows in 1...totalRows {
                            let j0 = rows % 2 == 0 ? totalRows - rows : (totalRows - rows) / 2
                            let j1 = j0 + rows
                            var c = [Float](repeating: sentinel, count: m * ldc)
                            w.withUnsafeBytes { wp in
                                a.withUnsafeBytes { ap in
                                    c.withUnsafeMutableBufferPointer {
                                        tk_gemm_rows(type, wp.baseAddress, Int64(k), ap.baseAddress, Int64(m), $0.baseAddress,
                                                     Int64(ldc), Int64(j0), Int64(j1), 0)
                                    }
                                }
                            }
                            for i in 0..<m {
                                for j in 0..<ldc {
                                    let got = c[i * ldc + j]
                                    if j >= j0 && j < j1 {
                                        let e = i * totalRows + j
                                        check(got, exact[e], 1e-5 * scale[e], "\(levelName) \(name) k=\(k) m=\(m) rows \(j0)..<\(j1) c[\(i)][\(j)]")
                                    } else if got.bitPattern != sentinel.bitPattern, failures.count < 5 {
                                        failures.append("\(levelName) \(name) k=\(k) m=\(m) rows \(j0)..<\(j1): wrote c[\(i)][\(j)]")
                                    }
                                }
                            }
                        }

                        // accumulate = 1 adds to what is there.
                        let base = (0..<(m * ldc)).map { _ in Float.random(in: -3...3, using: &g) }
                        var c = base
                        w.withUnsafeBytes { wp in
                            a.withUnsafeBytes { ap in
                                c.withUnsafeMutableBufferPointer {
                                    tk_gemm_rows(type, wp.baseAddress, Int64(k), ap.baseAddress, Int64(m), $0.baseAddress,
                                                 Int64(ldc), 0, Int64(totalRows), 1)
                                }
                            }
                        }
                        for i in 0..<m {
                            for j in 0..<totalRows {
                                let e = i * totalRows + j, old = Double(base[i * ldc + j])
                                check(c[i * ldc + j], old + exact[e], 1e-5 * scale[e] + 2e-7 * (abs(old) + abs(exact[e])),
                                      "\(levelName) \(name) k=\(k) m=\(m) accumulate c[\(i)][\(j)]")
                            }
                            #expect(c[i * ldc + totalRows] == base[i * ldc + totalRows])
                        }

                        // The single dot product.
                        let dot = w.withUnsafeBytes { wp in
                            a.withUnsafeBytes { tk_vec_dot(type, Int64(k), wp.baseAddress! + 4 * wRow, $0.baseAddress! + (m - 1) * aRow) }
                        }
                        let e = (m - 1) * totalRows + 4
                        check(dot, exact[e], 1e-5 * scale[e], "\(levelName) \(name) k=\(k) tk_vec_dot")
                        #expect(failures.isEmpty, "\(failures)")
                    }
                }
            }
        }
    }

    // MARK: - Activation blocks

    /// Every level quantises activations to the same bytes as the portable code: lengths with
    /// odd numbers of blocks (and odd f32 lengths), random rows and blocks built to be awkward
    /// (negative amax, all values equal, exact ties, tiny and huge values: d below f16's range
    /// and above it).
    @Test func activationBlocksAreIdenticalAcrossLevels() { KernelLevels.exclusive { checkActivationBytes() } }

    private func checkActivationBytes() {
        var g = Generator(state: 99)
        var inputs = [1, 7, 32, 33, 96, 256, 576, 768, 2304].map { Self.randomActivations(count: $0, &g) }
        var awkward = [Float](repeating: 0, count: 512)
        for i in 0..<32 { awkward[i] = Float(i) - 40 }                        // amax is negative
        for i in 32..<64 { awkward[i] = 0.75 }                                // all equal
        for i in 64..<96 { awkward[i] = i == 64 ? -127 : Float(i) - 80.5 }   // ties at d = 1
        for i in 96..<128 { awkward[i] = Float(i - 100) * 1e-30 }             // d flushes to f16 zero
        for i in 128..<160 { awkward[i] = Float(i - 150) * 1e6 }              // d is f16 infinity
        for i in 160..<512 { awkward[i] = Float.random(in: -1...1, using: &g) * Float(i % 7 + 1) }
        inputs.append(awkward)
        func all() -> [(String, [UInt8])] {
            [TK_Q8_0, TK_Q8_1, TK_Q8_K, TK_F32].map(Self.code).flatMap { act in
                inputs.filter { $0.count % Int(tk_block_elements(act)) == 0 }.map { x in
                    ("activation type \(act), n = \(x.count)", Self.quantize(act, x[...]))
                }
            }
        }
        #expect(tk_isa_select(Self.code(TK_ISA_PORTABLE)) == 0)
        let portable = all()
        #expect(portable.count == 10 + 7 + 7 + 4)
        for level in Self.levels() {
            #expect(tk_isa_select(level) == 0)
            for ((what, expected), (_, got)) in zip(portable, all()) {
                let first = zip(expected, got).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                #expect(expected.count == got.count && first == nil,
                        "\(String(cString: tk_isa_name(level))) \(what): first different byte \(first ?? -1)")
            }
        }
    }

    /// The rule itself, as stated: amax / 127 in f32, q = round-to-nearest-even(x / d via
    /// x * (1 / d)); Q8_K keeps d in f32 and sums each 16 q's; Q8_0/Q8_1 store d (and Q8_1
    /// s = d * sum q) as f16.
    @Test func activationRule() { KernelLevels.exclusive { checkActivationRule() } }

    private func checkActivationRule() {
        var g = Generator(state: 7)
        let x = Self.randomActivations(count: 512, &g)
        for level in Self.levels() {
            #expect(tk_isa_select(level) == 0)
            let k8 = Self.quantize(Self.code(TK_Q8_K), x[...])
            let q8 = Self.quantize(Self.code(TK_Q8_0), x[...])
            let q81 = Self.quantize(Self.code(TK_Q8_1), x[...])
            for (blockSize, count) in [(256, 2), (32, 16)] {
                for b in 0..<count {
                    let values = x[(b * blockSize)..<((b + 1) * blockSize)]
                    let d = values.map(abs).max()! / 127
                    let id: Float = d != 0 ? 1 / d : 0
                    let q = values.map { Int8(($0 * id).rounded(.toNearestOrEven)) }
                    if blockSize == 256 {
                        let start = b * 292
                        #expect(Self.load32(k8, start) == d.bitPattern)
                        #expect(k8[(start + 4)..<(start + 260)].map { Int8(bitPattern: $0) } == q)
                        for group in 0..<16 {
                            let sum = q[(16 * group)..<(16 * group + 16)].reduce(0) { $0 + Int($1) }
                            #expect(Int(Int16(k8[start + 260 + 2 * group]) | Int16(k8[start + 261 + 2 * group]) << 8) == sum)
                        }
                    } else {
                        #expect(q8[(b * 34 + 2)..<(b * 34 + 34)].map { Int8(bitPattern: $0) } == q)
                        #expect(q81[(b * 36 + 4)..<(b * 36 + 36)].map { Int8(bitPattern: $0) } == q)
                        // d as f16: the nearest half (both neighbours checked by the exact decoder).
                        let storedD = Self.loadHalf(q8, b * 34)
                        #expect(Self.loadHalf(q81, b * 36) == storedD)
                        #expect(abs(storedD - Double(d)) <= Double(d) * 0x1p-11 + 0x1p-25)
                        let s = d * Float(q.reduce(0) { $0 + Int($1) })
                        #expect(abs(Self.loadHalf(q81, b * 36 + 2) - Double(s)) <= abs(Double(s)) * 0x1p-11 + 0x1p-25)
                    }
                }
            }
            #if (os(Linux) && arch(x86_64)) || arch(arm64)
            // Exactly Float16's rounding, where the platform has it.
            for b in 0..<16 {
                let d = x[(b * 32)..<(b * 32 + 32)].map(abs).max()! / 127
                let bits = Float16(d).bitPattern
                #expect(UInt16(q8[b * 34]) | UInt16(q8[b * 34 + 1]) << 8 == bits)
                let sum = x[(b * 32)..<(b * 32 + 32)].map { Int(($0 * (d != 0 ? 1 / d : 0)).rounded(.toNearestOrEven)) }.reduce(0, +)
                #expect(UInt16(q81[b * 36 + 2]) | UInt16(q81[b * 36 + 3]) << 8 == Float16(d * Float(sum)).bitPattern)
            }
            #endif
        }
    }

    // MARK: - Formats

    @Test func blockSizes() {
        let expected: [(Int32, Int64, Int)] = [
            (Self.code(TK_F32), 1, 4), (Self.code(TK_F16), 1, 2), (Self.code(TK_BF16), 1, 2),
            (Self.code(TK_Q4_0), 32, 18), (Self.code(TK_Q4_1), 32, 20), (Self.code(TK_Q5_0), 32, 22),
            (Self.code(TK_Q5_1), 32, 24), (Self.code(TK_Q8_0), 32, 34), (Self.code(TK_Q8_1), 32, 36),
            (Self.code(TK_IQ4_NL), 32, 18), (Self.code(TK_Q2_K), 256, 84), (Self.code(TK_Q3_K), 256, 110),
            (Self.code(TK_Q4_K), 256, 144), (Self.code(TK_Q5_K), 256, 176), (Self.code(TK_Q6_K), 256, 210),
            (Self.code(TK_Q8_K), 256, 292),
        ]
        for (type, elements, bytes) in expected {
            #expect(tk_block_elements(type) == elements)
            #expect(tk_block_bytes(type) == bytes)
            #expect(tk_row_bytes(type, 3 * elements) == 3 * bytes)
            if elements > 1 { #expect(tk_row_bytes(type, elements + 1) == 0) }
        }
        // Activation formats are sized but are not weight types; unknown types are nothing.
        #expect(tk_type_supported(Self.code(TK_Q8_1)) == 0)
        #expect(tk_type_supported(Self.code(TK_Q8_K)) == 0)
        for unknown: Int32 in [4, 5, 16, 19, 29, 31, -1] {
            #expect(tk_type_supported(unknown) == 0)
            #expect(tk_block_elements(unknown) == 0)
            #expect(tk_block_bytes(unknown) == 0)
            #expect(tk_row_bytes(unknown, 32) == 0)
        }
        #expect(tk_activation_type(Self.code(TK_Q4_0)) == Self.code(TK_Q8_0))
        #expect(tk_activation_type(Self.code(TK_IQ4_NL)) == Self.code(TK_Q8_0))
        #expect(tk_activation_type(Self.code(TK_Q5_1)) == Self.code(TK_Q8_1))
        #expect(tk_activation_type(Self.code(TK_Q3_K)) == Self.code(TK_Q8_K))
        #expect(tk_activation_type(Self.code(TK_BF16)) == Self.code(TK_F32))
    }

    /// f16 and bf16 edges: signed zeros, subnormals, the largest finite, infinities, and NaN
    /// payloads kept as they are (as NumPy's conversion does).
    @Test func sixteenBitEdges() {
        func convert(_ type: Int32, _ bits: [UInt16]) -> [UInt32] {
            var out = [Float](repeating: 0, count: bits.count)
            bits.withUnsafeBytes { raw in out.withUnsafeMutableBufferPointer { tk_dequantize_row(type, raw.baseAddress, $0.baseAddress, Int64(bits.count)) } }
            return out.map(\.bitPattern)
        }
        let halves: [UInt16] = [0x0000, 0x8000, 0x0001, 0x83FF, 0x03FF, 0x0400, 0x3C00, 0xC000, 0x3555, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00, 0x7C01, 0xFE00, 0x7FFF]
        let expectedHalves: [UInt32] = [
            0x0000_0000, 0x8000_0000, 0x3380_0000, 0xB87F_C000, 0x387F_C000, 0x3880_0000, 0x3F80_0000, 0xC000_0000,
            0x3EAA_A000, 0x477F_E000, 0xC77F_E000, 0x7F80_0000, 0xFF80_0000, 0x7F80_2000, 0xFFC0_0000, 0x7FFF_E000,
        ]
        #expect(convert(Self.code(TK_F16), halves) == expectedHalves)
        let brains: [UInt16] = [0x0000, 0x8000, 0x0001, 0x8001, 0x3F80, 0xC0A0, 0x7F7F, 0x7F80, 0xFF80, 0x7FC1, 0x7F81]
        #expect(convert(Self.code(TK_BF16), brains) == brains.map { UInt32($0) << 16 })
        // Every finite half against the independent decoder.
        let all = (0...UInt16.max).filter { ($0 >> 10) & 0x1F != 0x1F }
        let converted = convert(Self.code(TK_F16), all)
        #expect(zip(all, converted).allSatisfy { Double(Float(bitPattern: $1)) == Self.halfToDouble($0) })
    }
}
