#!/usr/bin/env python3
"""Tessera's kernels against llama.cpp on the same GGUF files (issue 12, "Measure").

Method, for each GGUF (default: the default Q4_1 model and the Q4_K_M file if present):
both engines on all cores (THREADS threads each), the same prompt text, each figure the median
of RUNS runs after one warm-up run. Engines:
  tessera stored  `tessera generate/bench --weights stored --threads N` (weights kept in the
                  file's format, the new quantised kernels)
  tessera f32     the same with `--weights f32` (weights widened to f32 at load: the old path)
  llama.cpp       llama-cpp-python (llama.cpp built from source by pip), its quantised kernels
1. decode: bench_single_stream's method (raw prompt of 3 x its base text, greedy, end of
   sequence ignored, DECODE new tokens; decode tok/s = (new tokens - 1) / time from the first
   new token to the last).
2. prefill: the same method on a prompt of 512 tokens (the base text repeated and cut at 512
   tokens by llama.cpp's tokenizer of the file; both engines' own counts are printed), 2 new
   tokens; prefill tok/s = prompt tokens / time to the first new token.
3. batched: bench_batch's method at 32 concurrent sequences (64 requests in two waves of 32,
   seeded random 128-token prompts, 64 new tokens each; output tok/s = generated tokens / wall
   time). The runs of 1 and 2 warm the file cache, so these runs have no warm-up of their own.
4. contention: the decode of 1 with one busy process per core (`python3 -c "while True: pass"`,
   started before the engine's runs and killed after), as a % of the idle decode figure.
5. bandwidth: memory read bandwidth of the machine measured by a small C kernel compiled here
   (sum of a 1 GiB array with THREADS threads and with 1, best of 5 each, the higher figure;
   numpy's sum if no C compiler); weight bytes read per decoded token = the GGUF's tensor bytes
   minus the token embedding (only one row of it is read) plus the LM head (the embedding again
   when tied), for tessera f32 4 bytes per weight; fraction of the memory limit = decode tok/s
   x bytes per token / bandwidth. KV cache reads are not counted (printed apart).
A measure that takes one engine longer than TIMEOUT s (all its runs) is reported as `timeout`.
The machine is shared: the load average is printed before and after each file.

Usage: python3 scripts/bench_kernels.py --tessera .build/release/tessera [--gguf A.gguf B.gguf]
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_batch  # noqa: E402  (reused: the batched workload for both engines)
import bench_single_stream  # noqa: E402  (reused: single-stream prefill/decode for both engines)

PREFILL_TOKENS = 512
CONCURRENCY = 32

# Read bandwidth: each thread sums its slice of a 1 GiB array (four accumulators so the adds
# vectorise and do not chain); best of several passes, so a noisy neighbour lowers it less.
STREAM_C = r"""
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct { const uint64_t *p; size_t n; uint64_t sum; } part_t;

static void *sum_part(void *arg) {
    part_t *t = arg;
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    size_t i = 0;
    for (; i + 4 <= t->n; i += 4) {
        a0 += t->p[i]; a1 += t->p[i + 1]; a2 += t->p[i + 2]; a3 += t->p[i + 3];
    }
    for (; i < t->n; i++) a0 += t->p[i];
    t->sum = a0 + a1 + a2 + a3;
    return NULL;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: stream BYTES THREADS PASSES\n"); return 2; }
    size_t bytes = strtoull(argv[1], NULL, 10);
    int threads = atoi(argv[2]), passes = atoi(argv[3]);
    if (threads < 1 || threads > 256 || passes < 1) return 2;
    size_t n = bytes / sizeof(uint64_t);
    uint64_t *a = malloc(n * sizeof(uint64_t));
    if (!a) return 1;
    memset(a, 1, n * sizeof(uint64_t));
    pthread_t tid[256];
    part_t parts[256];
    double best = 1e30;
    uint64_t check = 0;
    for (int pass = 0; pass < passes; pass++) {
        double start = now();
        for (int t = 0; t < threads; t++) {
            size_t lo = n * (size_t)t / (size_t)threads, hi = n * (size_t)(t + 1) / (size_t)threads;
            parts[t] = (part_t){ a + lo, hi - lo, 0 };
            pthread_create(&tid[t], NULL, sum_part, &parts[t]);
        }
        for (int t = 0; t < threads; t++) { pthread_join(tid[t], NULL); check += parts[t].sum; }
        double elapsed = now() - start;
        if (elapsed < best) best = elapsed;
    }
    printf("%.3f %llu\n", (double)(n * sizeof(uint64_t)) / best / 1e9, (unsigned long long)check);
    free(a);
    return 0;
}
"""


def default_ggufs():
    home = os.environ.get("TESSERA_HOME") or os.path.expanduser("~/.cache/tessera")
    files = [bench_single_stream.default_gguf()]
    kquant = os.path.join(home, "quant", "SmolLM2-135M-Instruct.Q4_K_M.gguf")
    if os.path.exists(kquant):
        files.append(kquant)
    return files


def load_average():
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def tessera_with_flags(binary, weights, threads, folder):
    """A wrapper executable that inserts Tessera's kernel flags after the subcommand, so the
    imported bench_single_stream/bench_batch functions (which take a binary path) run unchanged."""
    path = os.path.join(folder, f"tessera-{weights}")
    with open(path, "w") as f:
        f.write(f'#!/bin/sh\ncmd="$1"; shift\nexec "{os.path.abspath(binary)}" "$cmd" '
                f'--weights {weights} --threads {threads} "$@"\n')
    os.chmod(path, 0o755)
    return path


def memory_bandwidth(threads, folder):
    """(GB/s read with `threads` threads, GB/s with one thread, how it was measured)."""
    cc = shutil.which("cc") or shutil.which("clang") or shutil.which("gcc")
    if cc:
        src, exe = os.path.join(folder, "stream.c"), os.path.join(folder, "stream")
        with open(src, "w") as f:
            f.write(STREAM_C)
        built = subprocess.run([cc, "-std=c11", "-O3", "-march=native", "-Wall", "-Wextra", "-pthread",
                                src, "-o", exe], capture_output=True, text=True)
        if built.returncode == 0:
            def run(t):
                out = subprocess.run([exe, str(1 << 30), str(t), "5"], check=True, capture_output=True, text=True)
                return float(out.stdout.split()[0])
            return run(threads), run(1), f"C sum kernel ({os.path.basename(cc)} -O3 -march=native), 1 GiB, best of 5"
    import numpy as np

    a = np.ones(1 << 27, dtype=np.float64)
    best = min(_timed(a.sum) for _ in range(5))
    gbps = a.nbytes / best / 1e9
    return gbps, gbps, "numpy float64 sum of 1 GiB, one thread, best of 5 (no C compiler)"


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def gguf_facts(path):
    """Bytes read per decoded token (weights), f32 bytes of the same, vocabulary size, KV bytes per
    cached token per byte of element (layers x KV heads x head dim x 2)."""
    from gguf import GGUFReader

    reader = GGUFReader(path)
    tensors = {t.name: t for t in reader.tensors}
    arch = reader.fields["general.architecture"].contents()
    meta = lambda key: reader.fields[f"{arch}.{key}"].contents()  # noqa: E731
    vocab = len(reader.fields["tokenizer.ggml.tokens"].data)
    embd = tensors["token_embd.weight"]
    total = sum(int(t.n_bytes) for t in tensors.values())
    elements = sum(int(t.n_elements) for t in tensors.values())
    row, row_f32 = int(embd.n_bytes) // vocab, int(embd.n_elements) // vocab * 4
    if "output.weight" in tensors:  # untied: the embedding is read one row per token
        stored = total - int(embd.n_bytes) + row
        f32 = 4 * (elements - int(embd.n_elements)) + row_f32
    else:  # tied: the embedding is read whole as the LM head (plus the row)
        stored, f32 = total + row, 4 * elements + row_f32
    heads = meta("attention.head_count")
    kv_per_token = meta("block_count") * meta("attention.head_count_kv") * (meta("embedding_length") // heads) * 2
    return {"stored": stored, "f32": f32, "file": os.path.getsize(path), "vocab": vocab,
            "kv_elements_per_token": kv_per_token}


def prompt_of_tokens(gguf, count):
    """Text of exactly `count` tokens for this file's tokenizer: the base text repeated, cut by
    tokens and detokenised; re-tokenised to check the cut is stable."""
    from llama_cpp import Llama

    vocab_only = Llama(model_path=gguf, vocab_only=True, verbose=False)
    text = bench_single_stream.PROMPT * (count // 20 + 2)
    for cut in range(count, count - 8, -1):
        ids = vocab_only.tokenize(text.encode(), add_bos=False, special=True)[:cut]
        candidate = vocab_only.detokenize(ids).decode("utf-8", errors="ignore")
        if len(vocab_only.tokenize(candidate.encode(), add_bos=False, special=True)) == count:
            return candidate
    return candidate


class BusyCores:
    """One spinning Python process per core for the duration of a `with` block."""

    def __init__(self, count):
        self.count, self.procs = count, []

    def __enter__(self):
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(self.count)]
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()


def median(results, index):
    return statistics.median(r[index] for r in results)


def spread(values):
    return f"{min(values):.1f}-{max(values):.1f}"


class TimeLimit(Exception):
    pass


def within(seconds, fn):
    """fn() or None when it runs longer than `seconds` (SIGALRM: llama.cpp returns to Python after
    every token, and subprocess.run kills Tessera's process when interrupted)."""
    def expire(signum, frame):
        raise TimeLimit()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        return fn()
    except TimeLimit:
        return None
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def bench_file(gguf, args, wrappers, bandwidth, log):
    facts = gguf_facts(gguf)
    decode_prompt = bench_single_stream.PROMPT * 3
    long_prompt = prompt_of_tokens(gguf, PREFILL_TOKENS)
    rows, raw, counts = {}, [], {}  # rows[measure][engine] = value, None when it timed out

    def record(measure, engine, value, values=None):
        rows.setdefault(measure, {})[engine] = value
        if values is not None:
            raw.append(f"{measure} / {engine}: runs {', '.join(f'{v:.1f}' for v in values)}")
        elif value is None and not measure.startswith(" "):  # indented rows derive from others
            raw.append(f"{measure} / {engine}: stopped after {args.timeout} s")

    engines = ["tessera stored", "tessera f32", "llama.cpp"]

    def single(engine, prompt, new_tokens):
        if engine == "llama.cpp":
            run = lambda: bench_single_stream.bench_llama_cpp(gguf, prompt, new_tokens, args.runs)  # noqa: E731
        else:
            run = lambda: bench_single_stream.bench_tessera(wrappers[engine], gguf, prompt, new_tokens, args.runs)  # noqa: E731
        return within(args.timeout, run)

    def single_figure(measure, engine, prompt, new_tokens, index, kind):
        res = single(engine, prompt, new_tokens)
        if res is None:
            record(measure, engine, None)
            return None
        record(measure, engine, median(res, index), [r[index] for r in res])
        counts.setdefault(kind, {})[engine] = res[0][2]
        return res

    for engine in engines:
        log(f"decode {engine}")
        single_figure("decode tok/s", engine, decode_prompt, args.decode_tokens, 1, "decode")
        log(f"prefill {engine}")
        single_figure(f"prefill tok/s ({PREFILL_TOKENS} tokens)", engine, long_prompt, 2, 0, "prefill")

    for engine in [e for e in engines if e != "tessera f32" or not args.skip_batch_f32]:
        log(f"batched {engine}")
        if engine == "llama.cpp":
            run = lambda: bench_batch.bench_llama_cpp(gguf, CONCURRENCY, 128, 64, facts["vocab"])  # noqa: E731
        else:
            run = lambda: bench_batch.bench_tessera(wrappers[engine], gguf, CONCURRENCY, 128, 64)  # noqa: E731
        values = [within(args.timeout, run) for _ in range(args.batch_runs)]
        done = [v for v in values if v is not None]
        record(f"batched out tok/s (C={CONCURRENCY})", engine, statistics.median(done) if done else None,
               done if done else None)

    for engine in ("tessera stored", "llama.cpp"):
        log(f"contention {engine}")
        with BusyCores(args.threads):
            res = single(engine, decode_prompt, args.decode_tokens)
        busy = median(res, 1) if res else None
        record("decode tok/s, 1 busy process/core", engine, busy, [r[1] for r in res] if res else None)
        idle = rows["decode tok/s"].get(engine)
        record("  as % of idle decode", engine, 100 * busy / idle if busy and idle else None)

    for engine in engines:
        per_token = facts["f32"] if engine == "tessera f32" else facts["stored"]
        record("weight bytes read per token (MB)", engine, per_token / 1e6)
        decode = rows["decode tok/s"].get(engine)
        record("  x decode tok/s / bandwidth (%)", engine,
               100 * decode * per_token / (bandwidth * 1e9) if decode else None)
    return facts, rows, raw, counts


def print_table(rows, targets):
    names = ["tessera stored", "tessera f32", "llama.cpp"]
    head = f"{'measure':<38}" + "".join(f"{n:>16}" for n in names) + f"{'stored/llama':>14}{'f32/llama':>11}{'target':>9}"
    print(head)
    print("-" * len(head))
    for measure, values in rows.items():
        line = f"{measure:<38}"
        for n in names:
            if n not in values:
                line += f"{'-':>16}"
            else:
                line += f"{values[n]:>16.1f}" if values[n] is not None else f"{'timeout':>16}"
        ratio = not measure.startswith(" ") and "bytes" not in measure
        for n in ("tessera stored", "tessera f32"):
            width = 14 if n == "tessera stored" else 11
            if ratio and values.get(n) and values.get("llama.cpp"):
                line += f"{values[n] / values['llama.cpp']:>{width - 1}.2f}x"
            else:
                line += f"{'':>{width}}"
        line += f"{targets.get(measure, ''):>9}"
        print(line)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tessera", required=True, help="path to the release tessera binary")
    parser.add_argument("--gguf", nargs="+", default=None, help="GGUF files (default: Q4_1 and Q4_K_M)")
    parser.add_argument("--runs", type=int, default=3, help="runs after the warm-up (decode, prefill, contention)")
    parser.add_argument("--batch-runs", type=int, default=1, help="runs of the batched workload (no warm-up)")
    parser.add_argument("--skip-batch-f32", action="store_true", help="batched workload without tessera f32")
    parser.add_argument("--decode-tokens", type=int, default=128)
    parser.add_argument("--timeout", type=int, default=300,
                        help="seconds allowed for each engine's runs of one measure (then: timeout)")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="threads per engine and busy processes (default: the CPUs this process may use)")
    args = parser.parse_args()
    ggufs = args.gguf or default_ggufs()
    started = time.perf_counter()

    def log(message):
        print(f"  [{time.perf_counter() - started:6.0f} s] {message}", file=sys.stderr, flush=True)

    if args.threads != 2:
        log("note: the llama.cpp runs reused from bench_single_stream/bench_batch use 2 threads")
    text = __doc__.split("Usage:")[0].strip()
    print(text.replace("THREADS", str(args.threads)).replace("RUNS", str(args.runs))
          .replace("DECODE", str(args.decode_tokens))
          .replace("TIMEOUT", str(args.timeout)))
    print(f"\ntessera binary: {os.path.abspath(args.tessera)}  (copied at the start; modified "
          f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(os.path.getmtime(args.tessera)))} UTC)")
    print(f"cores usable: {len(os.sched_getaffinity(0))}, threads per engine: {args.threads}, {load_average()}")

    with tempfile.TemporaryDirectory() as folder:
        # A private copy: a rebuild of the binary during the run must not change what is measured.
        binary = shutil.copy2(args.tessera, os.path.join(folder, "tessera"))
        wrappers = {w: tessera_with_flags(binary, w.split()[1], args.threads, folder)
                    for w in ("tessera stored", "tessera f32")}
        log("memory bandwidth")
        bandwidth, bandwidth_one, how = memory_bandwidth(args.threads, folder)
        print(f"memory read bandwidth: {bandwidth:.1f} GB/s with {args.threads} threads, "
              f"{bandwidth_one:.1f} GB/s with 1 ({how}); the limit used below is the higher one")
        bandwidth = max(bandwidth, bandwidth_one)
        targets = {"decode tok/s": ">=1.2x", f"prefill tok/s ({PREFILL_TOKENS} tokens)": ">=2x",
                   f"batched out tok/s (C={CONCURRENCY})": ">=2x", "  as % of idle decode": ">=50%"}
        for gguf in ggufs:
            before = load_average()
            facts, rows, raw, counts = bench_file(gguf, args, wrappers, bandwidth, log)
            print(f"\n## {os.path.basename(gguf)}  ({facts['file'] / 1e6:.1f} MB file; {before} before, "
                  f"{load_average()} after)")
            print(f"prompt tokens counted by each engine: decode {counts.get('decode')}, prefill {counts.get('prefill')}")
            prompt = next(iter(counts.get("decode", {}).values()), 103)
            kv = facts["kv_elements_per_token"] * (prompt + args.decode_tokens // 2)
            print(f"KV cache read per decoded token at the mean decode context, not counted below: "
                  f"{kv * 4 / 1e6:.1f} MB in f32 (Tessera's default), {kv * 2 / 1e6:.1f} MB in f16 (llama.cpp's)\n")
            print_table(rows, targets)
            print("\n" + "\n".join(raw), flush=True)
    log("done")


if __name__ == "__main__":
    main()
