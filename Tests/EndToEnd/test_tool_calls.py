"""Tool calls against `tessera serve` with the official openai client, on SmolLM2 and on the
random-weight tiny-qwen2 (whose free output is garbage, so only the constraint can make a call):
tool_choice required and named always give calls whose arguments validate (python jsonschema);
streamed deltas assemble into the non-streamed result for the same seed; parallel_tool_calls
bounds the number of calls; tool turns of a follow-up request reach the prompt; `none` and `auto`
on garbage give plain content; every refusal is a 400 naming its field."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import jsonschema
import pytest

from test_serve import API_KEY, ROOT, assert_error, auth, serving

TINY = str(ROOT / "Tests" / "Fixtures" / "models" / "tiny-qwen2")

# Enums, integers and numbers: a random-weight model cannot wander off in a string until
# max_tokens, so every forced call finishes. Short: tiny-qwen2 has 512 positions and its
# 1000-token vocabulary spends about one token per two characters of the tools' prompt.
TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {
            "city": {"enum": ["Paris", "Oslo"]}, "days": {"type": "integer"}}, "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "add",
        "parameters": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "integer"}},
                       "required": ["a", "b"]}}},
]
SCHEMAS = {tool["function"]["name"]: tool["function"]["parameters"] for tool in TOOLS}
MESSAGES = [{"role": "user", "content": "Weather in Paris? And 2 + 3?"}]
MAX_MAX_CALLS = 8  # JSONSchemaGrammar.maxParallelCalls


@pytest.fixture(scope="module", params=["smollm2", "tiny-qwen2"])
def server(request):
    args = ["--kv-cache-memory", "256MiB", "--api-key", API_KEY]
    if request.param == "tiny-qwen2":
        args += ["--model", TINY, "--max-model-len", "512"]  # its max_position_embeddings
    else:
        args += ["--max-model-len", "1024"]
    with serving(*args) as instance:
        yield instance


@pytest.fixture(scope="module")
def client(server):
    return server.client(api_key=API_KEY)


def ask(client, server, **extra):
    if not server.name.startswith("tiny"):
        extra.setdefault("max_tokens", 300)  # tiny-qwen2: all the context leaves (the default)
    return client.chat.completions.create(model=server.name, messages=MESSAGES, tools=TOOLS, **extra)


def check_calls(message, parallel: bool) -> list[tuple[str, dict]]:
    """The message's calls as (name, arguments), each validated against its tool's schema."""
    assert message.tool_calls, message
    assert 1 <= len(message.tool_calls) <= (MAX_MAX_CALLS if parallel else 1), message.tool_calls
    calls = []
    ids = set()
    for call in message.tool_calls:
        assert call.type == "function"
        assert call.id.startswith("call_") and len(call.id) > 10 and call.id not in ids, call.id
        ids.add(call.id)
        arguments = json.loads(call.function.arguments)
        jsonschema.validate(arguments, SCHEMAS[call.function.name])
        calls.append((call.function.name, arguments))
    return calls


def test_required_and_named_choices_always_call(server, client):
    runs = []
    for choice in ["required", {"type": "function", "function": {"name": "add"}},
                   {"type": "function", "function": {"name": "get_weather"}}]:
        for temperature, seed in [(0, 0), (1, 1), (1, 2)]:
            runs.append((choice, temperature, seed))

    def run(item):
        choice, temperature, seed = item
        return item, ask(client, server, tool_choice=choice, temperature=temperature, seed=seed,
                         parallel_tool_calls=False).choices[0]

    with ThreadPoolExecutor(9) as pool:
        results = list(pool.map(run, runs))
    for (choice, temperature, seed), answer in results:
        assert answer.finish_reason == "tool_calls", (choice, seed, answer)
        assert answer.message.content is None, answer.message
        calls = check_calls(answer.message, parallel=False)
        if isinstance(choice, dict):
            assert calls[0][0] == choice["function"]["name"]


def assemble(stream) -> tuple[str | None, list[tuple[str, str]], str, list]:
    """Content, calls (name, arguments) and finish reason from streamed chunks, as the openai
    client's users assemble them; checks each call's first delta carries id, type and name."""
    content, calls, finish, starts = "", {}, None, []
    for chunk in stream:
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        delta = choice.delta
        content += delta.content or ""
        for piece in delta.tool_calls or []:
            if piece.index not in calls:
                assert piece.id and piece.id.startswith("call_") and piece.type == "function", piece
                assert piece.function.name and piece.function.arguments == "", piece
                calls[piece.index] = [piece.function.name, ""]
                starts.append(piece.id)
            else:
                assert piece.id is None and piece.function.name is None, piece
                calls[piece.index][1] += piece.function.arguments or ""
        if choice.finish_reason:
            assert finish is None
            finish = choice.finish_reason
    assert sorted(calls) == list(range(len(calls)))
    return content or None, [tuple(calls[i]) for i in sorted(calls)], finish, starts


@pytest.mark.parametrize("parallel", [False, True])
def test_streamed_deltas_assemble_into_the_non_streamed_answer(server, client, parallel):
    for seed in (5,):
        kwargs = dict(tool_choice="required", temperature=0.9, seed=seed, parallel_tool_calls=parallel)
        whole = ask(client, server, **kwargs).choices[0]
        content, calls, finish, _ = assemble(ask(client, server, stream=True, **kwargs))
        assert finish == whole.finish_reason
        assert content == whole.message.content
        if whole.finish_reason == "length":
            # Parallel calls of the random model may run into max_tokens: the whole calls before
            # the cut are still calls.
            assert parallel, whole
        else:
            assert finish == "tool_calls" and content is None
        check_calls(whole.message, parallel)
        assert calls == [(c.function.name, c.function.arguments) for c in whole.message.tool_calls]


def test_parallel_tool_calls(server, client):
    counts = []
    for seed in range(2):
        answer = ask(client, server, tool_choice="required", temperature=1, seed=seed).choices[0]
        assert answer.finish_reason in ("tool_calls", "length"), answer
        counts.append(len(check_calls(answer.message, parallel=True)))
        single = ask(client, server, tool_choice="required", temperature=1, seed=seed, parallel_tool_calls=False)
        assert len(check_calls(single.choices[0].message, parallel=False)) == 1
    assert all(1 <= n <= MAX_MAX_CALLS for n in counts), counts


def test_auto_and_none(server, client):
    # none: the tools are shown but nothing is read as a call.
    answer = ask(client, server, tool_choice="none", temperature=0, max_tokens=40).choices[0]
    assert answer.message.tool_calls is None
    assert answer.finish_reason in ("stop", "length")
    # auto: calls when the output holds them, else plain content (the random model's garbage).
    for seed in range(3):
        answer = ask(client, server, tool_choice="auto", temperature=1, seed=seed, max_tokens=60).choices[0]
        if answer.message.tool_calls:
            assert answer.finish_reason == "tool_calls"
            check_calls(answer.message, parallel=True)
        else:
            assert answer.finish_reason in ("stop", "length")
            assert answer.message.content or answer.finish_reason == "stop"
        if server.name.startswith("tiny"):
            assert answer.message.tool_calls is None and answer.message.content, answer


def rendered(server, body: dict) -> str:
    response = httpx.post(server.url + "/tokenize", headers=auth(), timeout=60, json=body)
    assert response.status_code == 200, response.text
    tokens = response.json()["tokens"]
    response = httpx.post(server.url + "/detokenize", headers=auth(), timeout=60, json={"tokens": tokens})
    assert response.status_code == 200, response.text
    return response.json()["prompt"]


def test_tool_turns_of_a_follow_up_request_reach_the_prompt(server, client):
    first = ask(client, server, tool_choice={"type": "function", "function": {"name": "get_weather"}},
                temperature=0).choices[0]
    call = first.message.tool_calls[0]
    history = MESSAGES + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call.id, "type": "function", "function": {"name": call.function.name, "arguments": call.function.arguments}}]},
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 degrees"},
    ]
    prompt = rendered(server, {"model": server.name, "messages": history, "tools": TOOLS})
    # The served templates ignore tools: Tessera writes them in Hermes form.
    assert "<tools>\n" + json.dumps(TOOLS[0]) + "\n" + json.dumps(TOOLS[1]) + "\n</tools>" in prompt, prompt
    arguments = json.dumps(json.loads(call.function.arguments))
    assert ("<|im_start|>assistant\n<tool_call>\n" + json.dumps({"name": call.function.name})[:-1]
            + ", \"arguments\": " + arguments + "}\n</tool_call><|im_end|>") in prompt, prompt
    assert "<|im_start|>user\n<tool_response>\nsunny, 21 degrees\n</tool_response><|im_end|>" in prompt, prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    follow_up = client.chat.completions.create(model=server.name, messages=history, tools=TOOLS, max_tokens=20,
                                               temperature=0).choices[0]
    assert follow_up.finish_reason in ("stop", "length", "tool_calls")


PATTERNED = {"type": "function", "function": {"name": "find", "parameters": {
    "type": "object", "properties": {"q": {"type": "string", "pattern": "^a"}}}}}
REFUSALS = [
    ({"tools": [{"type": "retrieval"}]}, "tools[0].type"),
    ({"tools": [{"type": "function"}]}, "tools[0].function"),
    ({"tools": [{"type": "function", "function": {"name": "two words"}}]}, "tools[0].function.name"),
    ({"tools": TOOLS + [TOOLS[0]]}, "tools[2].function.name"),
    ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "missing"}}}, "tool_choice.function.name"),
    ({"tools": TOOLS, "tool_choice": "always"}, "tool_choice"),
    ({"tool_choice": "required"}, "tool_choice"),
    ({"tools": [PATTERNED], "tool_choice": "required"}, "tools[0].function.parameters"),
    ({"tools": TOOLS, "tool_choice": "required", "response_format": {"type": "json_object"}}, "response_format"),
    ({"tools": TOOLS, "messages": MESSAGES + [{"role": "assistant", "content": None, "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "add", "arguments": "[1, 2]"}}]}]},
     "messages[1].tool_calls[0].function.arguments"),
    ({"tools": TOOLS, "messages": MESSAGES + [{"role": "tool", "content": "x"}]}, "messages[1].tool_call_id"),
    ({"tools": TOOLS, "messages": MESSAGES + [{"role": "robot", "content": "x"}]}, "messages[1].role"),
]


@pytest.mark.parametrize("fields,param", REFUSALS, ids=[p for _, p in REFUSALS])
def test_refusals_name_their_field(server, fields, param):
    body = {"model": server.name, "messages": MESSAGES, "max_tokens": 4, **fields}
    response = httpx.post(server.url + "/v1/chat/completions", headers=auth(), timeout=60, json=body)
    error = assert_error(response, 400, param)
    if param == "tools[0].function.parameters":
        assert "'pattern'" in error["message"], error
