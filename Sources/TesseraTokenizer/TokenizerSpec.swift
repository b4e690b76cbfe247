/// Everything needed to build a byte-level BPE tokenizer, independent of the file it came
/// from (GGUF metadata or a Hugging Face tokenizer.json).
public struct TokenizerSpec: Sendable {
    /// How text is split into words before BPE; the regex differs per model family.
    public enum PreTokenizer: String, Sendable {
        /// GPT-2's pattern.
        case gpt2
        /// GPT-2's pattern with every digit its own word (SmolLM2, llama.cpp pre = "smollm").
        case smollm
        /// Qwen2 / Qwen3 pattern.
        case qwen2
        /// Llama 3 pattern (digits in runs of at most three).
        case llama3
    }

    /// Token strings by id, in the GPT-2 byte-to-unicode alphabet.
    public var tokens: [String]
    /// Merges in rank order, each "left right".
    public var merges: [String]
    /// Ids of special tokens (control tokens): matched verbatim in input text, skippable in decode.
    public var specialTokenIDs: Set<Int>
    /// Ids of added, non-special tokens: matched verbatim in input text, decoded as their text.
    public var addedTokenIDs: Set<Int>
    public var preTokenizer: PreTokenizer
    public var bosTokenID: Int?
    public var eosTokenID: Int?
    /// Whether `encode` prepends BOS.
    public var addBOS: Bool
    /// The Jinja chat template shipped with the model, if any.
    public var chatTemplate: String?

    /// Unicode normalization applied to text between special tokens before splitting it.
    public enum Normalizer: String, Sendable {
        case none
        /// Canonical composition (Qwen2's tokenizer.json asks for it).
        case nfc
    }

    public var normalizer: Normalizer = .none
    /// Whether `encode` appends EOS.
    public var addEOS: Bool = false
    /// Hugging Face BPE `ignore_merges` (Llama 3): a word that is itself a token skips the merges.
    public var ignoreMerges: Bool = false

    public init(
        tokens: [String], merges: [String], specialTokenIDs: Set<Int>, addedTokenIDs: Set<Int> = [],
        preTokenizer: PreTokenizer, bosTokenID: Int?, eosTokenID: Int?, addBOS: Bool,
        chatTemplate: String?
    ) {
        self.tokens = tokens
        self.merges = merges
        self.specialTokenIDs = specialTokenIDs
        self.addedTokenIDs = addedTokenIDs
        self.preTokenizer = preTokenizer
        self.bosTokenID = bosTokenID
        self.eosTokenID = eosTokenID
        self.addBOS = addBOS
        self.chatTemplate = chatTemplate
    }
}
