#!/usr/bin/env python3
"""Single-stream speed of SmolLM2-135M-Instruct (Q4_1 GGUF): Tessera vs llama.cpp vs transformers.

Method, identical for every engine: one raw prompt of about PROMPT_TOKENS tokens, greedy,
end-of-sequence ignored, DECODE_TOKENS new tokens.
  prefill tokens/s = prompt tokens / (time from start until the first new token exists)
  decode tokens/s  = (new tokens - 1) / (time from the first new token to the last)
Each engine runs RUNS times after one warm-up; the median of each figure is reported.
Threads: 2 for every engine (the machine has 2 cores).
  Tessera       the release binary, `tessera generate --json`, timings measured inside the engine
  llama.cpp     llama-cpp-python (builds llama.cpp from source), same GGUF, quantised kernels
  transformers  the same GGUF dequantised to f32 by transformers, torch CPU, KV cache

Usage: python3 scripts/bench_single_stream.py --tessera .build/release/tessera [--gguf PATH]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

PROMPT = (
    "The history of the printing press begins in the fifteenth century, when Johannes Gutenberg "
    "combined movable metal type, oil-based ink and a wooden press adapted from winemaking. "
)


def default_gguf():
    home = os.environ.get("TESSERA_HOME") or os.path.expanduser("~/.cache/tessera")
    return os.path.join(home, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")


def bench_tessera(binary, gguf, prompt, decode_tokens, runs):
    results = []
    for _ in range(runs + 1):
        out = subprocess.run(
            [binary, "generate", "--model", gguf, "--json", "--quiet", "--ignore-eos",
             "--max-tokens", str(decode_tokens), prompt],
            check=True, capture_output=True, text=True,
        ).stdout.strip().splitlines()[-1]
        t = json.loads(out)["timings"]
        results.append((t["prompt_tokens"] / t["prefill_s"], t["decode_steps"] / t["decode_s"], t["prompt_tokens"]))
    return results[1:]


def bench_llama_cpp(gguf, prompt, decode_tokens, runs):
    from llama_cpp import Llama

    llm = Llama(model_path=gguf, n_ctx=2048, n_threads=2, n_threads_batch=2, n_batch=512, verbose=False)
    tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
    results = []
    for _ in range(runs + 1):
        llm.reset()
        start = time.perf_counter()
        stamps = []
        for _token in llm.generate(tokens, temp=0.0, top_k=1, reset=True):
            stamps.append(time.perf_counter())
            if len(stamps) == decode_tokens:
                break
        results.append((len(tokens) / (stamps[0] - start), (len(stamps) - 1) / (stamps[-1] - stamps[0]), len(tokens)))
    return results[1:]


def bench_transformers(gguf, prompt, decode_tokens, runs):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(2)
    folder, name = os.path.split(gguf)
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
    ids = torch.tensor([tok(prompt, add_special_tokens=False)["input_ids"]])
    results = []
    with torch.inference_mode():
        for _ in range(runs + 1):
            start = time.perf_counter()
            out = model(ids, use_cache=True)
            past, nxt = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
            first = time.perf_counter()
            for _step in range(decode_tokens - 1):
                out = model(nxt, past_key_values=past, use_cache=True)
                past, nxt = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
            end = time.perf_counter()
            results.append((ids.shape[1] / (first - start), (decode_tokens - 1) / (end - first), ids.shape[1]))
    return results[1:]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tessera", required=True, help="path to the release tessera binary")
    parser.add_argument("--gguf", default=default_gguf())
    parser.add_argument("--prompt-repeats", type=int, default=3, help="copies of the base text in the prompt")
    parser.add_argument("--decode-tokens", type=int, default=128)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip", nargs="*", default=[], choices=["llama.cpp", "transformers"])
    args = parser.parse_args()
    prompt = PROMPT * args.prompt_repeats

    engines = [("tessera", lambda: bench_tessera(args.tessera, args.gguf, prompt, args.decode_tokens, args.runs))]
    if "llama.cpp" not in args.skip:
        engines.append(("llama.cpp", lambda: bench_llama_cpp(args.gguf, prompt, args.decode_tokens, args.runs)))
    if "transformers" not in args.skip:
        engines.append(("transformers", lambda: bench_transformers(args.gguf, prompt, args.decode_tokens, args.runs)))

    print(__doc__.split("Usage:")[0].strip())
    print(f"\nprompt {args.prompt_repeats} x base text, {args.decode_tokens} new tokens, {args.runs} runs + 1 warm-up, medians\n")
    rows = {}
    for name, run in engines:
        results = run()
        rows[name] = (statistics.median(r[0] for r in results), statistics.median(r[1] for r in results), results[0][2])
        print(f"  measured {name}", file=sys.stderr)
    base = rows["tessera"]
    print(f"{'engine':<14}{'prompt tok':>11}{'prefill tok/s':>15}{'decode tok/s':>14}{'decode vs tessera':>19}")
    for name, (prefill, decode, n) in rows.items():
        print(f"{name:<14}{n:>11}{prefill:>15.1f}{decode:>14.1f}{decode / base[1]:>18.2f}x")


if __name__ == "__main__":
    main()
