"""The CLI's resolved limits: one max-model-len rule for every command, and a KV budget whose
floor is one sequence (the rest of a batch waits or is preempted).

Run with `make test` (or `python3 -m pytest -q Tests/EndToEnd/test_cli.py`).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("TESSERA_BIN") or str(ROOT / ".build" / "release" / "tessera")
TINY = str(ROOT / "Tests" / "Fixtures" / "models" / "tiny-llama")  # max_position_embeddings 512


def tessera(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("command", [
    ["generate", "hi"],
    ["chat"],
    ["serve", "--port", "0"],
    ["bench", "--num-prompts", "1"],
    ["plan", "--kv-cache-memory", "1MiB"],
])
def test_max_model_len_above_the_model_is_refused_naming_both(command):
    result = tessera(command[0], "--model", TINY, "--max-model-len", "4096", *command[1:])
    assert result.returncode != 0
    assert "--max-model-len 4096 is above the model's maximum of 512 tokens" in result.stderr, result.stderr


def test_a_budget_for_one_sequence_runs_a_whole_batch():
    """Nine prompts, a cache that holds one of them at a time: all nine finish."""
    prompts = [f"Prompt number {i} says" for i in range(9)]
    result = tessera("generate", "--model", TINY, "--json", "-q", "--block-size", "8", "--kv-cache-memory", "12KiB",
                     "--max-tokens", "24", "--ignore-eos", *prompts)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len(records) == 9
    assert all(len(r["ids"]) == 24 for r in records)


@pytest.mark.parametrize("flags, message", [
    (["--isa", "sse9"], "--isa: unknown instruction set 'sse9'"),
    (["--threads", "0"], "--threads must be at least 1, got 0"),
    (["--weights", "q4"], "The value 'q4' is invalid for '--weights <weights>'"),
])
def test_kernel_flags_are_checked(flags, message):
    result = tessera("generate", "--model", TINY, *flags, "hi")
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_every_instruction_set_and_thread_count_gives_the_same_greedy_text():
    """The kernels of each level this CPU has (`--isa`), the portable fallback, 1 or 3 threads:
    the same greedy tokens on the default model's stored weights (products equal up to
    summation order)."""
    runs = {}
    for flags in (["--isa", "portable"], ["--isa", "avx2"], ["--isa", "avx512"], ["--threads", "1"], ["--threads", "3"], []):
        result = tessera("generate", "--json", "-q", "--max-tokens", "24", *flags, "The capital of France is")
        if "this CPU does not support it" in result.stderr:
            continue
        assert result.returncode == 0, result.stderr
        runs[" ".join(flags) or "default"] = json.loads(result.stdout.splitlines()[-1])["ids"]
    assert "--isa portable" in runs and "default" in runs
    assert len(set(map(tuple, runs.values()))) == 1, runs
