/// The scalars of a piece of UTF-8 text with their classes and byte offsets: the input of the
/// hand-written pre-tokenizer patterns. Reused between calls to avoid allocating per piece.
struct ScalarBuffer {
    var classes: [ScalarClass] = []
    var values: [UInt32] = []
    /// Byte offset of every scalar, plus one final entry holding the byte count.
    var offsets: [Int] = []

    var count: Int { classes.count }

    /// Decodes `bytes`, which must be valid UTF-8 (it always comes from a Swift `String`).
    mutating func load(_ bytes: UnsafeBufferPointer<UInt8>) {
        classes.removeAll(keepingCapacity: true)
        values.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
        var i = 0
        let n = bytes.count
        while i < n {
            let lead = UInt32(bytes[i])
            var value: UInt32
            var length: Int
            if lead < 0x80 {
                value = lead; length = 1
            } else if lead < 0xE0 {
                value = lead & 0x1F; length = 2
            } else if lead < 0xF0 {
                value = lead & 0x0F; length = 3
            } else {
                value = lead & 0x07; length = 4
            }
            var k = 1
            while k < length && i + k < n {
                value = value << 6 | (UInt32(bytes[i + k]) & 0x3F)
                k += 1
            }
            let scalar = Unicode.Scalar(value) ?? "\u{FFFD}"
            classes.append(ScalarClass.of(scalar))
            values.append(value)
            offsets.append(i)
            i += length
        }
        offsets.append(n)
    }
}

extension TokenizerSpec.PreTokenizer {
    /// Splits the text in `buffer` into words, appending each word's byte range.
    ///
    /// Every pattern covers every character (its last alternatives accept any whitespace, letter,
    /// number or other character), so the words are contiguous and cover the whole text.
    func split(_ buffer: ScalarBuffer, into words: inout [Range<Int>]) {
        let n = buffer.count
        guard n > 0 else { return }
        buffer.classes.withUnsafeBufferPointer { classes in
            buffer.values.withUnsafeBufferPointer { values in
                let scanner = PatternScanner(classes: classes, values: values)
                switch self {
                case .gpt2:
                    scanner.splitGPT2(0, n, buffer.offsets, &words)
                case .smollm:
                    // Hugging Face `Digits(individual_digits: true)` first: every number character is
                    // a word of its own; the GPT-2 pattern then runs on the text between them.
                    var start = 0
                    for i in 0..<n where classes[i].contains(.number) {
                        scanner.splitGPT2(start, i, buffer.offsets, &words)
                        words.append(buffer.offsets[i]..<buffer.offsets[i + 1])
                        start = i + 1
                    }
                    scanner.splitGPT2(start, n, buffer.offsets, &words)
                case .qwen2:
                    scanner.splitModern(0, n, maxDigits: 1, buffer.offsets, &words)
                case .llama3:
                    scanner.splitModern(0, n, maxDigits: 3, buffer.offsets, &words)
                }
            }
        }
    }
}

/// The patterns, each alternative written out as the backtracking regex engine would try it.
private struct PatternScanner {
    let classes: UnsafeBufferPointer<ScalarClass>
    let values: UnsafeBufferPointer<UInt32>

    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    func splitGPT2(_ start: Int, _ end: Int, _ offsets: [Int], _ words: inout [Range<Int>]) {
        var i = start
        while i < end {
            let next = gpt2Match(at: i, end: end)
            words.append(offsets[i]..<offsets[next])
            i = next
        }
    }

    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,k}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    /// with k = 1 (Qwen2) or 3 (Llama 3).
    func splitModern(_ start: Int, _ end: Int, maxDigits: Int, _ offsets: [Int], _ words: inout [Range<Int>]) {
        var i = start
        while i < end {
            let next = modernMatch(at: i, end: end, maxDigits: maxDigits)
            words.append(offsets[i]..<offsets[next])
            i = next
        }
    }

    private func gpt2Match(at i: Int, end: Int) -> Int {
        if let e = contraction(at: i, end: end, ignoringCase: false) { return e }
        let c = classes[i]
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: the space is taken only if the run follows it.
        if c.contains(.space) && i + 1 < end {
            let d = classes[i + 1]
            if d.contains(.letter) { return run(from: i + 1, end: end) { $0.contains(.letter) } }
            if d.contains(.number) { return run(from: i + 1, end: end) { $0.contains(.number) } }
            if d.isOther { return run(from: i + 1, end: end) { $0.isOther } }
        }
        if c.contains(.letter) { return run(from: i, end: end) { $0.contains(.letter) } }
        if c.contains(.number) { return run(from: i, end: end) { $0.contains(.number) } }
        if c.isOther { return run(from: i, end: end) { $0.isOther } }
        return whitespaceRun(at: i, end: end)
    }

    private func modernMatch(at i: Int, end: Int, maxDigits: Int) -> Int {
        if let e = contraction(at: i, end: end, ignoringCase: true) { return e }
        let c = classes[i]
        // `[^\r\n\p{L}\p{N}]?\p{L}+`: one optional leading character that is not a line break,
        // letter or number (a space, a tab, punctuation...), then letters.
        if !c.contains(.letter) && !c.contains(.number) && !c.contains(.lineBreak)
            && i + 1 < end && classes[i + 1].contains(.letter)
        {
            return run(from: i + 1, end: end) { $0.contains(.letter) }
        }
        if c.contains(.letter) { return run(from: i, end: end) { $0.contains(.letter) } }
        // `\p{N}{1,k}`
        if c.contains(.number) {
            var j = i + 1
            while j < end && j - i < maxDigits && classes[j].contains(.number) { j += 1 }
            return j
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        var s = i
        if c.contains(.space) && i + 1 < end && classes[i + 1].isOther { s = i + 1 }
        if classes[s].isOther {
            let j = run(from: s, end: end) { $0.isOther }
            return run(from: j, end: end) { $0.contains(.lineBreak) }
        }
        // `\s*[\r\n]+`: backtracking from the whole whitespace run, the first success ends just
        // after the run's last line break.
        let j = run(from: i, end: end) { $0.contains(.whitespace) }
        var p = j - 1
        while p >= i {
            if classes[p].contains(.lineBreak) { return p + 1 }
            p -= 1
        }
        return whitespaceRun(at: i, end: end)
    }

    /// `\s+(?!\S)|\s+` at a whitespace character: the whole run when it ends the text; otherwise
    /// the run minus its last character (which then prefixes the next word), unless that would
    /// leave nothing.
    private func whitespaceRun(at i: Int, end: Int) -> Int {
        let j = run(from: i, end: end) { $0.contains(.whitespace) }
        if j == end || j - i < 2 { return max(j, i + 1) }
        return j - 1
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d`, optionally case-insensitive (then also matching U+017F LATIN
    /// SMALL LETTER LONG S, which Unicode case folding maps to `s`).
    private func contraction(at i: Int, end: Int, ignoringCase: Bool) -> Int? {
        guard classes[i].contains(.apostrophe), i + 1 < end else { return nil }
        let a = fold(values[i + 1], ignoringCase)
        switch a {
        case 0x73, 0x74, 0x6D, 0x64: return i + 2  // s t m d
        default: break
        }
        guard i + 2 < end else { return nil }
        let b = fold(values[i + 2], ignoringCase)
        switch (a, b) {
        case (0x72, 0x65), (0x76, 0x65), (0x6C, 0x6C): return i + 3  // re ve ll
        default: return nil
        }
    }

    private func fold(_ value: UInt32, _ ignoringCase: Bool) -> UInt32 {
        guard ignoringCase else { return value }
        if value >= 0x41 && value <= 0x5A { return value + 0x20 }
        if value == 0x17F { return 0x73 }
        return value
    }

    @inline(__always)
    private func run(from start: Int, end: Int, _ belongs: (ScalarClass) -> Bool) -> Int {
        var j = start
        while j < end && belongs(classes[j]) { j += 1 }
        return j
    }
}
