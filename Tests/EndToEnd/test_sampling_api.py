"""End-to-end tests of the sampling fields, keep-alive and the small endpoints of `tessera serve`,
through the official `openai` client and httpx (the model is the default SmolLM2).

- logit_bias: -100 bans a token (greedy and sampled), +100 forces one.
- presence / frequency penalties: with `logprobs` (which, as vLLM's, are the model's raw ones)
  every greedy pick must be the best of the alternatives once the OpenAI formula is applied to
  the tokens generated before it, and the penalty must change some pick.
- penalties, min_p and logit_bias agree with `tessera generate` given the same flags.
- stop_token_ids, echo.
- keep-alive: generation requests on one httpx client share one connection, counted by the
  server's `tessera_http_connections_total`; a client leaving mid-stream is still aborted.
- /tokenize and /detokenize against `tessera tokenize`; /v1/models/{id}.
- every refused or out-of-range field is named in its 400.
"""

from __future__ import annotations

import json
import subprocess

import httpx
import openai
import pytest

from test_serve import ABORTED, API_KEY, BIN, MODEL, Server, assert_error, auth, raw_request, serving, wait_until_idle

CONNECTIONS = "tessera_http_connections_total"
PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def server():
    with serving("--max-model-len", "512", "--kv-cache-memory", "256MiB", "--api-key", API_KEY) as instance:
        yield instance


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return server.client(api_key=API_KEY)


def post(server: Server, path: str, body: dict, prefix: str = "/v1") -> httpx.Response:
    return httpx.post(server.url + prefix + path, json=body, headers=auth(), timeout=120)


def token_id(server: Server, text: str) -> int:
    ids = post(server, "/tokenize", {"prompt": text, "add_special_tokens": False}, prefix="").json()["tokens"]
    assert len(ids) == 1, (text, ids)
    return ids[0]


def token_text(server: Server, token: int) -> str:
    return post(server, "/detokenize", {"tokens": [token]}, prefix="").json()["prompt"]


def completion_tokens(client: openai.OpenAI, **fields) -> list[list[str]]:
    """Each choice's tokens (as text, from logprobs)."""
    response = client.completions.create(model=MODEL, prompt=PROMPT, logprobs=0, **fields)
    return [choice.logprobs.tokens for choice in response.choices]


# ----------------------------------------------------------------------------- logit_bias


def test_logit_bias_bans_and_forces(server, client):
    greedy = completion_tokens(client, max_tokens=8, temperature=0)[0]
    favourite = token_id(server, greedy[0])
    banned = {"logit_bias": {str(favourite): -100}}
    # Greedy: the first pick is no longer the favourite, nor is any later one.
    tokens = completion_tokens(client, max_tokens=64, temperature=0, extra_body={"ignore_eos": True}, **banned)[0]
    assert len(tokens) == 64 and greedy[0] not in tokens
    # Sampled: 4 choices x 64 tokens, hot.
    for tokens in completion_tokens(client, max_tokens=64, temperature=1.5, n=4, seed=7,
                                    extra_body={"ignore_eos": True}, **banned):
        assert len(tokens) == 64 and greedy[0] not in tokens
    # Its neighbours are unaffected: the same bias on another token leaves the favourite first.
    assert completion_tokens(client, max_tokens=1, temperature=0, logit_bias={str(favourite + 1): -100})[0] == greedy[:1]

    forced_id = token_id(server, " banana")
    for temperature in (0, 1.0):
        response = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=10, temperature=temperature, seed=1,
                                             logit_bias={str(forced_id): 100}, extra_body={"ignore_eos": True})
        assert response.choices[0].text == " banana" * 10
    chat = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=5,
                                          logit_bias={str(forced_id): 100}, extra_body={"ignore_eos": True})
    assert chat.choices[0].message.content == " banana" * 5


# ----------------------------------------------------------------------------- penalties


@pytest.mark.parametrize("field", ["presence_penalty", "frequency_penalty"])
def test_penalty_follows_the_formula(client, field):
    """Greedy with logprobs: each chosen token must beat every listed alternative once
    `presence * (count > 0) + frequency * count` over the tokens before it is taken off their
    (raw) log-probabilities, the formula shifting a logit and its log-probability alike."""
    penalty = 1.5
    messages = [{"role": "user", "content": "Write the word 'hello' many times."}]
    plain = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=40, temperature=0,
                                           extra_body={"ignore_eos": True})
    response = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=40, temperature=0,
                                              logprobs=True, top_logprobs=20, extra_body={"ignore_eos": True},
                                              **{field: penalty})
    content = response.choices[0].logprobs.content
    assert len(content) == 40
    counts: dict[str, int] = {}
    moved = 0
    for entry in content:
        def adjusted(token: str, logprob: float) -> float:
            count = counts.get(token, 0)
            if field == "presence_penalty":
                return logprob - penalty * (count > 0)
            return logprob - penalty * count
        chosen = adjusted(entry.token, entry.logprob)
        for alternative in entry.top_logprobs:
            assert chosen >= adjusted(alternative.token, alternative.logprob) - 1e-3, (entry.token, alternative.token)
        if entry.token != entry.top_logprobs[0].token:
            moved += 1  # the raw favourite lost to the penalty
            assert counts.get(entry.top_logprobs[0].token, 0) > 0
        counts[entry.token] = counts.get(entry.token, 0) + 1
    assert moved > 0
    assert response.choices[0].message.content != plain.choices[0].message.content


def generate_cli(prompt: str, max_tokens: int, *flags: str) -> dict:
    cmd = [BIN, "generate", "--json", "--quiet", "--max-tokens", str(max_tokens), *flags, prompt]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"{cmd} failed:\n{result.stderr}"
    return json.loads(result.stdout.strip().splitlines()[0])


def test_penalties_min_p_and_bias_match_the_cli(server, client):
    """The same fields through the server and through `tessera generate` flags give the same text
    (greedy and seeded), and the repetition penalty changes the greedy text."""
    common = dict(max_tokens=24, extra_body={"ignore_eos": True, "repetition_penalty": 1.3})
    plain = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=24, temperature=0,
                                      extra_body={"ignore_eos": True}).choices[0].text
    served = client.completions.create(model=MODEL, prompt=PROMPT, temperature=0, **common).choices[0].text
    cli = generate_cli(PROMPT, 24, "--ignore-eos", "--repetition-penalty", "1.3")
    assert served == cli["text"]
    assert served != plain

    bias_id = token_id(server, " Paris")
    sampled = client.completions.create(
        model=MODEL, prompt=PROMPT, max_tokens=24, temperature=0.9, seed=11, presence_penalty=0.5,
        frequency_penalty=0.3, logit_bias={str(bias_id): -100},
        extra_body={"ignore_eos": True, "repetition_penalty": 1.1, "min_p": 0.05, "top_k": 40}).choices[0].text
    cli = generate_cli(PROMPT, 24, "--ignore-eos", "--temperature", "0.9", "--seed", "11", "--presence-penalty", "0.5",
                       "--frequency-penalty", "0.3", "--repetition-penalty", "1.1", "--min-p", "0.05", "--top-k", "40",
                       "--logit-bias", f"{bias_id}=-100")
    assert sampled == cli["text"]
    assert " Paris" not in sampled


def test_min_p_one_is_greedy(client):
    """min_p 1 keeps only the likeliest token: a hot sampled run equals the greedy one."""
    greedy = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=20, temperature=0,
                                       extra_body={"ignore_eos": True}).choices[0].text
    for seed in (1, 2):
        hot = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=20, temperature=2, seed=seed,
                                        extra_body={"ignore_eos": True, "min_p": 1}).choices[0].text
        assert hot == greedy


# ----------------------------------------------------------------------------- stop ids, echo


def test_stop_token_ids(server, client):
    tokens = completion_tokens(client, max_tokens=12, temperature=0, extra_body={"ignore_eos": True})[0]
    stop = next(t for t in tokens[2:] if len(post(server, "/tokenize", {"prompt": t, "add_special_tokens": False},
                                                 prefix="").json()["tokens"]) == 1)
    cut = tokens.index(stop)
    for stream in (False, True):
        response = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=12, temperature=0, stream=stream,
                                             extra_body={"ignore_eos": True, "stop_token_ids": [token_id(server, stop)]})
        choices = [c for chunk in response for c in chunk.choices] if stream else response.choices
        assert "".join(c.text for c in choices) == "".join(tokens[:cut])
        assert choices[-1].finish_reason == "stop"
    chat = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=10,
                                          temperature=0, logit_bias={str(token_id(server, " banana")): 100},
                                          extra_body={"stop_token_ids": [token_id(server, " banana")]})
    assert chat.choices[0].finish_reason == "stop" and chat.choices[0].message.content == ""
    assert chat.usage.completion_tokens == 1


def test_echo(client):
    plain = client.completions.create(model=MODEL, prompt=[PROMPT, "Hello"], max_tokens=6, temperature=0)
    echoed = client.completions.create(model=MODEL, prompt=[PROMPT, "Hello"], max_tokens=6, temperature=0, echo=True)
    assert [c.text for c in echoed.choices] == [PROMPT + plain.choices[0].text, "Hello" + plain.choices[1].text]
    streamed: dict[int, str] = {}
    for chunk in client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=6, temperature=0, echo=True,
                                           stream=True):
        for choice in chunk.choices:
            streamed[choice.index] = streamed.get(choice.index, "") + choice.text
    assert streamed == {0: PROMPT + plain.choices[0].text}


# ----------------------------------------------------------------------------- keep-alive


def connections(http: httpx.Client, server: Server) -> float:
    response = http.get(server.url + "/metrics")
    assert response.status_code == 200
    for line in response.text.splitlines():
        if line.startswith(CONNECTIONS + " "):
            return float(line.split()[-1])
    raise AssertionError(f"no {CONNECTIONS} in /metrics")


def test_keep_alive_one_connection_for_many_generations(server):
    """Generation requests (JSON and streamed, both endpoints, through httpx, and JSON ones through
    the openai client over the same httpx client) all go over one connection: the server counts
    no new one."""
    with httpx.Client(headers=auth(), timeout=120) as http:
        before = connections(http, server)
        for stream in (False, True):
            for path, body in [("/completions", {"prompt": PROMPT}),
                               ("/chat/completions", {"messages": [{"role": "user", "content": "Hi"}]})]:
                request = {"model": MODEL, "max_tokens": 4, "stream": stream, **body}
                with http.stream("POST", server.base_url + path, json=request) as response:
                    assert response.status_code == 200
                    assert response.http_version == "HTTP/1.1"
                    assert response.headers.get("connection", "").lower() != "close"
                    response.read()
        sdk = openai.OpenAI(base_url=server.base_url, api_key=API_KEY, http_client=http, max_retries=0)
        for _ in range(3):
            assert sdk.completions.create(model=MODEL, prompt=PROMPT, max_tokens=3).choices[0].text
        assert http.post(server.url + "/tokenize", json={"prompt": "a"}).status_code == 200
        assert connections(http, server) == before
        # The openai client stops reading a stream at `data: [DONE]` and closes the response
        # before the chunked body's last (empty) chunk has been parsed, so httpx cannot reuse
        # that connection: the next request opens one more, whatever the server does.
        assert list(sdk.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}],
                                                max_tokens=3, stream=True))
        assert connections(http, server) == before + 1


def test_disconnect_still_aborts_and_other_connections_live_on(server):
    """A streamed request whose client leaves is aborted and its blocks freed, while a kept-alive
    connection opened before goes on serving."""
    with httpx.Client(headers=auth(), timeout=120) as http:
        assert http.post(server.base_url + "/completions",
                         json={"model": MODEL, "prompt": PROMPT, "max_tokens": 2}).status_code == 200
        before = http.get(server.url + "/metrics").text
        aborted = float(next((l.split()[-1] for l in before.splitlines() if l.startswith(ABORTED)), 0))
        sock = raw_request(server, "/completions", {"model": MODEL, "prompt": PROMPT, "max_tokens": 480,
                                                    "ignore_eos": True, "stream": True}, auth())
        received = b""
        while received.count(b"data: ") < 3:
            data = sock.recv(65536)
            assert data, received
            received += data
        sock.close()
        values = wait_until_idle(server, timeout=10)
        assert values.get(ABORTED, 0) == aborted + 1
        again = http.post(server.base_url + "/completions", json={"model": MODEL, "prompt": PROMPT, "max_tokens": 2})
        assert again.status_code == 200


def test_non_streaming_disconnect_on_a_kept_alive_connection(server):
    """A JSON (non-streamed) generation on a connection that already served a request is still
    aborted when the client gives up."""
    with httpx.Client(headers=auth(), timeout=httpx.Timeout(30, read=1.5)) as http:
        assert http.post(server.base_url + "/completions",
                         json={"model": MODEL, "prompt": PROMPT, "max_tokens": 1}).status_code == 200
        aborted = server.metrics().get(ABORTED, 0)
        with pytest.raises(httpx.ReadTimeout):
            http.post(server.base_url + "/completions",
                      json={"model": MODEL, "prompt": PROMPT, "max_tokens": 480, "ignore_eos": True})
    values = wait_until_idle(server, timeout=10)
    assert values.get(ABORTED, 0) == aborted + 1


# ----------------------------------------------------------------------------- small endpoints


@pytest.mark.parametrize("text", ["Hello world", "The capital of France is Paris.", "naïve café — 東京 🚀"])
def test_tokenize_detokenize_round_trip(server, text):
    cli = subprocess.run([BIN, "tokenize", "--json", text], capture_output=True, text=True, timeout=120,
                         stdin=subprocess.DEVNULL)
    assert cli.returncode == 0, cli.stderr
    ids = json.loads(cli.stdout)["ids"]
    response = post(server, "/tokenize", {"model": MODEL, "prompt": text}, prefix="")
    assert response.status_code == 200, response.text
    assert response.json() == {"count": len(ids), "max_model_len": 512, "tokens": ids}
    back = post(server, "/detokenize", {"model": MODEL, "tokens": ids}, prefix="")
    assert back.json() == {"prompt": text}


def test_tokenize_messages(server, client):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    ids = post(server, "/tokenize", {"messages": messages}, prefix="").json()["tokens"]
    usage = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=1).usage
    assert len(ids) == usage.prompt_tokens
    without = post(server, "/tokenize", {"messages": messages, "add_generation_prompt": False}, prefix="").json()
    assert without["count"] < len(ids) and ids[:without["count"]] == without["tokens"]


def test_tokenize_needs_the_key(server):
    for path, body in [("/tokenize", {"prompt": "a"}), ("/detokenize", {"tokens": [1]})]:
        response = httpx.post(server.url + path, json=body, timeout=30)
        assert_error(response, 401, None, type_="authentication_error")


def test_model_by_id(client):
    model = client.models.retrieve(MODEL)
    assert model.id == MODEL and model.object == "model"
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("gpt-4o")
    assert info.value.body["code"] == "model_not_found"


# ----------------------------------------------------------------------------- refusals


def completion(**fields) -> dict:
    return {"model": MODEL, "prompt": "Hello", "max_tokens": 2, **fields}


def chat(**fields) -> dict:
    return {"model": MODEL, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 2, **fields}


REFUSED = [
    ("/completions", completion(presence_penalty=2.5), "presence_penalty"),
    ("/completions", completion(frequency_penalty=-2.01), "frequency_penalty"),
    ("/completions", completion(repetition_penalty=0), "repetition_penalty"),
    ("/completions", completion(repetition_penalty=-1), "repetition_penalty"),
    ("/completions", completion(min_p=1.2), "min_p"),
    ("/completions", completion(min_p=-0.1), "min_p"),
    ("/completions", completion(logit_bias={"5": 150}), "logit_bias"),
    ("/completions", completion(logit_bias={"10000000": 1}), "logit_bias"),
    ("/completions", completion(logit_bias={"-3": 1}), "logit_bias"),
    ("/completions", completion(logit_bias={"the": 1}), "logit_bias"),
    ("/completions", completion(stop_token_ids=[10_000_000]), "stop_token_ids"),
    ("/completions", completion(stop_token_ids=[-1]), "stop_token_ids"),
    ("/completions", completion(stop_token_ids="2"), "stop_token_ids"),
    ("/completions", completion(echo=True, logprobs=1), "echo"),
    ("/completions", completion(suffix="!"), "suffix"),
    ("/completions", completion(best_of=3), "best_of"),
    ("/chat/completions", chat(presence_penalty=-3), "presence_penalty"),
    ("/chat/completions", chat(logit_bias={"10000000": 1}), "logit_bias"),
    ("/chat/completions", chat(min_p=2), "min_p"),
    ("/chat/completions", chat(tools=[{"type": "retrieval", "function": {"name": "f"}}]), "tools[0].type"),
    ("/chat/completions", chat(response_format={"type": "xml"}), "response_format.type"),
    ("/tokenize", {"prompt": "a", "messages": [{"role": "user", "content": "b"}]}, "messages"),
    ("/tokenize", {}, "prompt"),
    ("/tokenize", {"model": "other", "prompt": "a"}, "model"),
    ("/detokenize", {"tokens": [10_000_000]}, "tokens"),
    ("/detokenize", {}, "tokens"),
]


@pytest.mark.parametrize("path,body,param", REFUSED, ids=[f"{p} {b}" for p, b, _ in REFUSED])
def test_refused_fields_are_named(server, path, body, param):
    prefix = "" if path in ("/tokenize", "/detokenize") else "/v1"
    assert_error(post(server, path, body, prefix=prefix), 400, param)
