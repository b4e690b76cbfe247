#!/usr/bin/env python3
"""Batched throughput of SmolLM2-135M-Instruct (Q4_1 GGUF): Tessera vs llama.cpp vs transformers.

Method, identical for every engine: at concurrency C, 2*C requests in two waves of C (Tessera's
scheduler admits a new request as soon as one ends; the peers run static batches of C), each a
seeded random prompt of INPUT_LEN token ids and exactly OUTPUT_LEN greedy new tokens (end of
sequence ignored). Output tokens/s = all generated tokens / wall time of the whole workload,
loading excluded. Two threads for every engine (the machine has 2 cores).
  Tessera       `tessera bench --concurrency C --num-prompts 2C --json` (continuous batching)
  llama.cpp     llama-cpp-python's low-level API: one context with C sequence slots, prompts
                prefilled, then one llama_decode per step carrying one token of every slot
  transformers  model.generate on a batch of C prompts (equal lengths: no padding), KV cache

Usage: python3 scripts/bench_batch.py --tessera .build/release/tessera [--concurrency 1 8 32]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np


def default_gguf():
    home = os.environ.get("TESSERA_HOME") or os.path.expanduser("~/.cache/tessera")
    return os.path.join(home, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")


def prompts(count, length, vocab, seed):
    rng = np.random.default_rng(seed)
    # Ids above the 17 special tokens, like Tessera's workload.
    return [rng.integers(17, vocab, length).tolist() for _ in range(count)]


def bench_tessera(binary, gguf, c, input_len, output_len):
    out = subprocess.run(
        [binary, "bench", "--model", gguf, "--quiet", "--json", "--concurrency", str(c), "--num-prompts", str(2 * c),
         "--input-len", str(input_len), "--output-len", str(output_len), "--max-num-seqs", str(c)],
        check=True, capture_output=True, text=True,
    ).stdout.strip().splitlines()[-1]
    return json.loads(out)["output_tokens_per_s"]


class LlamaCppBatch:
    def __init__(self, gguf, slots, input_len, output_len):
        import llama_cpp

        self.ll = llama_cpp
        llama_cpp.llama_backend_init()
        self.model = llama_cpp.llama_model_load_from_file(gguf.encode(), llama_cpp.llama_model_default_params())
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = slots * (input_len + output_len) + 256
        params.n_batch = params.n_ubatch = 512
        params.n_seq_max = slots
        params.n_threads = params.n_threads_batch = 2
        self.ctx = llama_cpp.llama_init_from_model(self.model, params)
        self.vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(self.model))
        self.batch = llama_cpp.llama_batch_init(512, 0, slots)

    def _add(self, token, pos, seq, logits):
        b = self.batch
        i = b.n_tokens
        b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = token, pos, 1, logits
        b.seq_id[i][0] = seq
        b.n_tokens += 1

    def _argmax(self, i):
        return int(np.argmax(np.ctypeslib.as_array(self.ll.llama_get_logits_ith(self.ctx, i), shape=(self.vocab,))))

    def _decode(self):
        if self.ll.llama_decode(self.ctx, self.batch) != 0:
            raise RuntimeError("llama_decode failed")

    def run_wave(self, wave, output_len):
        self.ll.llama_memory_clear(self.ll.llama_get_memory(self.ctx), True)
        last = []
        for seq, prompt in enumerate(wave):
            for start in range(0, len(prompt), 512):
                self.batch.n_tokens = 0
                chunk = prompt[start:start + 512]
                for j, token in enumerate(chunk):
                    self._add(token, start + j, seq, start + j == len(prompt) - 1)
                self._decode()
            last.append(self._argmax(self.batch.n_tokens - 1))
        tokens = [[t] for t in last]
        for step in range(output_len - 1):
            self.batch.n_tokens = 0
            for seq, generated in enumerate(tokens):
                self._add(generated[-1], len(wave[seq]) + step, seq, True)
            self._decode()
            for seq, generated in enumerate(tokens):
                generated.append(self._argmax(seq))
        return sum(len(t) for t in tokens)


def bench_llama_cpp(gguf, c, input_len, output_len, vocab):
    engine = LlamaCppBatch(gguf, c, input_len, output_len)
    work = prompts(2 * c, input_len, vocab, seed=c)
    start = time.perf_counter()
    generated = sum(engine.run_wave(work[w * c:(w + 1) * c], output_len) for w in range(2))
    return generated / (time.perf_counter() - start)


def bench_transformers(model, c, input_len, output_len, vocab):
    import torch

    work = prompts(2 * c, input_len, vocab, seed=c)
    generated = 0
    start = time.perf_counter()
    with torch.inference_mode():
        for w in range(2):
            ids = torch.tensor(work[w * c:(w + 1) * c])
            out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                 max_new_tokens=output_len, min_new_tokens=output_len, pad_token_id=2)
            generated += (out.shape[1] - ids.shape[1]) * ids.shape[0]
    return generated / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tessera", required=True)
    parser.add_argument("--gguf", default=default_gguf())
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--input-len", type=int, default=128)
    parser.add_argument("--output-len", type=int, default=64)
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(2)
    folder, name = os.path.split(args.gguf)
    hf = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
    vocab = hf.config.vocab_size

    print(__doc__.split("Usage:")[0].strip())
    print(f"\ninput {args.input_len} tokens, output {args.output_len} tokens, output tokens/s\n")
    print(f"{'concurrency':>11}{'tessera':>10}{'llama.cpp':>11}{'transformers':>14}{'tessera/llama.cpp':>19}{'tessera/transformers':>22}")
    for c in args.concurrency:
        t = bench_tessera(args.tessera, args.gguf, c, args.input_len, args.output_len)
        l = bench_llama_cpp(args.gguf, c, args.input_len, args.output_len, vocab)
        h = bench_transformers(hf, c, args.input_len, args.output_len, vocab)
        print(f"{c:>11}{t:>10.1f}{l:>11.1f}{h:>14.1f}{t / l:>18.2f}x{t / h:>21.2f}x", flush=True)


if __name__ == "__main__":
    main()
