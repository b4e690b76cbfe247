"""End-to-end tests of `tessera serve` through the official `openai` client, httpx and curl.

Run with `make test-server` (or `python3 -m pytest -q Tests/EndToEnd`). The binary is
`.build/release/tessera` (or $TESSERA_BIN); the model is the default one (`make model`).

Servers started here (each with `--port 0`, its port read from its log):
- `server`: the main one, `--max-model-len 256` (long prompts are cheap to refuse) and a small
  `--max-body-bytes`; started once for the module, SIGTERMed at the end (must exit 0).
- `tight`: `--api-key`, `--max-num-seqs 1 --max-queue 0`: auth, the 429 queue limit and client
  disconnects (one slot: a request whose admission leaked would make the next one a 429).
- one server per graceful-shutdown test.

Greedy outputs are compared with `tessera generate --json` (the offline engine) for the same
prompt and max_tokens, run once per prompt in a session fixture.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import openai
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("TESSERA_BIN") or str(ROOT / ".build" / "release" / "tessera")
MODEL = "SmolLM2-135M-Instruct.Q4_1"
API_KEY = "sk-tessera-test-key"
MAX_MODEL_LEN = 256
MAX_BODY_BYTES = 65536

# (prompt, max_tokens) -> the offline engine's greedy output. Completion prompts first, then
# chat prompts (one user message through the chat template).
COMPLETION_PROMPTS = [
    ("The capital of France is", 16),
    ("Once upon a time, there was a", 16),
    ("def fibonacci(n):", 16),
    ("The three primary colors are", 16),
]
CHAT_EOS = ("What is the capital of France?", 24)  # answers in 8 tokens, the last one EOS
CHAT_LENGTH = ("Say hi", 16)  # still talking after 16 tokens
CHAT_PROMPTS = [CHAT_EOS, CHAT_LENGTH]


# ----------------------------------------------------------------------------- processes


class Server:
    """One `tessera serve` process: its port from its log, its log kept for failure messages."""

    def __init__(self, *args: str, startup_timeout: float = 120):
        env = {k: v for k, v in os.environ.items() if k != "TESSERA_API_KEY"}
        cmd = [BIN, "serve", "--port", "0", "--quiet", *args]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, errors="replace", env=env)
        self.log: list[str] = []
        self.name: str | None = None
        self.port: int | None = None
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        if not self._ready.wait(startup_timeout) or self.port is None:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{' '.join(cmd)} did not start:\n{self.log_tail()}")
        self.url = f"http://127.0.0.1:{self.port}"
        self.base_url = self.url + "/v1"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"/health never answered 200:\n{self.log_tail()}")
            time.sleep(0.05)

    def _read_log(self) -> None:
        for line in self.proc.stderr:
            self.log.append(line.rstrip("\n"))
            match = re.search(r"serving '([^']+)' at http://[^\s/]+:(\d+)/v1", line)
            if match and self.port is None:
                self.name, self.port = match.group(1), int(match.group(2))
                self._ready.set()
        self._ready.set()  # the process ended: stop waiting

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log[-lines:])

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the server did not exit within {timeout} s:\n{self.log_tail()}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> int:
        """SIGTERM, then the exit code."""
        if self.proc.poll() is None:
            self.terminate()
        return self.wait(60)

    def client(self, **kwargs) -> openai.OpenAI:
        kwargs.setdefault("api_key", "unused")
        kwargs.setdefault("timeout", 120)
        return openai.OpenAI(base_url=self.base_url, max_retries=0, **kwargs)

    def metrics(self) -> dict[str, float]:
        response = httpx.get(self.url + "/metrics", timeout=10)
        assert response.status_code == 200, response.text
        return parse_metrics(response.text)


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text exposition -> {"name{labels}": value}."""
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


ABORTED = 'tessera_request_finished_total{finished_reason="abort"}'


def wait_until_idle(server: Server, timeout: float) -> dict[str, float]:
    """Polls /metrics until nothing runs, waits or holds a KV block; fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        values = server.metrics()
        if (values.get("tessera_num_requests_running") == 0 and values.get("tessera_num_requests_waiting") == 0
                and values.get("tessera_kv_cache_blocks_used") == 0):
            return values
        if time.monotonic() > deadline:
            raise AssertionError(f"the engine is still busy {timeout} s later: "
                                 + str({k: v for k, v in values.items() if "num_requests" in k or "blocks_used" in k}))
        time.sleep(0.05)


def generate_reference(prompt: str, max_tokens: int, chat: bool) -> dict:
    cmd = [BIN, "generate", "--json", "--quiet", "--max-tokens", str(max_tokens)] + (["--chat"] if chat else []) + [prompt]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"{cmd} failed:\n{result.stderr}"
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout
    return json.loads(lines[0])


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def references() -> dict[tuple[str, str], dict]:
    """("completion" | "chat", prompt) -> `tessera generate --json` output, one process per prompt."""
    jobs = [("completion", p, n) for p, n in COMPLETION_PROMPTS] + [("chat", p, n) for p, n in CHAT_PROMPTS]
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {(kind, p): pool.submit(generate_reference, p, n, kind == "chat") for kind, p, n in jobs}
        refs = {key: future.result() for key, future in futures.items()}
    # The finish reasons the tests below rely on.
    assert refs[("chat", CHAT_EOS[0])]["finish_reason"] == "stop", refs[("chat", CHAT_EOS[0])]
    assert refs[("chat", CHAT_LENGTH[0])]["finish_reason"] == "length", refs[("chat", CHAT_LENGTH[0])]
    return refs


@contextmanager
def serving(*args: str) -> Iterator[Server]:
    """A `tessera serve` for the block; afterwards it must stop on SIGTERM with exit code 0."""
    instance = Server(*args)
    try:
        yield instance
    finally:
        code = instance.stop()
    assert code == 0, f"exit code {code} after SIGTERM:\n{instance.log_tail()}"


@pytest.fixture(scope="module")
def server():
    with serving("--max-model-len", str(MAX_MODEL_LEN), "--max-body-bytes", str(MAX_BODY_BYTES),
                 "--kv-cache-memory", "256MiB") as instance:
        assert instance.name == MODEL
        yield instance


@pytest.fixture(scope="module")
def tight():
    with serving("--api-key", API_KEY, "--max-num-seqs", "1", "--max-queue", "0") as instance:
        yield instance


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return server.client()


def auth(key: str = API_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# ----------------------------------------------------------------------------- SSE helpers


def sse_payloads(lines) -> list[str]:
    """The `data:` payloads of a server-sent event stream, `[DONE]` included."""
    return [line[len("data: "):] for line in lines if line.startswith("data: ")]


def assert_error(response: httpx.Response, status: int, param: str | None, type_: str = "invalid_request_error",
                 code: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"], error
    assert error["type"] == type_, error
    assert error["param"] == param, error
    if code is not None:
        assert error["code"] == code, error
    if param is not None:
        assert param in error["message"], error
    return error


# ----------------------------------------------------------------------------- 1. openai client


def test_models_list(server, client):
    models = client.models.list()
    assert [m.id for m in models.data] == [MODEL]
    assert models.data[0].object == "model"
    assert models.data[0].owned_by


@pytest.mark.parametrize("prompt,max_tokens", COMPLETION_PROMPTS[:2])
def test_completion_greedy_matches_generate(client, references, prompt, max_tokens):
    ref = references[("completion", prompt)]
    response = client.completions.create(model=MODEL, prompt=prompt, max_tokens=max_tokens, temperature=0)
    assert response.object == "text_completion"
    assert response.model == MODEL
    assert len(response.choices) == 1
    choice = response.choices[0]
    assert choice.index == 0
    assert choice.text == ref["text"]
    assert choice.finish_reason == ref["finish_reason"] == "length"
    assert response.usage.prompt_tokens == len(ref["prompt_ids"])
    assert response.usage.completion_tokens == len(ref["ids"]) == max_tokens
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens

    # Streamed: the same text, then a usage-only chunk, then [DONE].
    stream = client.completions.create(model=MODEL, prompt=prompt, max_tokens=max_tokens, temperature=0, stream=True,
                                       stream_options={"include_usage": True})
    chunks = list(stream)
    text_chunks, usage_chunk = chunks[:-1], chunks[-1]
    assert all(len(c.choices) == 1 and c.usage is None for c in text_chunks)
    assert "".join(c.choices[0].text for c in text_chunks) == ref["text"]
    assert [c.choices[0].finish_reason for c in text_chunks][-1] == "length"
    assert all(c.choices[0].finish_reason is None for c in text_chunks[:-1])
    assert usage_chunk.choices == []
    assert usage_chunk.usage.model_dump(include={"prompt_tokens", "completion_tokens", "total_tokens"}) == \
        response.usage.model_dump(include={"prompt_tokens", "completion_tokens", "total_tokens"})
    assert len({c.id for c in chunks}) == 1


def test_completion_stream_without_usage(client, references):
    prompt, max_tokens = COMPLETION_PROMPTS[2]
    chunks = list(client.completions.create(model=MODEL, prompt=prompt, max_tokens=max_tokens, temperature=0,
                                            stream=True))
    assert all(c.usage is None and len(c.choices) == 1 for c in chunks)
    assert "".join(c.choices[0].text for c in chunks) == references[("completion", prompt)]["text"]


def test_completion_token_id_prompt(client, references):
    """A prompt given as token ids answers as the same prompt given as text."""
    prompt, max_tokens = COMPLETION_PROMPTS[3]
    ref = references[("completion", prompt)]
    response = client.completions.create(model=MODEL, prompt=ref["prompt_ids"], max_tokens=max_tokens, temperature=0)
    assert response.choices[0].text == ref["text"]
    assert response.usage.prompt_tokens == len(ref["prompt_ids"])


@pytest.mark.parametrize("prompt,max_tokens", CHAT_PROMPTS)
def test_chat_greedy_matches_generate(client, references, prompt, max_tokens):
    ref = references[("chat", prompt)]
    messages = [{"role": "user", "content": prompt}]
    response = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=max_tokens, temperature=0)
    assert response.object == "chat.completion"
    assert len(response.choices) == 1
    choice = response.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == ref["text"]
    assert choice.finish_reason == ref["finish_reason"]
    assert response.usage.prompt_tokens == len(ref["prompt_ids"])
    assert response.usage.completion_tokens == len(ref["ids"])
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens
    if ref["finish_reason"] == "stop":
        assert response.usage.completion_tokens < max_tokens  # ended by EOS, not the limit
    else:
        assert response.usage.completion_tokens == max_tokens

    stream = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=max_tokens, temperature=0,
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == response.usage.completion_tokens
    assert chunks[-1].usage.prompt_tokens == response.usage.prompt_tokens
    assert chunks[-1].usage.total_tokens == response.usage.total_tokens
    body = chunks[:-1]
    assert all(c.object == "chat.completion.chunk" and len(c.choices) == 1 for c in body)
    assert "".join(c.choices[0].delta.content or "" for c in body) == ref["text"]
    reasons = [c.choices[0].finish_reason for c in body]
    assert reasons[-1] == ref["finish_reason"] and all(r is None for r in reasons[:-1])


def test_stop_string(client, references):
    prompt, max_tokens = COMPLETION_PROMPTS[0]
    ref = references[("completion", prompt)]
    assert "\n" in ref["text"], ref  # otherwise this test shows nothing
    expected = ref["text"].split("\n")[0]
    response = client.completions.create(model=MODEL, prompt=prompt, max_tokens=max_tokens, temperature=0, stop=["\n"])
    assert response.choices[0].finish_reason == "stop"
    assert response.choices[0].text == expected
    assert 1 <= response.usage.completion_tokens < max_tokens

    chunks = list(client.completions.create(model=MODEL, prompt=prompt, max_tokens=max_tokens, temperature=0,
                                            stop="\n", stream=True))
    assert "".join(c.choices[0].text for c in chunks) == expected
    assert chunks[-1].choices[0].finish_reason == "stop"

    chat_prompt, chat_max = CHAT_LENGTH
    chat_ref = references[("chat", chat_prompt)]["text"]
    word = chat_ref.split()[2]
    chat = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": chat_prompt}],
                                          max_tokens=chat_max, temperature=0, stop=[word])
    assert chat.choices[0].finish_reason == "stop"
    assert chat.choices[0].message.content == chat_ref[:chat_ref.index(word)]


def test_n_choices_seeded(client):
    kwargs = dict(model=MODEL, prompt="My favourite animal is", max_tokens=12, temperature=0.9, seed=1234, n=2,
                  logprobs=1)
    first = client.completions.create(**kwargs)
    assert sorted(c.index for c in first.choices) == [0, 1]
    texts = [c.text for c in sorted(first.choices, key=lambda c: c.index)]
    assert texts[0] != texts[1], texts  # each choice samples with its own seed
    assert first.usage.completion_tokens == sum(len(c.logprobs.token_logprobs) for c in first.choices)
    assert all(c.finish_reason == "length" and len(c.logprobs.token_logprobs) == 12 for c in first.choices)
    again = client.completions.create(**kwargs)
    assert [c.text for c in sorted(again.choices, key=lambda c: c.index)] == texts  # seeded: reproducible

    # Streamed, the chunks of the two choices interleave; each concatenation is that choice's text.
    streamed = {0: "", 1: ""}
    finish = {}
    for chunk in client.completions.create(**kwargs, stream=True):
        for c in chunk.choices:
            streamed[c.index] += c.text
            if c.finish_reason:
                finish[c.index] = c.finish_reason
    assert [streamed[0], streamed[1]] == texts
    assert set(finish) == {0, 1}

    chat = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Name a colour."}],
                                          max_tokens=8, temperature=1.0, seed=7, n=2)
    assert sorted(c.index for c in chat.choices) == [0, 1]
    assert all(c.message.content for c in chat.choices)


def test_completion_logprobs(client, references):
    prompt, max_tokens = COMPLETION_PROMPTS[1]
    ref = references[("completion", prompt)]
    response = client.completions.create(model=MODEL, prompt=prompt, max_tokens=max_tokens, temperature=0, logprobs=2)
    choice = response.choices[0]
    assert choice.text == ref["text"]
    lp = choice.logprobs
    n = response.usage.completion_tokens
    assert n == max_tokens
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == n
    assert "".join(lp.tokens) == choice.text
    assert all(x <= 0 for x in lp.token_logprobs)
    for i, (token, logprob, top) in enumerate(zip(lp.tokens, lp.token_logprobs, lp.top_logprobs)):
        assert 1 <= len(top) <= 3
        assert top[token] == logprob
        assert all(v <= 0 for v in top.values())
        # Greedy: the chosen token is the likeliest.
        assert logprob >= max(top.values()) - 1e-6
        if i > 0:
            assert lp.text_offset[i] == lp.text_offset[i - 1] + len(lp.tokens[i - 1])
    assert lp.text_offset[0] == 0


def test_chat_logprobs(client, references):
    prompt, max_tokens = CHAT_LENGTH
    ref = references[("chat", prompt)]
    response = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": prompt}],
                                              max_tokens=max_tokens, temperature=0, logprobs=True, top_logprobs=2)
    choice = response.choices[0]
    assert choice.message.content == ref["text"]
    content = choice.logprobs.content
    assert len(content) == response.usage.completion_tokens == max_tokens
    assert "".join(e.token for e in content) == choice.message.content
    for entry in content:
        assert entry.logprob <= 0
        assert bytes(entry.bytes).decode("utf-8", "replace") == entry.token
        assert len(entry.top_logprobs) == 2
        assert entry.top_logprobs[0].logprob >= entry.top_logprobs[1].logprob
        assert entry.top_logprobs[0].token == entry.token  # greedy
        assert abs(entry.top_logprobs[0].logprob - entry.logprob) < 1e-6

    # Streamed logprobs: the same entries, spread over the chunks.
    streamed = []
    for chunk in client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": prompt}],
                                                max_tokens=max_tokens, temperature=0, logprobs=True, top_logprobs=2,
                                                stream=True):
        if chunk.choices and chunk.choices[0].logprobs:
            streamed += chunk.choices[0].logprobs.content
    assert [(e.token, e.logprob) for e in streamed] == [(e.token, e.logprob) for e in content]


# ----------------------------------------------------------------------------- 2. curl


def test_curl(server, references):
    prompt, max_tokens = COMPLETION_PROMPTS[0]
    ref = references[("completion", prompt)]
    body = json.dumps({"model": MODEL, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0})
    result = subprocess.run(
        ["curl", "-sS", "--max-time", "60", "-w", "\n%{http_code}", "-H", "Content-Type: application/json",
         "-d", body, server.base_url + "/completions"], capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr
    payload, _, status = result.stdout.rpartition("\n")
    assert status == "200", result.stdout
    response = json.loads(payload)
    assert response["choices"][0]["text"] == ref["text"]
    assert response["usage"] == {"prompt_tokens": len(ref["prompt_ids"]), "completion_tokens": max_tokens,
                                 "total_tokens": len(ref["prompt_ids"]) + max_tokens}

    chat_prompt, chat_max = CHAT_EOS
    chat_ref = references[("chat", chat_prompt)]
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": chat_prompt}],
                       "max_tokens": chat_max, "temperature": 0, "stream": True})
    result = subprocess.run(
        ["curl", "-sS", "-N", "--max-time", "60", "-D", "-", "-H", "Content-Type: application/json", "-d", body,
         server.base_url + "/chat/completions"], capture_output=True, timeout=90)
    assert result.returncode == 0, result.stderr
    head, _, events = result.stdout.decode().partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200"), head
    assert "text/event-stream" in head.lower()
    assert events.endswith("data: [DONE]\n\n"), events[-200:]
    payloads = sse_payloads(events.split("\n"))
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == chat_ref["text"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


# ----------------------------------------------------------------------------- 3. concurrency


def test_concurrent_streams_match_single_requests(server, references):
    """32 streaming clients at once, over 4 completion and 2 chat prompts: each output equals that
    prompt's greedy output from the offline engine, and the engine did run them together."""
    jobs = [("completion", p, n) for p, n in COMPLETION_PROMPTS] + [("chat", p, n) for p, n in CHAT_PROMPTS]
    clients = 32

    async def one(aclient: openai.AsyncOpenAI, i: int):
        kind, prompt, max_tokens = jobs[i % len(jobs)]
        text, reasons, usage = "", [], None
        if kind == "completion":
            stream = await aclient.completions.create(
                model=MODEL, prompt=prompt, max_tokens=max_tokens, temperature=0, stream=True,
                stream_options={"include_usage": True})
            async for chunk in stream:
                for c in chunk.choices:
                    text += c.text
                    reasons.append(c.finish_reason)
                usage = chunk.usage or usage
        else:
            stream = await aclient.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens, temperature=0,
                stream=True, stream_options={"include_usage": True})
            async for chunk in stream:
                for c in chunk.choices:
                    text += c.delta.content or ""
                    reasons.append(c.finish_reason)
                usage = chunk.usage or usage
        return (kind, prompt), text, reasons[-1], usage

    async def watch_running(stop: asyncio.Event) -> float:
        peak = 0.0
        async with httpx.AsyncClient(timeout=10) as http:
            while not stop.is_set():
                values = parse_metrics((await http.get(server.url + "/metrics")).text)
                peak = max(peak, values.get("tessera_num_requests_running", 0))
                await asyncio.sleep(0.02)
        return peak

    async def main():
        stop = asyncio.Event()
        watcher = asyncio.create_task(watch_running(stop))
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=120) as ac:
            results = await asyncio.gather(*(one(ac, i) for i in range(clients)))
        stop.set()
        return results, await watcher

    started = time.monotonic()
    results, peak = asyncio.run(main())
    elapsed = time.monotonic() - started
    assert len(results) == clients
    mismatches = []
    for key, text, reason, usage in results:
        ref = references[key]
        if text != ref["text"] or reason != ref["finish_reason"]:
            mismatches.append((key, text, reason, ref["text"], ref["finish_reason"]))
        assert usage.prompt_tokens == len(ref["prompt_ids"])
        assert usage.completion_tokens == len(ref["ids"])
    assert not mismatches, "concurrent greedy outputs differ from single-request ones:\n" + "\n".join(map(repr, mismatches))
    assert peak >= 4, f"at most {peak} requests ran at once ({elapsed:.1f} s): were they batched?"
    wait_until_idle(server, timeout=10)


# ----------------------------------------------------------------------------- 4. bad input


def post(server: Server, path: str, body, **kwargs) -> httpx.Response:
    if isinstance(body, (dict, list)):
        kwargs["json"] = body
    else:
        kwargs["content"] = body
        kwargs.setdefault("headers", {"Content-Type": "application/json"})
    return httpx.post(server.base_url + path, timeout=60, **kwargs)


def completion(**fields) -> dict:
    return {"model": MODEL, "prompt": "Hello", "max_tokens": 2, **fields}


def chat(**fields) -> dict:
    return {"model": MODEL, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 2, **fields}


BAD_COMPLETIONS = [
    ("malformed JSON", '{"model": "x", "prompt": ', None, None),
    ("not an object", "[1, 2, 3]", None, None),
    ("empty body", "", None, None),
    ("missing model", {"prompt": "Hello"}, "model", None),
    ("unknown model", completion(model="gpt-4o"), "model", "model_not_found"),
    ("max_tokens string", completion(max_tokens="ten"), "max_tokens", None),
    ("n fraction", completion(n=1.5), "n", None),
    ("max_tokens fraction", completion(max_tokens=2.5), "max_tokens", None),
    ("temperature string", completion(temperature="hot"), "temperature", None),
    ("prompt number", completion(prompt=5), "prompt", None),
    ("stream string", completion(stream="yes"), "stream", None),
    ("stop number", completion(stop=5), "stop", None),
    ("empty prompt", completion(prompt=""), "prompt", None),
    ("temperature high", completion(temperature=2.5), "temperature", None),
    ("temperature negative", completion(temperature=-0.1), "temperature", None),
    ("top_p zero", completion(top_p=0), "top_p", None),
    ("top_p high", completion(top_p=1.01), "top_p", None),
    ("n zero", completion(n=0), "n", None),
    ("n large", completion(n=17), "n", None),
    ("max_tokens zero", completion(max_tokens=0), "max_tokens", None),
    ("logprobs large", completion(logprobs=21), "logprobs", None),
    ("token id out of vocabulary", completion(prompt=[1, 2, 10_000_000]), "prompt", None),
    ("prompt too long", completion(prompt="hello " * 300), "prompt", "context_length_exceeded"),
    ("prompt + max_tokens too long", completion(prompt=[504] * 200, max_tokens=57), "max_tokens",
     "context_length_exceeded"),
]

BAD_CHATS = [
    ("empty messages", chat(messages=[]), "messages", None),
    ("messages string", chat(messages="Hello"), "messages", None),
    ("missing messages", {"model": MODEL}, "messages", None),
    ("content missing", chat(messages=[{"role": "user"}]), "messages[0].content", None),
    ("content number", chat(messages=[{"role": "user", "content": 5}]), "messages[0].content", None),
    ("bad role", chat(messages=[{"role": "user", "content": "a"}, {"role": "robot", "content": "b"}]),
     "messages[1].role", None),
    ("unknown model", chat(model="nope"), "model", "model_not_found"),
    ("top_p high", chat(top_p=1.5), "top_p", None),
    ("n large", chat(n=100), "n", None),
    ("temperature high", chat(temperature=3), "temperature", None),
    ("top_logprobs large", chat(logprobs=True, top_logprobs=50), "top_logprobs", None),
    ("conversation too long", chat(messages=[{"role": "user", "content": "hello " * 300}]), "messages",
     "context_length_exceeded"),
    ("max_tokens too long", chat(max_tokens=250), "max_tokens", "context_length_exceeded"),
]


@pytest.mark.parametrize("name,body,param,code", BAD_COMPLETIONS, ids=[c[0] for c in BAD_COMPLETIONS])
def test_bad_completion_request(server, name, body, param, code):
    assert_error(post(server, "/completions", body), 400, param, code=code)


@pytest.mark.parametrize("name,body,param,code", BAD_CHATS, ids=[c[0] for c in BAD_CHATS])
def test_bad_chat_request(server, name, body, param, code):
    assert_error(post(server, "/chat/completions", body), 400, param, code=code)


def test_bad_requests_through_the_client(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.completions.create(model="no-such-model", prompt="Hi", max_tokens=2)
    assert info.value.status_code == 400 and info.value.body["param"] == "model"
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=MODEL, messages=[], max_tokens=2)
    assert info.value.body["param"] == "messages"


def test_context_length_boundary(client):
    """The longest prompt is max-model-len - 1 tokens (one token of room); one more is refused."""
    ok = client.completions.create(model=MODEL, prompt=[504] * (MAX_MODEL_LEN - 1), max_tokens=1, temperature=0)
    assert ok.usage.prompt_tokens == MAX_MODEL_LEN - 1 and ok.usage.completion_tokens == 1
    with pytest.raises(openai.BadRequestError) as info:
        client.completions.create(model=MODEL, prompt=[504] * MAX_MODEL_LEN, max_tokens=1)
    assert info.value.body["code"] == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError) as info:
        client.completions.create(model=MODEL, prompt=[504] * (MAX_MODEL_LEN - 10), max_tokens=11)
    assert info.value.body["param"] == "max_tokens"


def test_body_too_large(server):
    big = completion(prompt="x" * (MAX_BODY_BYTES + 1000))
    assert_error(post(server, "/completions", big), 413, None, code="body_too_large")

    # Without a Content-Length (chunked), the limit holds while reading.
    data = json.dumps(big).encode()

    def chunks():
        for i in range(0, len(data), 8192):
            yield data[i:i + 8192]

    response = httpx.post(server.base_url + "/completions", content=chunks(),
                          headers={"Content-Type": "application/json"}, timeout=60)
    assert "content-length" not in response.request.headers
    assert_error(response, 413, None, code="body_too_large")


def test_unknown_route_and_method(server):
    assert httpx.get(server.base_url + "/nothing-here", timeout=10).status_code == 404
    assert httpx.get(server.base_url + "/completions", timeout=10).status_code in (404, 405)


def test_still_serving_after_bad_requests(server, client, references):
    """Bad requests leave the server healthy, idle and answering correctly; they are counted."""
    counter = 'tessera_http_responses_total{endpoint="/v1/completions",status="400"}'
    before = server.metrics().get(counter, 0)
    for _, body, param, code in BAD_COMPLETIONS:
        assert post(server, "/completions", body).status_code == 400
    assert httpx.get(server.url + "/health", timeout=10).status_code == 200
    prompt, max_tokens = COMPLETION_PROMPTS[0]
    response = client.completions.create(model=MODEL, prompt=prompt, max_tokens=max_tokens, temperature=0)
    assert response.choices[0].text == references[("completion", prompt)]["text"]
    values = wait_until_idle(server, timeout=10)
    assert values["tessera_http_requests_in_flight"] == 0
    assert values[counter] == before + len(BAD_COMPLETIONS)


# ----------------------------------------------------------------------------- 7. auth


def test_auth(tight):
    url = tight.base_url + "/models"
    assert_error(httpx.get(url, timeout=10), 401, None, type_="authentication_error")
    assert_error(httpx.get(url, headers=auth("wrong-key"), timeout=10), 401, None, type_="authentication_error")
    assert_error(httpx.get(url, headers={"Authorization": API_KEY}, timeout=10), 401, None,
                 type_="authentication_error")  # no "Bearer"
    assert_error(httpx.post(tight.base_url + "/completions", json=completion(), timeout=10), 401, None,
                 type_="authentication_error")
    assert httpx.get(url, headers=auth(), timeout=10).status_code == 200
    # Health and metrics are for probes and scrapers: no key.
    assert httpx.get(tight.url + "/health", timeout=10).status_code == 200
    assert httpx.get(tight.url + "/metrics", timeout=10).status_code == 200

    with pytest.raises(openai.AuthenticationError):
        tight.client(api_key="wrong-key").models.list()
    good = tight.client(api_key=API_KEY)
    assert [m.id for m in good.models.list().data] == [MODEL]
    response = good.completions.create(model=MODEL, prompt="Hello", max_tokens=3, temperature=0)
    assert response.usage.completion_tokens == 3
    chat_response = good.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}],
                                                 max_tokens=3, temperature=0)
    assert chat_response.usage.completion_tokens >= 1


# ----------------------------------------------------------------------------- 5. queue limit


def test_queue_full_gets_429_at_once(tight):
    """--max-num-seqs 1 --max-queue 0: while one request runs, the next is refused at once."""
    body = completion(prompt="Count from one to one hundred:", max_tokens=150, temperature=0, ignore_eos=True,
                      stream=True, stream_options={"include_usage": True})
    with httpx.Client(timeout=120, headers=auth()) as http:
        with http.stream("POST", tight.base_url + "/completions", json=body) as first:
            assert first.status_code == 200
            lines = first.iter_lines()
            for line in lines:  # wait for the first token: the request is running
                if line.startswith("data: "):
                    break
            started = time.monotonic()
            refused = httpx.post(tight.base_url + "/completions", json=completion(max_tokens=1), headers=auth(),
                                 timeout=30)
            assert time.monotonic() - started < 2, "the 429 should come at once, not after waiting"
            error = assert_error(refused, 429, None, type_="rate_limit_error", code="queue_full")
            assert refused.headers.get("retry-after") == "1"
            assert "capacity" in error["message"]
            # The openai client sees a RateLimitError (no retries here).
            with pytest.raises(openai.RateLimitError):
                tight.client(api_key=API_KEY).chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=1)
            assert tight.metrics()["tessera_num_requests_running"] == 1
            payloads = sse_payloads(lines)
        assert payloads[-1] == "[DONE]"
        chunks = [json.loads(p) for p in payloads[:-1]]
        assert chunks[-1]["usage"]["completion_tokens"] == 150
        assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "length"

    # The first one is over: a new request gets in.
    again = tight.client(api_key=API_KEY).completions.create(model=MODEL, prompt="Hello", max_tokens=2, temperature=0)
    assert again.usage.completion_tokens == 2


# ----------------------------------------------------------------------------- 6. disconnects


def raw_request(server: Server, path: str, body: dict, headers: dict[str, str]) -> socket.socket:
    data = json.dumps(body).encode()
    head = [f"POST /v1{path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}", "Content-Type: application/json",
            f"Content-Length: {len(data)}"] + [f"{k}: {v}" for k, v in headers.items()]
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + data)
    return sock


@pytest.mark.parametrize("endpoint", ["/completions", "/chat/completions"])
def test_stream_disconnect_aborts(tight, endpoint):
    """A client that leaves mid-stream has its request aborted and its KV blocks freed at once
    (4000 tokens would take about a minute)."""
    before = tight.metrics().get(ABORTED, 0)
    fields = dict(max_tokens=4000, temperature=0, ignore_eos=True, stream=True)
    body = completion(**fields) if endpoint == "/completions" else chat(**fields)
    sock = raw_request(tight, endpoint, body, auth())
    received = b""
    while received.count(b"data: ") < 4:
        data = sock.recv(65536)
        assert data, received
        received += data
    assert received.startswith(b"HTTP/1.1 200"), received[:200]
    busy = tight.metrics()
    assert busy["tessera_num_requests_running"] == 1 and busy["tessera_kv_cache_blocks_used"] > 0, busy
    sock.close()
    closed = time.monotonic()

    values = wait_until_idle(tight, timeout=10)
    assert values.get(ABORTED, 0) == before + 1
    assert values["tessera_http_requests_in_flight"] == 0
    assert time.monotonic() - closed < 10
    # Its admission was given back: with one slot and no queue, this would be a 429 otherwise.
    after = tight.client(api_key=API_KEY).completions.create(model=MODEL, prompt="Hello", max_tokens=2)
    assert after.usage.completion_tokens == 2


def test_non_streaming_client_timeout_aborts(tight):
    before = tight.metrics().get(ABORTED, 0)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(tight.base_url + "/completions", headers=auth(),
                   json=completion(max_tokens=4000, temperature=0, ignore_eos=True),
                   timeout=httpx.Timeout(30, read=1.5))
    values = wait_until_idle(tight, timeout=10)
    assert values.get(ABORTED, 0) == before + 1

    # Through the openai client too (its timeout closes the connection).
    with pytest.raises(openai.APITimeoutError):
        tight.client(api_key=API_KEY, timeout=1.5).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=4000, extra_body={"ignore_eos": True})
    values = wait_until_idle(tight, timeout=10)
    assert values.get(ABORTED, 0) == before + 2
    after = tight.client(api_key=API_KEY).completions.create(model=MODEL, prompt="Hello", max_tokens=2)
    assert after.usage.completion_tokens == 2


# ----------------------------------------------------------------------------- 8. graceful shutdown


def refused_after_sigterm(server: Server, timeout: float = 10) -> None:
    """Waits for /health to stop answering 200, then checks a new request is refused."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            status = httpx.get(server.url + "/health", timeout=5).status_code
        except httpx.TransportError:
            status = None
        if status != 200:
            break
        assert time.monotonic() < deadline, "still healthy after SIGTERM"
        time.sleep(0.02)
    try:
        response = httpx.post(server.base_url + "/completions", json=completion(model=server.name), timeout=10)
    except httpx.TransportError:
        return  # connection refused or closed: refused
    assert_error(response, 503, None, type_="server_error", code="shutting_down")


def stream_through_sigterm(srv: Server, body: dict) -> tuple[list[str], float, float]:
    """Starts a stream, SIGTERMs the server after its second event, checks new requests are
    refused, and reads the stream to its end. Returns the stream's payloads, the time of the
    signal and the time the stream ended (monotonic)."""
    with httpx.stream("POST", srv.base_url + "/completions", json=body, timeout=120) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        seen = 0
        for line in lines:
            seen += line.startswith("data: ")
            if seen == 2:
                break
        srv.terminate()
        signalled = time.monotonic()
        refused_after_sigterm(srv)
        payloads = sse_payloads(lines)
        return payloads, signalled, time.monotonic()


def test_sigterm_lets_a_short_stream_finish():
    """SIGTERM with a stream that ends within --shutdown-timeout: it ends normally, new requests
    are refused meanwhile, and the process exits 0 as soon as it is done (not after the timeout)."""
    srv = Server("--shutdown-timeout", "120", "--served-model-name", "tiny-smollm", "--kv-cache-memory", "128MiB",
                 "--max-model-len", "512")
    try:
        assert srv.name == "tiny-smollm"
        assert [m.id for m in srv.client().models.list().data] == ["tiny-smollm"]
        body = completion(model="tiny-smollm", prompt="Tell me a story.", max_tokens=60, temperature=0,
                          ignore_eos=True, stream=True, stream_options={"include_usage": True})
        payloads, signalled, ended = stream_through_sigterm(srv, body)
        assert payloads[-1] == "[DONE]"
        chunks = [json.loads(p) for p in payloads[:-1]]
        assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "length"
        assert chunks[-1]["usage"]["completion_tokens"] == 60
        # Nothing is left in flight, so it exits now, not when the 120 s timeout runs out.
        code = srv.wait(20)
        assert code == 0, srv.log_tail()
        assert time.monotonic() - ended < 20 and time.monotonic() - signalled < 120
    finally:
        srv.kill()


def test_sigterm_aborts_a_long_stream_after_the_timeout():
    """SIGTERM with a stream far longer than --shutdown-timeout: it runs on for that long, then ends
    with a finish_reason and [DONE], and the process exits 0."""
    timeout = 2.0
    srv = Server("--shutdown-timeout", str(timeout), "--kv-cache-memory", "128MiB", "--max-model-len", "2048")
    try:
        body = completion(prompt="Tell me a story.", max_tokens=2000, temperature=0, ignore_eos=True, stream=True)
        payloads, signalled, ended_at = stream_through_sigterm(srv, body)
        ended = ended_at - signalled
        assert payloads[-1] == "[DONE]"
        chunks = [json.loads(p) for p in payloads[:-1]]
        reasons = [c["choices"][0]["finish_reason"] for c in chunks if c.get("choices")]
        assert all(r is None for r in reasons[:-1])
        assert reasons[-1] in ("abort", "length", "stop"), reasons[-1]
        tokens = len(chunks)
        assert 2 < tokens < 2000
        assert timeout - 0.5 <= ended <= timeout + 10, f"the stream ended {ended:.1f} s after SIGTERM"
        code = srv.wait(timeout + 20)
        assert code == 0, srv.log_tail()
    finally:
        srv.kill()
