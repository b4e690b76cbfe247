import Foundation

/// A byte-level BPE tokenizer (GPT-2, SmolLM2, Qwen2/3, Llama 3 families) that produces the same
/// ids as Hugging Face `transformers`, plus chat templates and streaming detokenization.
///
/// Immutable after construction apart from an internal, locked word cache; safe to share.
public final class Tokenizer: Sendable {
    public let spec: TokenizerSpec
    let model: BytePairModel
    let addedTokens: AddedTokenMatcher
    /// The bytes each id decodes to, concatenated; `byteOffsets[id]..<byteOffsets[id + 1]`.
    let tokenBytes: [UInt8]
    let byteOffsets: [Int32]
    let isSpecial: [Bool]
    let cache = WordCache()
    /// The chat template, parsed once when the tokenizer is built.
    let template: TemplateBox

    public init(spec: TokenizerSpec) throws {
        let count = spec.tokens.count
        guard count > 0 else { throw TokenizerError.invalidSpec("the vocabulary is empty") }
        for id in spec.specialTokenIDs.union(spec.addedTokenIDs) where !(0..<count).contains(id) {
            throw TokenizerError.invalidSpec("special/added token id \(id) is outside the vocabulary (0..<\(count))")
        }
        for (name, id) in [("BOS", spec.bosTokenID), ("EOS", spec.eosTokenID)] {
            if let id, !(0..<count).contains(id) {
                throw TokenizerError.invalidSpec("\(name) id \(id) is outside the vocabulary (0..<\(count))")
            }
        }
        if spec.addBOS && spec.bosTokenID == nil { throw TokenizerError.invalidSpec("addBOS is set but there is no BOS token") }
        if spec.addEOS && spec.eosTokenID == nil { throw TokenizerError.invalidSpec("addEOS is set but there is no EOS token") }

        var idForToken: [ByteKey: Int32] = [:]
        idForToken.reserveCapacity(count)
        var tokenBytes: [UInt8] = []
        var byteOffsets: [Int32] = [0]
        for (id, token) in spec.tokens.enumerated() {
            idForToken[ByteKey(Array(token.utf8))] = Int32(id)
            tokenBytes.append(contentsOf: ByteLevel.bytes(ofToken: token))
            byteOffsets.append(Int32(tokenBytes.count))
        }
        var merges: [(String, String)] = []
        merges.reserveCapacity(spec.merges.count)
        for (rank, merge) in spec.merges.enumerated() {
            // Split on scalars, not Characters: a space followed by a combining mark is one Character.
            let parts = merge.unicodeScalars.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw TokenizerError.invalidSpec("merge \(rank) (\"\(merge)\") is not two tokens separated by one space")
            }
            merges.append((String(String.UnicodeScalarView(parts[0])), String(String.UnicodeScalarView(parts[1]))))
        }
        self.model = try BytePairModel(idForToken: idForToken, merges: merges, ignoreMerges: spec.ignoreMerges)
        var isSpecial = [Bool](repeating: false, count: count)
        for id in spec.specialTokenIDs { isSpecial[id] = true }
        self.isSpecial = isSpecial
        let matchable = spec.specialTokenIDs.union(spec.addedTokenIDs).sorted()
        self.addedTokens = AddedTokenMatcher(tokens: matchable.map { (spec.tokens[$0], $0) })
        self.tokenBytes = tokenBytes
        self.byteOffsets = byteOffsets
        self.spec = spec
        self.template = TemplateBox(source: spec.chatTemplate)
    }

    public var vocabularySize: Int { spec.tokens.count }
    public var bosTokenID: Int? { spec.bosTokenID }
    public var eosTokenID: Int? { spec.eosTokenID }

    /// Encodes `text`; special and added tokens written in it become their ids, and BOS (EOS) is
    /// added when the tokenizer asks for it.
    public func encode(_ text: String) -> [Int] {
        encode(text, addSpecialTokens: true)
    }

    /// `addSpecialTokens: false` leaves out BOS/EOS, as `transformers` does for a rendered chat
    /// template (which already spells out its own control tokens).
    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        var ids: [Int32] = []
        ids.reserveCapacity(text.utf8.count / 3 + 2)
        if addSpecialTokens && spec.addBOS, let bos = spec.bosTokenID { ids.append(Int32(bos)) }
        var utf8 = Array(text.utf8)
        var scratch = EncodeScratch()
        utf8.withUnsafeMutableBufferPointer { buffer in
            let bytes = UnsafeBufferPointer(buffer)
            for segment in addedTokens.split(bytes) {
                switch segment {
                case .token(let id):
                    ids.append(id)
                case .text(let range):
                    encodePlain(UnsafeBufferPointer(rebasing: bytes[range]), into: &ids, scratch: &scratch)
                }
            }
        }
        if addSpecialTokens && spec.addEOS, let eos = spec.eosTokenID { ids.append(Int32(eos)) }
        return ids.map(Int.init)
    }

    struct EncodeScratch {
        var scalars = ScalarBuffer()
        var words: [Range<Int>] = []
    }

    /// Normalizes, pre-tokenizes and BPE-encodes text that contains no added tokens.
    private func encodePlain(_ bytes: UnsafeBufferPointer<UInt8>, into ids: inout [Int32], scratch: inout EncodeScratch) {
        if spec.normalizer == .nfc {
            let normalized = String(decoding: bytes, as: UTF8.self).precomposedStringWithCanonicalMapping
            var utf8 = Array(normalized.utf8)
            utf8.withUnsafeMutableBufferPointer { encodeWords(UnsafeBufferPointer($0), into: &ids, scratch: &scratch) }
        } else {
            encodeWords(bytes, into: &ids, scratch: &scratch)
        }
    }

    private func encodeWords(_ bytes: UnsafeBufferPointer<UInt8>, into ids: inout [Int32], scratch: inout EncodeScratch) {
        scratch.scalars.load(bytes)
        scratch.words.removeAll(keepingCapacity: true)
        spec.preTokenizer.split(scratch.scalars, into: &scratch.words)
        for range in scratch.words {
            let word = UnsafeBufferPointer(rebasing: bytes[range])
            guard word.count <= WordCache.maxWordLength else {
                model.encodeWord(word, into: &ids)
                continue
            }
            let key = ByteKey(word)
            if let cached = cache.lookup(key) {
                ids.append(contentsOf: cached)
            } else {
                var wordIDs: [Int32] = []
                model.encodeWord(word, into: &wordIDs)
                cache.store(key, wordIDs)
                ids.append(contentsOf: wordIDs)
            }
        }
    }

    /// The text of `ids`: byte-level tokens back to bytes, special tokens as their text (or left
    /// out), invalid UTF-8 replaced by U+FFFD as Hugging Face does. Unknown ids are ignored.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var bytes: [UInt8] = []
        for id in ids { appendBytes(of: id, skipSpecialTokens: skipSpecialTokens, to: &bytes) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The bytes one token stands for (a byte-level token may hold part of a character).
    public func tokenBytes(_ id: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        appendBytes(of: id, skipSpecialTokens: false, to: &bytes)
        return bytes
    }

    func appendBytes(of id: Int, skipSpecialTokens: Bool, to bytes: inout [UInt8]) {
        guard id >= 0 && id < isSpecial.count else { return }
        if skipSpecialTokens && isSpecial[id] { return }
        bytes.append(contentsOf: tokenBytes[Int(byteOffsets[id])..<Int(byteOffsets[id + 1])])
    }

    /// The vocabulary's spelling of a token (GPT-2 alphabet, e.g. "Ġthe"), like
    /// `convert_ids_to_tokens`.
    public func tokenString(_ id: Int) -> String? {
        spec.tokens.indices.contains(id) ? spec.tokens[id] : nil
    }

    /// The id of a token spelled as in the vocabulary, compared byte for byte.
    public func tokenID(_ token: String) -> Int? {
        let key = Array(token.utf8)
        // Later duplicates win, as in the vocabulary map the merges were built from.
        return spec.tokens.lastIndex { $0.utf8.elementsEqual(key) }
    }

    public func isSpecialToken(_ id: Int) -> Bool {
        isSpecial.indices.contains(id) && isSpecial[id]
    }

    /// A decoder for ids arriving one at a time that only ever returns whole UTF-8 characters.
    public func makeStreamingDecoder(skipSpecialTokens: Bool = false) -> StreamingDecoder {
        StreamingDecoder(tokenizer: self, skipSpecialTokens: skipSpecialTokens)
    }
}
