#!/usr/bin/env python3
"""Single-stream decode of every model family Tessera runs, each next to llama.cpp on the same GGUF.

One random-weight model per family at the default model's size (SmolLM2-135M: hidden 576, 30
layers, 9 heads, 3 KV heads, head_dim 64, intermediate 1536, vocab 49152, tied embeddings), so the
only difference from the SmolLM2 row is what makes the family a family:
  llama     the SmolLM2 shape itself (random weights instead of trained ones)
  llama3    Llama 3.1+ rope scaling (rope_type llama3, factor 8): rope_freqs.weight
  qwen2     q/k/v projection biases (arch qwen2, NeoX rotary)
  qwen3     per-head q/k RMS norms (arch qwen3, NeoX rotary)
  mistral   sliding window of WINDOW tokens (llama.attention.sliding_window; llama.cpp's llama
            architecture does not read that key and attends to every token)
  deepseek  DeepSeek-V3-style multi-head latent attention + mixture of experts, about the same
            parameter count (see DEEPSEEK below)
Each checkpoint is made with transformers (weights seeded by make_fixtures._init_weights), written
as an F32 GGUF the way llama.cpp's converter writes the family (tensor layouts from
make_fixtures.py), with the tokenizer metadata of the SmolLM2 GGUF so both engines tokenize the same
prompt, then quantised to Q4_1 (the default model's type) by llama.cpp's own quantiser. A family
whose Q4_1 file Tessera cannot load falls back to F16 for both engines.

Timing is bench_single_stream.py's (imported): a raw prompt, greedy, end-of-sequence ignored,
2 threads, RUNS runs after one warm-up, repeated over ROUNDS passes that interleave files and
engines, medians; decode tokens/s = (new tokens - 1) / time from the first new token to the last.
A measurement during which other processes took over 5% of the machine is repeated.

Usage: python3 scripts/bench_families.py --tessera .build/release/tessera [--families llama qwen2 ...]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_single_stream import PROMPT, bench_llama_cpp, bench_tessera, default_gguf  # noqa: E402
from make_fixtures import (  # noqa: E402
    _deepseek_expected_from_model,
    _deepseek_gguf_tensors,
    _family_gguf_tensors,
    _init_weights,
    _llama3_rope_factors,
)

FAMILIES = ("llama", "llama3", "qwen2", "qwen3", "mistral", "deepseek")
SMOLLM2 = dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
               num_attention_heads=9, num_key_value_heads=3, head_dim=64, max_position_embeddings=8192,
               hidden_act="silu", rms_norm_eps=1e-5, tie_word_embeddings=True,
               bos_token_id=1, eos_token_id=2, pad_token_id=2)
LLAMA3_ROPE = {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
# Smaller than the benchmark's prompt + output (103 + 128 tokens), so the window binds.
WINDOW = 64
# MLA as in DeepSeek-V3 (q LoRA, latent KV of 128 + 32 rotary dims, split attn_k_b / attn_v_b),
# 1 dense layer then 29 MoE layers of 16 routed experts (4 per token, sigmoid scores, normalised,
# no groups) + 1 shared expert of width 96: 138M parameters against SmolLM2's 135M, of which about
# 81M are read per token (52M in the layers, 28M in the tied LM head; SmolLM2: all 135M).
DEEPSEEK = dict(q_lora_rank=192, kv_lora_rank=128, qk_nope_head_dim=64, qk_rope_head_dim=32, v_head_dim=64,
                first_k_dense_replace=1, n_routed_experts=16, num_experts_per_tok=4, n_shared_experts=1,
                moe_intermediate_size=96, n_group=1, topk_group=1, norm_topk_prob=True,
                routed_scaling_factor=2.5, scoring_func="sigmoid", topk_method="noaux_tc", num_mtp_layers=0,
                rope_interleave=True)
SEEDS = {f: 9000 + i for i, f in enumerate(FAMILIES)}
# What Tessera reads from a GGUF (F32/F16/BF16/Q8_0/Q4_0/Q4_1).
TESSERA_TYPES = {"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1"}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def family_config(family):
    from transformers import DeepseekV3Config, LlamaConfig, MistralConfig, Qwen2Config, Qwen3Config

    rope = {"rope_type": "default", "rope_theta": 100000.0}  # SmolLM2's base
    if family == "llama":
        return LlamaConfig(**SMOLLM2, attention_bias=False, mlp_bias=False, rope_parameters=rope)
    if family == "llama3":
        # as Llama 3.1: the original context (8192) below the extended one
        shape = SMOLLM2 | {"max_position_embeddings": 131072}
        return LlamaConfig(**shape, attention_bias=False, mlp_bias=False, rope_parameters=dict(LLAMA3_ROPE))
    if family == "qwen2":
        return Qwen2Config(**SMOLLM2, use_sliding_window=False, rope_parameters=rope)
    if family == "qwen3":
        return Qwen3Config(**SMOLLM2, attention_bias=False, use_sliding_window=False, rope_parameters=rope)
    if family == "mistral":
        return MistralConfig(**SMOLLM2, sliding_window=WINDOW, rope_parameters=rope)
    if family == "deepseek":
        shape = {k: v for k, v in SMOLLM2.items() if k not in ("num_key_value_heads", "head_dim")}
        return DeepseekV3Config(**shape, num_key_value_heads=9, attention_bias=False, **DEEPSEEK,
                                rope_parameters=rope)
    raise ValueError(family)


def gguf_tensors(family, cfg, model):
    """(gguf name, float32 array) in the layout convert_hf_to_gguf.py writes for the family."""
    import gguf

    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    if family == "deepseek":
        ckpt = _deepseek_expected_from_model(model, cfg)
        out = [(n, a) for n, a, _ in _deepseek_gguf_tensors(cfg, ckpt, split_kv_b=True)]
        return [(n, a) for n, a in out if n != "output.weight"]  # tied: the converter writes none
    sd.pop("lm_head.weight", None)  # tied
    if family == "qwen3":
        # Qwen3Model: like qwen2 (NeoX rotary, rows not permuted), plus attn_q_norm / attn_k_norm
        tmap = gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN3, cfg.num_hidden_layers)
        return [(tmap.get_name(k, try_suffixes=(".weight", ".bias")), np.ascontiguousarray(a))
                for k, a in sorted(sd.items())]
    out = [(n, a) for n, a, _ in _family_gguf_tensors(family, cfg, sd)]
    if family == "llama3":
        out.append(("rope_freqs.weight", _llama3_rope_factors(cfg.rope_parameters, cfg.head_dim)))
    return out


def write_f32_gguf(path, family, cfg, tensors, tokenizer_fields):
    import gguf

    arch = {"qwen2": "qwen2", "qwen3": "qwen3", "deepseek": "deepseek2"}.get(family, "llama")
    w = gguf.GGUFWriter(str(path), arch=arch)
    w.add_type(gguf.GGUFType.MODEL)
    w.add_name(f"bench-{family}")
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_rope_freq_base(cfg.rope_parameters["rope_theta"])
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    if arch == "llama":
        # LlamaModel writes vocab size and rope dimensions; head_dim in config.json -> key/value length
        w.add_head_count_kv(cfg.num_key_value_heads)
        w.add_key_length(cfg.head_dim)
        w.add_value_length(cfg.head_dim)
        w.add_vocab_size(cfg.vocab_size)
        w.add_rope_dimension_count(cfg.head_dim)
        if family == "mistral":
            w.add_sliding_window(cfg.sliding_window)
    elif arch == "qwen2":
        w.add_head_count_kv(cfg.num_key_value_heads)
    elif arch == "qwen3":
        w.add_head_count_kv(cfg.num_key_value_heads)
        w.add_key_length(cfg.head_dim)
        w.add_value_length(cfg.head_dim)
    else:
        # DeepseekV2Model, newer converter: MLA as MQA over the latent
        w.add_head_count_kv(1)
        w.add_key_length(cfg.kv_lora_rank + cfg.qk_rope_head_dim)
        w.add_value_length(cfg.kv_lora_rank)
        w.add_key_length_mla(cfg.qk_nope_head_dim + cfg.qk_rope_head_dim)
        w.add_value_length_mla(cfg.v_head_dim)
        w.add_vocab_size(cfg.vocab_size)
        w.add_q_lora_rank(cfg.q_lora_rank)
        w.add_kv_lora_rank(cfg.kv_lora_rank)
        w.add_rope_dimension_count(cfg.qk_rope_head_dim)
        w.add_leading_dense_block_count(cfg.first_k_dense_replace)
        w.add_expert_feed_forward_length(cfg.moe_intermediate_size)
        w.add_expert_count(cfg.n_routed_experts)
        w.add_expert_used_count(cfg.num_experts_per_tok)
        w.add_expert_shared_count(cfg.n_shared_experts)
        w.add_expert_weights_scale(cfg.routed_scaling_factor)
        w.add_expert_weights_norm(bool(cfg.norm_topk_prob))
        w.add_expert_gating_func(gguf.ExpertGatingFuncType.SIGMOID)
    for key, (value, vtype, sub) in tokenizer_fields.items():
        w.add_key_value(key, value, vtype, sub_type=sub)
    for name, data in tensors:
        w.add_tensor(name, np.ascontiguousarray(data, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def smollm2_tokenizer_fields(gguf_path):
    """Every tokenizer.* key of the SmolLM2 GGUF: (value, type, array element type)."""
    from gguf import GGUFReader, GGUFValueType

    r = GGUFReader(str(gguf_path))
    fields = {}
    for key, f in r.fields.items():
        if key.startswith("tokenizer."):
            sub = f.types[1] if f.types[0] == GGUFValueType.ARRAY else None
            fields[key] = (f.contents(), f.types[0], sub)
    return fields


def quantize(src, dst, ftype):
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = 2
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), params)
    if rc != 0:
        raise RuntimeError(f"llama_model_quantize({src} -> {dst}) returned {rc}")


def tensor_types(path):
    from gguf import GGUFReader

    r = GGUFReader(str(path))
    counts = {}
    for t in r.tensors:
        counts[t.tensor_type.name] = counts.get(t.tensor_type.name, 0) + 1
    return counts


def make_family(family, folder, tokenizer_fields, force):
    """Writes <folder>/<family>.f32.gguf and .q4_1.gguf; returns the Q4_1 path and the parameter count."""
    import llama_cpp
    import torch
    from transformers import AutoModelForCausalLM

    f32 = folder / f"{family}.f32.gguf"
    q4 = folder / f"{family}.q4_1.gguf"
    cfg = family_config(family)
    if force or not f32.exists():
        start = time.time()
        torch.manual_seed(SEEDS[family])
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32).eval()
        _init_weights(model, SEEDS[family])
        tensors = gguf_tensors(family, cfg, model)
        del model
        write_f32_gguf(f32, family, cfg, tensors, tokenizer_fields)
        log(f"  {family}: wrote {f32.name} ({f32.stat().st_size / 1e6:.0f} MB) in {time.time() - start:.0f} s")
    if force or not q4.exists():
        quantize(f32, q4, llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_1)
        log(f"  {family}: quantised to {q4.name}: {tensor_types(q4)}")
    return q4


def tessera_loads(binary, gguf_path):
    """True when `tessera generate` runs one token on the file (error text otherwise)."""
    if not set(tensor_types(gguf_path)) <= TESSERA_TYPES:
        return f"tensor types {tensor_types(gguf_path)}"
    run = subprocess.run([binary, "generate", "--model", str(gguf_path), "--quiet", "--max-tokens", "1", "Hi"],
                         capture_output=True, text=True)
    return True if run.returncode == 0 else (run.stderr.strip().splitlines() or ["exit %d" % run.returncode])[-1]


def file_type(path):
    from gguf import GGUFReader, LlamaFileType

    ft = int(GGUFReader(str(path)).fields["general.file_type"].contents())
    return LlamaFileType(ft).name.replace("MOSTLY_", "").replace("ALL_", "")


def parameter_count(path):
    from gguf import GGUFReader

    return sum(int(t.n_elements) for t in GGUFReader(str(path)).tensors if t.name != "rope_freqs.weight")


def median_row(results):
    return (statistics.median(r[0] for r in results), statistics.median(r[1] for r in results), results[0][2])


# The machine is shared: with 2 threads on 2 cores, any other busy process stalls llama.cpp's
# spinning threads (one measured file moved between 4 and 93 decode tokens/s under other work).
# So every measurement records the CPU time other processes took while it ran (machine busy time
# from /proc/stat minus this process's and its children's), and one above OTHER_LIMIT of the
# machine is thrown away and repeated once the machine is quiet again.
OTHER_LIMIT = 0.05


def busy_seconds():
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in f.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_seconds():
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def other_load(run):
    """(run(), share of the machine's CPU time that other processes used meanwhile)."""
    busy, own, wall = busy_seconds(), own_seconds(), time.perf_counter()
    out = run()
    other = (busy_seconds() - busy) - (own_seconds() - own)
    return out, max(0.0, other) / ((time.perf_counter() - wall) * os.cpu_count())


def wait_quiet(limit, timeout):
    """Waits until other processes use less than `limit` of the machine over 3 s (or timeout)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if other_load(lambda: time.sleep(3))[1] < limit:
            return True
    return False


def measure(run, label, tries, timeout):
    """run() with the least interference out of up to `tries` attempts; (results, other share)."""
    best = None
    for attempt in range(tries):
        if not wait_quiet(OTHER_LIMIT, timeout):
            log(f"  machine still busy after {timeout:.0f} s; measuring {label} anyway")
        out, other = other_load(run)
        if best is None or other < best[1]:
            best = (out, other)
        if other <= OTHER_LIMIT:
            break
        log(f"  {label}: other processes took {other:.0%} of the machine; again")
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tessera", required=True, help="path to the release tessera binary")
    parser.add_argument("--gguf", default=default_gguf(), help="SmolLM2-135M-Instruct.Q4_1.gguf (baseline, tokenizer)")
    parser.add_argument("--dir", type=Path,
                        default=Path(os.environ.get("TESSERA_HOME") or Path.home() / ".cache" / "tessera") / "bench-families",
                        help="scratch folder for the generated GGUFs (about 4 GB)")
    parser.add_argument("--families", nargs="*", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--prompt-repeats", type=int, default=3, help="copies of the base text in the prompt")
    parser.add_argument("--decode-tokens", type=int, default=128)
    parser.add_argument("--runs", type=int, default=3, help="runs per engine and file in each round (after a warm-up)")
    parser.add_argument("--rounds", type=int, default=3, help="passes over all files; medians over rounds x runs")
    parser.add_argument("--tries", type=int, default=4, help="attempts per measurement disturbed by other processes")
    parser.add_argument("--quiet-timeout", type=float, default=600, help="seconds to wait for a quiet machine")
    parser.add_argument("--force", action="store_true", help="rebuild the GGUFs even if present")
    parser.add_argument("--make-only", action="store_true", help="write the GGUFs, measure nothing")
    args = parser.parse_args()
    prompt = PROMPT * args.prompt_repeats
    args.dir.mkdir(parents=True, exist_ok=True)

    import llama_cpp

    tokenizer_fields = smollm2_tokenizer_fields(args.gguf)
    files = [("smollm2 (real)", Path(args.gguf), "")]
    for family in args.families:
        path = make_family(family, args.dir, tokenizer_fields, args.force)
        note = ""
        loads = tessera_loads(args.tessera, path)
        if loads is not True:
            log(f"  {family}: Tessera cannot run the Q4_1 file ({loads}); both engines use F16")
            f16 = args.dir / f"{family}.f16.gguf"
            if args.force or not f16.exists():
                quantize(args.dir / f"{family}.f32.gguf", f16, llama_cpp.LLAMA_FTYPE_MOSTLY_F16)
            path, note = f16, f"Q4_1 not loadable in Tessera: {loads}"
        files.append((family, path, note))
    if args.make_only:
        return

    # Rounds interleave the files and, within a file, the two engines, so slow drifts of the
    # machine spread over every row instead of landing on one.
    results = {family: {"tessera": [], "llama.cpp": [], "other": 0.0, "note": note} for family, _, note in files}
    for round_index in range(args.rounds):
        for family, path, _ in files:
            r = results[family]
            out, other = measure(lambda: bench_tessera(args.tessera, str(path), prompt, args.decode_tokens, args.runs),
                                 f"tessera on {family}", args.tries, args.quiet_timeout)
            r["tessera"] += out
            r["other"] = max(r["other"], other)
            if r["note"].startswith("llama.cpp:"):
                continue
            try:
                out, other = measure(lambda: bench_llama_cpp(str(path), prompt, args.decode_tokens, args.runs),
                                     f"llama.cpp on {family}", args.tries, args.quiet_timeout)
                r["llama.cpp"] += out
                r["other"] = max(r["other"], other)
            except Exception as exc:  # a file llama.cpp cannot load: say so, keep the rest
                r["note"] = f"llama.cpp: {exc}"
            log(f"  round {round_index + 1}: {family}: tessera {statistics.median(x[1] for x in r['tessera']):.1f}"
                + (f", llama.cpp {statistics.median(x[1] for x in r['llama.cpp']):.1f}" if r["llama.cpp"] else "")
                + f" decode tok/s so far (other load up to {r['other']:.0%})")

    print(__doc__.split("Usage:")[0].strip())
    print(f"\nprompt {args.prompt_repeats} x base text, {args.decode_tokens} new tokens; per engine and file "
          f"{args.rounds} rounds x ({args.runs} runs + 1 warm-up), medians; 2 threads; llama-cpp-python "
          f"{llama_cpp.__version__}\n")
    rows = []
    for family, path, _ in files:
        r = results[family]
        tess = median_row(r["tessera"])
        llama = median_row(r["llama.cpp"]) if r["llama.cpp"] else None
        rows.append((family, file_type(path), parameter_count(path) / 1e6, tess, llama, r["other"], r["note"]))
    base = rows[0][3][1]
    print(f"{'family':<16}{'file':>6}{'params':>8}{'prompt':>8}{'Tessera prefill':>17}{'llama.cpp prefill':>19}"
          f"{'Tessera decode':>16}{'llama.cpp decode':>18}{'ratio':>7}{'vs SmolLM2':>12}{'other load':>12}")
    for family, ftype, params, tess, llama, other, _ in rows:
        lp, ld = (f"{llama[0]:.1f}", f"{llama[1]:.1f}") if llama else ("-", "-")
        ratio = f"{tess[1] / llama[1]:.2f}" if llama else "-"
        print(f"{family:<16}{ftype:>6}{params:>7.0f}M{tess[2]:>8}{tess[0]:>17.1f}{lp:>19}"
              f"{tess[1]:>16.1f}{ld:>18}{ratio:>7}{tess[1] / base:>11.2f}x{other:>12.0%}")
    for family, *_, note in rows:
        if note:
            print(f"  {family}: {note}")
    print("\nratio = Tessera decode / llama.cpp decode; vs SmolLM2 = Tessera decode / Tessera's on the real "
          "file;\nother load = the most CPU other processes took during a kept measurement (share of the machine)")


if __name__ == "__main__":
    main()
