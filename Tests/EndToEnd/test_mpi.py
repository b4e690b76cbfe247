"""Ranks as processes: `tessera` under `mpirun`, against the same runs with thread ranks.

Run with `make test` (or `python3 -m pytest -q Tests/EndToEnd/test_mpi.py`). Needs Open MPI's
`mpirun` (`make setup` installs it) and a `tessera` built with the MPI trait (`make build`).

Every job runs on this one machine: more ranks than cores (`--oversubscribe`), as root where
the tests run as root, through shared memory and, to stand in for a second machine, through TCP
over loopback (`--mca btl self,tcp`). `--timeout` makes a hung job fail instead of hanging CI.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import openai
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("TESSERA_BIN") or str(ROOT / ".build" / "release" / "tessera")
CHECK = str(Path(BIN).parent / "tessera-mpi-check")
TINY = str(ROOT / "Tests" / "Fixtures" / "models" / "tiny-llama-1kv")
# Latent attention (one cached latent for all heads) and experts; the GGUF in the newer split layout.
DEEPSEEK = str(ROOT / "Tests" / "Fixtures" / "gguf" / "tiny-deepseek-v3.gguf")
SMOLLM2 = "smollm2"
JOB_TIMEOUT = 240  # seconds mpirun allows a whole job (9 processes on 2 cores load slowly)

ENV = dict(os.environ)
ENV.update({
    # Containers may refuse cross-memory attach; shared memory then copies through a buffer.
    "OMPI_MCA_btl_vader_single_copy_mechanism": "none",
    "OMPI_MCA_rmaps_base_oversubscribe": "1",
})
if os.geteuid() == 0:
    ENV.update({"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"})
ENV.pop("TESSERA_API_KEY", None)

SHM = []
TCP = ["--mca", "btl", "self,tcp"]


def mpirun(np: int, *args: str, transport: list[str] = SHM) -> list[str]:
    return ["mpirun", "-np", str(np), "--timeout", str(JOB_TIMEOUT), *transport, *args]


def run(cmd: list[str], timeout: float = JOB_TIMEOUT + 30) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=ENV, stdin=subprocess.DEVNULL)


def generate_json(ranks: list[str], *args: str) -> list[dict]:
    """`tessera generate --json`: one record per prompt; `ranks` is [] or an mpirun prefix."""
    cmd = [*ranks, BIN, "generate", "--json", "--quiet", *args]
    result = run(cmd)
    assert result.returncode == 0, f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stderr[-3000:]}"
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


# ----------------------------------------------------------------------------- collectives


@pytest.mark.parametrize("np,transport", [(2, SHM), (3, SHM), (4, SHM), (3, TCP)], ids=["2", "3", "4", "3-tcp"])
def test_mpi_collectives_are_bit_identical_to_in_process(np, transport):
    result = run(mpirun(np, CHECK, transport=transport))
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(rf"^{np} ranks: \d+ results bit-identical", result.stdout, re.M), result.stdout


# ----------------------------------------------------------------------------- generate

PROMPTS = ["The capital of France is", "Once upon a time, there was a", "def fibonacci(n):"]

# (model, tp, cp, interleave, transport)
CASES = [
    (SMOLLM2, 3, 1, 1, SHM),
    (SMOLLM2, 9, 3, 1, SHM),
    (SMOLLM2, 3, 1, 1, TCP),
    (TINY, 4, 2, 2, SHM),
    (TINY, 4, 4, 2, SHM),
    (TINY, 4, 4, 2, TCP),
    (DEEPSEEK, 4, 4, 2, SHM),
    (DEEPSEEK, 4, 2, 1, SHM),
]


@pytest.mark.parametrize("model,tp,cp,interleave,transport", CASES,
                         ids=[f"{Path(m).name}-tp{tp}-cp{cp}-i{i}{'-tcp' if t else ''}" for m, tp, cp, i, t in CASES])
def test_generate_under_mpirun_matches_thread_ranks(model, tp, cp, interleave, transport):
    args = ["--model", model, "-tp", str(tp), "-cp", str(cp), "--cp-interleave", str(interleave),
            "--max-tokens", "24", "--ignore-eos", *PROMPTS]
    threads = generate_json([], *args)
    processes = generate_json(mpirun(tp, transport=transport), *args)
    assert len(processes) == len(PROMPTS)  # only rank 0 prints
    assert [r["ids"] for r in processes] == [r["ids"] for r in threads]
    assert [r["text"] for r in processes] == [r["text"] for r in threads]


def test_preempting_batch_under_mpirun_matches_thread_ranks():
    """A cache of 128 tokens (per CP group) for four sequences of about 56: the engine must make some
    wait and preempt others, the same way with process ranks as with thread ranks."""
    args = ["--model", TINY, "-tp", "4", "-cp", "2", "--cp-interleave", "2", "--block-size", "8",
            "--kv-cache-memory", "12288", "--max-tokens", "48", "--ignore-eos",
            *PROMPTS, "Four score and seven years ago"]
    threads = generate_json([], *args)
    processes = generate_json(mpirun(4), *args)
    assert [r["ids"] for r in processes] == [r["ids"] for r in threads]
    assert all(len(r["ids"]) == 48 for r in processes)


def test_world_size_mismatch_is_refused_with_both_numbers():
    result = run(mpirun(2, BIN, "generate", "-tp", "3", "--max-tokens", "4", "hi"))
    assert result.returncode != 0
    assert "mpirun started 2 processes but the parallel configuration has tp=3 ranks" in result.stderr, result.stderr


def test_a_model_that_cannot_be_opened_fails_the_job_with_the_reason():
    result = run(mpirun(2, BIN, "generate", "--model", "/nonexistent/model.gguf", "-tp", "2", "hi"))
    assert result.returncode != 0
    assert "/nonexistent/model.gguf" in result.stderr, result.stderr


# ----------------------------------------------------------------------------- serve


class MPIServer:
    """`mpirun -np N tessera serve` (without mpirun when `np` is None): rank 0's port from its
    log; the ranks' pids from their environments."""

    def __init__(self, np: int | None, *args: str, transport: list[str] = SHM):
        serve = [BIN, "serve", "--port", "0", "--quiet", *args]
        cmd = serve if np is None else mpirun(np, *serve, transport=transport)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, errors="replace", env=ENV)
        self.log: list[str] = []
        self.port: int | None = None
        ready = threading.Event()

        def read() -> None:
            for line in self.proc.stderr:
                self.log.append(line.rstrip("\n"))
                match = re.search(r"serving '[^']+' at http://[^\s/]+:(\d+)/v1", line)
                if match:
                    self.port = int(match.group(1))
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(JOB_TIMEOUT) or self.port is None:
            self.kill()
            raise AssertionError(f"{' '.join(cmd)} did not start:\n" + "\n".join(self.log[-40:]))
        self.ranks = {0: self.proc.pid} if np is None else self._rank_pids(np)

    def _rank_pids(self, np: int) -> dict[int, int]:
        """World rank -> pid, for mpirun's children (Open MPI sets OMPI_COMM_WORLD_RANK in each)."""
        ranks = {}
        children = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split()
        for pid in map(int, children):
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            for entry in environ:
                if entry.startswith(b"OMPI_COMM_WORLD_RANK="):
                    ranks[int(entry.split(b"=")[1])] = pid
        assert sorted(ranks) == list(range(np)), f"rank processes: {ranks}"
        return ranks

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"http://127.0.0.1:{self.port}/v1", api_key="unused", max_retries=0, timeout=120)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"mpirun did not exit within {timeout} s:\n" + "\n".join(self.log[-40:]))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def chat(client: openai.OpenAI, stream: bool, **extra):
    return client.chat.completions.create(
        model=client.models.list().data[0].id, messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=24, temperature=0, stream=stream, **extra)


def streamed_text(stream) -> str:
    return "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)


def test_serve_under_mpirun_answers_the_openai_client_like_thread_ranks():
    threads = MPIServer(None, "-tp", "3", "--max-model-len", "512")
    try:
        expected = chat(threads.client(), stream=False, logprobs=True, top_logprobs=5)
    finally:
        threads.proc.send_signal(signal.SIGTERM)
        assert threads.wait(60) == 0
    server = MPIServer(3, "-tp", "3", "--max-model-len", "512")
    try:
        client = server.client()
        answer = chat(client, stream=False, logprobs=True, top_logprobs=5)
        assert answer.choices[0].message.content == expected.choices[0].message.content
        assert "Paris" in answer.choices[0].message.content
        got, want = answer.choices[0].logprobs.content, expected.choices[0].logprobs.content
        assert [t.token for t in got] == [t.token for t in want]
        for a, b in zip(got, want):
            assert abs(a.logprob - b.logprob) <= 1e-5
            assert [t.token for t in a.top_logprobs] == [t.token for t in b.top_logprobs]
            assert all(abs(x.logprob - y.logprob) <= 1e-5 for x, y in zip(a.top_logprobs, b.top_logprobs))
        assert streamed_text(chat(client, stream=True)) == expected.choices[0].message.content
    finally:
        # SIGTERM to rank 0, the server: it drains and stops every rank.
        os.kill(server.ranks[0], signal.SIGTERM)
        code = server.wait(60)
    assert code == 0, "\n".join(server.log[-40:])


def test_sigterm_drains_a_stream_in_flight_and_every_rank_exits_zero():
    server = MPIServer(3, "-tp", "3", "--max-model-len", "512", transport=TCP)
    client = server.client()
    stream = client.completions.create(
        model=client.models.list().data[0].id, prompt="Once upon a time", max_tokens=64, temperature=0, stream=True,
        extra_body={"ignore_eos": True})
    chunks = iter(stream)
    first = next(chunks)  # the request is running
    os.kill(server.ranks[0], signal.SIGTERM)
    rest = list(chunks)
    finishes = [c.choices[0].finish_reason for c in [first, *rest] if c.choices]
    assert finishes[-1] == "length"  # it ran to its end, not cut off
    assert server.wait(60) == 0, "\n".join(server.log[-40:])


def test_a_killed_rank_ends_the_job_non_zero_within_five_seconds():
    server = MPIServer(3, "-tp", "3", "--max-model-len", "512")
    client = server.client()
    stream = client.completions.create(
        model=client.models.list().data[0].id, prompt="Once upon a time", max_tokens=400, temperature=0, stream=True,
        extra_body={"ignore_eos": True})
    chunks = iter(stream)
    next(chunks)
    killed = time.monotonic()
    os.kill(server.ranks[1], signal.SIGKILL)
    code = server.wait(30)
    elapsed = time.monotonic() - killed
    assert code != 0
    assert elapsed < 5, f"the job took {elapsed:.1f} s to end"
    with pytest.raises(Exception):  # the stream ends with the job instead of hanging
        for _ in chunks:
            pass


def test_a_kv_slice_that_cannot_be_allocated_fails_the_start_with_the_reason():
    result = run(mpirun(2, BIN, "generate", "--model", TINY, "-tp", "2", "--kv-cache-memory", "64TiB", "hi"))
    assert result.returncode != 0
    assert "cannot allocate the KV cache: rank 0's slice of 64.00 TiB exceeds this machine's" in result.stderr, result.stderr


def test_chat_under_mpirun_reads_rank_zeros_input_like_thread_ranks():
    """`mpirun` hands standard input to rank 0, the only rank that reads it."""
    def chat(prefix: list[str]) -> subprocess.CompletedProcess:
        cmd = [*prefix, BIN, "chat", "-tp", "3", "-q", "--max-tokens", "16"]
        return subprocess.run(cmd, input="What is the capital of France?\n/exit\n", capture_output=True, text=True,
                              timeout=JOB_TIMEOUT + 30, env=ENV)
    threads, processes = chat([]), chat(mpirun(3))
    assert threads.returncode == 0 and processes.returncode == 0, processes.stderr[-2000:]
    assert "Paris" in processes.stdout
    assert processes.stdout == threads.stdout


def test_bench_under_mpirun_runs_its_workload():
    result = run(mpirun(3, BIN, "bench", "-tp", "3", "--num-prompts", "6", "--input-len", "16", "--output-len", "8",
                        "--concurrency", "3", "--json", "--quiet"))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["requests"] == 6 and report["output_tokens"] == 6 * 8, report
