"""Memory: the default model's weights stay in their file's format (issue: fast quantised kernels).

A server holding the default model (Q4_1 layers, Q8_0 embedding and head: a 94 MiB file) must be
resident in at most 1.3x the file size plus its KV cache more than the same server holding a
0.5 MiB model (what the process takes without a model: the Swift runtime, the binary, HTTP),
after loading and after serving requests that read every weight; widened to f32 (`--weights
f32`, the exact path) the same model takes about 5x, which the same bound rejects (so the check
can fail). Resident = VmRSS, the mapped file's pages included.
"""
import os
import pathlib

import httpx

from test_serve import serving

KV_BYTES = 16 * 1024 * 1024
MODEL_FILE = pathlib.Path(os.environ.get("TESSERA_HOME") or pathlib.Path.home() / ".cache" / "tessera") \
    / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def resident_bytes(pid: int) -> int:
    """VmRSS of a process: every resident page, the mapped model file's included."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS in /proc/{pid}/status")


TINY_MODEL = str(pathlib.Path(__file__).resolve().parents[1] / "Fixtures" / "models" / "tiny-llama")


def serve_and_measure(*args: str) -> tuple[int, int]:
    """Resident bytes after loading, and after a few requests that read every weight."""
    with serving("--kv-cache-memory", str(KV_BYTES), "--max-model-len", "256", *args) as server:
        loaded = resident_bytes(server.proc.pid)
        for prompt in ["The capital of France is", "Write a haiku about the sea.", "1, 2, 3,"]:
            response = httpx.post(server.base_url + "/completions", timeout=60,
                                  json={"model": server.name, "prompt": prompt, "max_tokens": 16})
            assert response.status_code == 200, response.text
        return loaded, resident_bytes(server.proc.pid)


def limit() -> float:
    return 1.3 * MODEL_FILE.stat().st_size + KV_BYTES


def baseline() -> int:
    """The same server's resident bytes with a 0.5 MiB model, after the same requests."""
    return serve_and_measure("--model", TINY_MODEL)[1]


def test_stored_weights_resident_within_file_size():
    base = baseline()
    loaded, served = serve_and_measure()
    print(f"resident: {loaded / 2**20:.1f} MiB loaded, {served / 2**20:.1f} MiB after requests, "
          f"{base / 2**20:.1f} MiB without the model; limit {limit() / 2**20:.1f} MiB above that "
          f"(file {MODEL_FILE.stat().st_size / 2**20:.1f} MiB x 1.3 + KV 16 MiB)")
    assert loaded - base <= limit()
    assert served - base <= limit()


def test_f32_weights_exceed_the_same_bound():
    _, served = serve_and_measure("--weights", "f32")
    assert served - baseline() > limit()
