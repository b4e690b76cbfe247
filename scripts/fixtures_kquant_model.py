"""A tiny random-weight Llama as K-quant GGUF files (`make_fixtures.py --only quant`, step 4).

Hidden 256 and MLP 512 make every matrix row a whole number of 256-value super-blocks, so
llama.cpp's quantiser keeps the K-quant types it chooses (SmolLM2's 576-wide rows fall back to
Q5_0/Q8_0/...). The model is written as an f32 GGUF the way convert_hf_to_gguf.py writes
LlamaForCausalLM (q/k rows permuted), quantised by `llama_cpp.llama_model_quantize` to Q4_K_M
and Q6_K (committed with transformers' logits of the dequantised files) and to Q2_K (not
committed: the only source of Q2_K rows, since SmolLM2's Q2_K file holds none).

`mf` is make_fixtures.py's module (passed in, so this file does not import its caller).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

NAME = "tiny-llama-kq"
SEED = 909
# llama.cpp file types: committed, and written only for the Q2_K fixture rows
COMMITTED_TYPES = ["Q4_K_M", "Q6_K"]
CACHE_ONLY_TYPES = ["Q2_K"]
# logits positions per prompt (prompt i of logits/tiny-llama.safetensors has 1, 7, 37 ids)
GREEDY_STEPS = 10
MAX_COMMITTED_BYTES = 1_500_000


def config(vsize: int, eos: int, pad: int):
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=vsize, hidden_size=256, intermediate_size=512, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, head_dim=64,
                       max_position_embeddings=512, hidden_act="silu", rms_norm_eps=1e-5,
                       tie_word_embeddings=False, attention_bias=False, mlp_bias=False,
                       bos_token_id=None, eos_token_id=eos, pad_token_id=pad,
                       rope_parameters={"rope_type": "default", "rope_theta": 10000.0})


def _quantize(src: Path, dst: Path, ftype: str) -> None:
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{ftype}")
    params.nthread = 2
    tmp = dst.with_suffix(".partial")
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), params)
    if rc != 0:
        raise RuntimeError(f"llama_model_quantize({src} -> {tmp}, {ftype}) returned {rc}")
    os.chmod(tmp, 0o644)
    tmp.replace(dst)


def _types(path: Path) -> dict:
    from gguf import GGUFReader

    return {t.name: t.tensor_type.name for t in GGUFReader(str(path)).tensors}


def _check_transformers_weights(model, path: Path, cfg, mf) -> None:
    """transformers' weights of the GGUF equal gguf-py's dequantisation of every tensor, with
    q/k un-permuted: the logits below are those of the file's own values."""
    from gguf import GGUFReader
    from gguf.quants import dequantize

    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    want = {}
    for t in GGUFReader(str(path)).tensors:
        want[t.name] = dequantize(np.asarray(t.data), t.tensor_type).reshape(
            [int(x) for x in reversed(t.shape)]).astype(np.float32)
    names = {g: hf for g, _a, hf in mf._family_gguf_tensors(NAME, cfg, {k: sd[k] for k in sd})}
    assert set(names) == set(want), sorted(set(names) ^ set(want))
    for g, hf in names.items():
        hf_name = hf.replace(" (permuted)", "")
        a = want[g]
        if hf != hf_name:  # undo llama.cpp's permutation by permuting transformers' weight
            n = cfg.num_attention_heads if "q_proj" in hf_name else cfg.num_key_value_heads
            assert np.array_equal(mf._llama_cpp_permute(sd[hf_name], n), a), g
        else:
            assert np.array_equal(sd[hf_name], a), g


def _shortest(x) -> float:
    """An f32 value as the double of its shortest round-tripping decimal (JSON stays short)."""
    return float(np.format_float_positional(np.float32(x), unique=True, trim="-"))


def _bits_hex(values: np.ndarray) -> str:
    """As in the quant/<TYPE>.json rows: 8 hex digits per f32 bit pattern, concatenated."""
    from fixtures_quant import _bits_hex as bits_hex

    return bits_hex(values)


def _logits_doc(path: Path, cfg, prompts, mf) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32,
                                                 attn_implementation="eager")
    model.eval()
    assert model.config.hidden_size == cfg.hidden_size and model.config.num_key_value_heads == cfg.num_key_value_heads
    _check_transformers_weights(model, path, cfg, mf)
    entries = []
    for i, ids in enumerate(prompts):
        n = len(ids)
        positions = sorted({0, 1, n // 2, n - 1} & set(range(n))) if n > 7 else list(range(n))
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0].float().numpy()
        entry = {"index": i, "ids": [int(x) for x in ids], "positions": positions,
                 "logits_bits_hex": [_bits_hex(logits[p]) for p in positions],
                 "argmax": [int(np.argmax(logits[p])) for p in positions]}
        if i == len(prompts) - 1:
            # greedy continuation by full forwards (no cache): ids and the top-1 minus top-2 gap
            seq, gen, margins = list(ids), [], []
            with torch.no_grad():
                for _ in range(GREEDY_STEPS):
                    last = model(input_ids=torch.tensor([seq]), use_cache=False).logits[0, -1].float().numpy()
                    top = np.sort(last)[::-1]
                    nxt = int(np.argmax(last))
                    gen.append(nxt)
                    margins.append(_shortest(top[0] - top[1]))
                    seq.append(nxt)
            entry["greedy"] = gen
            entry["greedy_margins"] = margins
        entries.append(entry)
    del model
    return {"prompts": entries}


def kquant_model_fixtures(out: Path, home: Path, tok_dir: Path, mf, log) -> tuple[list[Path], list[Path]]:
    """Writes quant/tiny-llama-kq.{Q4_K_M,Q6_K}.gguf and quant/tiny-llama-kq.json into `out` and
    the f32 and Q2_K files into $TESSERA_HOME/quant/. Returns (committed paths, all GGUF paths
    for the row fixtures: committed ones then cache-only ones)."""
    import torch
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM

    vocab = Tokenizer.from_file(str(tok_dir / "tokenizer.json")).get_vocab(with_added_tokens=True)
    cfg = config(len(vocab), vocab["<|im_end|>"], vocab["<|endoftext|>"])
    cache = home / "quant"
    cache.mkdir(parents=True, exist_ok=True)
    f32 = cache / f"{NAME}.f32.gguf"
    # always rewritten: it is small, and the committed files must follow the code
    torch.manual_seed(SEED)
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager", dtype=torch.float32)
    mf._init_weights(model, SEED)
    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    del model
    tensors = mf._family_gguf_tensors(NAME, cfg, sd)
    vm = mf._tiny_vocab_metadata(tok_dir)
    mf._write_family_gguf(f32, NAME, cfg, vm, tensors, f16=False, chat_template=vm["chat_template"])

    qdir = out / "quant"
    qdir.mkdir(parents=True, exist_ok=True)
    committed, ggufs = [], []
    for ftype in COMMITTED_TYPES + CACHE_ONLY_TYPES:
        dst = (qdir if ftype in COMMITTED_TYPES else cache) / f"{NAME}.{ftype}.gguf"
        _quantize(f32, dst, ftype)
        types = _types(dst)
        counts = {}
        for v in types.values():
            counts[v] = counts.get(v, 0) + 1
        log(f"quant: {dst.name}: {dst.stat().st_size} bytes, {dict(sorted(counts.items()))}")
        if ftype in COMMITTED_TYPES:
            assert dst.stat().st_size <= MAX_COMMITTED_BYTES, (dst, dst.stat().st_size)
            committed.append(dst)
        ggufs.append(dst)

    # the prompts of logits/tiny-llama.safetensors (ids < 1000 = this vocabulary)
    ref = load_file(str(out / "logits" / "tiny-llama.safetensors"))
    prompts = [ref[f"prompt{i}.ids"].astype(np.int64).tolist() for i in range(3)]
    doc = {"description": (
        f"{NAME}: a random-weight Llama (hidden 256, MLP 512, 2 layers, 4 heads, 2 KV heads, head_dim 64, "
        f"vocab {cfg.vocab_size}, rope theta 10000, eps 1e-5, untied; weights N(0, 0.1), norms 1 + N(0, 0.1), "
        f"seed {SEED}) written as an f32 GGUF (llama.cpp's converter layout) and quantised by llama.cpp's "
        "llama_model_quantize. Logits: transformers loading each quantised GGUF (gguf-py dequantises every "
        "tensor to f32; asserted equal to the file's values), float32, eager, full-sequence forwards, at "
        "`positions`, each as 1000 f32 bit patterns in 8 hex digits (most significant first), concatenated; prompts = the ids of logits/tiny-llama.safetensors prompt0..2; greedy: 10 tokens "
        "after prompt 2 by full forwards, with the top-1 minus top-2 logit gap."),
        "config": {k: cfg.to_dict()[k] for k in (
            "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
            "num_key_value_heads", "head_dim", "rms_norm_eps", "max_position_embeddings")},
        "files": {}}
    for path in committed:
        ftype = path.name[len(NAME) + 1:-len(".gguf")]
        types = _types(path)
        doc["files"][ftype] = {"file": path.name, "tensor_types": types, **_logits_doc(path, cfg, prompts, mf)}
    dst = qdir / f"{NAME}.json"
    mf.write_json(dst, doc)
    committed.append(dst)
    mf.PRODUCED.extend(p for p in committed if p.suffix == ".gguf")
    return committed, ggufs
