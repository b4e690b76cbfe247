"""Structured outputs (response_format json_object / json_schema) against `tessera serve`, with the
official openai client: every schema of schemas/*.json gives output that parses and validates with
`jsonschema` (unless cut by max_tokens), on SmolLM2 and on the random-weight tiny-llama; streaming
works under a constraint; each unsupported keyword is refused with a 400 naming it."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import jsonschema
import openai
import pytest

from test_serve import API_KEY, ROOT, Server, assert_error, auth, serving

SCHEMAS = {p.stem: json.loads(p.read_text()) for p in sorted((Path(__file__).parent / "schemas").glob("*.json"))}
TINY = str(ROOT / "Tests" / "Fixtures" / "models" / "tiny-llama")


@pytest.fixture(scope="module", params=["smollm2", "tiny-llama"])
def server(request):
    args = ["--max-model-len", "512", "--kv-cache-memory", "256MiB", "--api-key", API_KEY]
    if request.param == "tiny-llama":
        args += ["--model", TINY]
    with serving(*args) as instance:
        yield instance


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return server.client(api_key=API_KEY)


def json_schema_format(name: str, schema: dict) -> dict:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def test_corpus_is_large_enough():
    assert len(SCHEMAS) >= 20


def chat(client: openai.OpenAI, server: Server, name: str, schema: dict, **extra):
    return client.chat.completions.create(
        model=server.name, max_tokens=160, temperature=0,
        messages=[{"role": "user", "content": f"Give me an example of {name.replace('_', ' ')} as JSON."}],
        response_format=json_schema_format(name, schema), **extra)


def test_every_schema_validates_on_chat_and_completions(server, client):
    def run(item):
        name, schema = item
        chat_choice = chat(client, server, name, schema).choices[0]
        completion_choice = client.completions.create(
            model=server.name, prompt=f"JSON for {name}:", max_tokens=160, temperature=0.8, seed=7,
            extra_body={"response_format": json_schema_format(name, schema)}).choices[0]
        return name, schema, [(chat_choice.message.content, chat_choice.finish_reason),
                              (completion_choice.text, completion_choice.finish_reason)]

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(run, SCHEMAS.items()))
    finished = 0
    for name, schema, outputs in results:
        for text, reason in outputs:
            assert reason in ("stop", "length"), (name, reason)
            if reason == "length":
                continue
            finished += 1
            value = json.loads(text)
            jsonschema.validate(value, schema)
    assert finished >= 2 * len(SCHEMAS) * 3 // 4, f"only {finished} of {2 * len(SCHEMAS)} finished"


def test_json_object_mode_gives_an_object(server, client):
    for prompt in ["Describe a cat as JSON.", "List three colours in a JSON object."]:
        choice = client.chat.completions.create(
            model=server.name, max_tokens=160, temperature=0, messages=[{"role": "user", "content": prompt}],
            response_format={"type": "json_object"}).choices[0]
        if choice.finish_reason == "stop":
            assert isinstance(json.loads(choice.message.content), dict), choice.message.content
    choice = client.completions.create(model=server.name, prompt="{", max_tokens=100, temperature=0,
                                       extra_body={"response_format": {"type": "json_object"}}).choices[0]
    if choice.finish_reason == "stop":
        assert isinstance(json.loads(choice.text), dict)


def test_streaming_with_a_constraint(server, client):
    schema = SCHEMAS["person"]
    chunks = list(chat(client, server, "person", schema, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    reasons = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert reasons in (["stop"], ["length"])
    if reasons == ["stop"]:
        jsonschema.validate(json.loads(text), schema)
        # Streaming gives what the non-streaming request gives.
        assert text == chat(client, server, "person", schema).choices[0].message.content


REFUSED_KEYWORDS = {
    "pattern": {"type": "string", "pattern": "^a"},
    "format": {"type": "string", "format": "date"},
    "minLength": {"type": "string", "minLength": 2},
    "maxLength": {"type": "string", "maxLength": 2},
    "minimum": {"type": "integer", "minimum": 0},
    "maximum": {"type": "integer", "maximum": 9},
    "exclusiveMinimum": {"type": "number", "exclusiveMinimum": 0},
    "multipleOf": {"type": "integer", "multipleOf": 2},
    "patternProperties": {"type": "object", "patternProperties": {"^x": {}}},
    "allOf": {"allOf": [{"type": "string"}]},
    "not": {"not": {"type": "string"}},
    "if": {"if": {"type": "string"}, "then": {"type": "string"}},
    "prefixItems": {"type": "array", "prefixItems": [{"type": "string"}]},
    "uniqueItems": {"type": "array", "uniqueItems": True},
    "minProperties": {"type": "object", "minProperties": 1},
}


@pytest.mark.parametrize("keyword", sorted(REFUSED_KEYWORDS))
def test_unsupported_keywords_are_refused_by_name(server, keyword):
    schema = {"type": "object", "properties": {"field": REFUSED_KEYWORDS[keyword]}, "required": ["field"]}
    for path, body in [
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}),
        ("/v1/completions", {"prompt": "hi"}),
    ]:
        response = httpx.post(server.url + path, headers=auth(), timeout=60, json={
            "model": server.name, "max_tokens": 4, **body, "response_format": json_schema_format("x", schema)})
        error = assert_error(response, 400, "response_format.json_schema.schema")
        assert f"'{keyword}'" in error["error"]["message"] if "error" in error else f"'{keyword}'" in error["message"]


def test_bad_response_formats_are_named(server):
    for response_format, param in [
        ({"type": "xml"}, "response_format.type"),
        ({"type": "json_schema"}, "response_format.json_schema"),
        ({"type": "json_schema", "json_schema": {"name": "x"}}, "response_format.json_schema.schema"),
        ({"type": "json_schema", "json_schema": {"name": "x", "schema": {"$ref": "http://example.com/s"}}},
         "response_format.json_schema.schema"),
    ]:
        response = httpx.post(server.url + "/v1/chat/completions", headers=auth(), timeout=60, json={
            "model": server.name, "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}],
            "response_format": response_format})
        assert_error(response, 400, param)
