# make run: set up everything and start the chat UI.  make test: set up, then the whole test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Built wheels (llama-cpp-python compiles for ~5 minutes) are kept outside the repo, one folder per build: named by
# the version and the instruction flags it was compiled with (rag/llama_build.py), so no CPU gets another's wheel.
WHEELS ?= $(HOME)/.cache/rag-news/wheels
INSTALLED := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test test-fast bench docs eval setup models index clean

run: index
	$(BIN)/rag serve

test: models
	$(BIN)/python -m pytest -ra

# The unit tests alone: no model, no browser, no index (under a minute).
test-fast: setup
	$(BIN)/python -m pytest -ra -m "not e2e"

# Speed, memory and quality figures of this machine -> bench/results.json and BENCHMARKS.md (~25 minutes),
# and screenshots of the chat, step by step, from the browser tests -> bench/results/ui/.
bench: index
	RAG_UI_SCREENSHOTS=bench/results/ui $(BIN)/python -m pytest -q tests/e2e/test_ui.py
	$(BIN)/python -m bench.suite

# docs/configuration.md and the README's figures, generated from rag/config.py and bench/results.json.
docs: setup
	$(BIN)/python -m bench.docs

# One quality table across datasets (XQuAD-ar, XQuAD en->ar, ARCD-train) -> bench/results.json `quality.datasets`.
eval: models
	$(BIN)/python -m bench.eval_table

setup: $(INSTALLED)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml rag/llama_build.py | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/python -m rag.llama_build --cache $(WHEELS)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Provision the models and run the reader once in a child process. If the llama.cpp build cannot run on this CPU,
# `rag models` marks it and exits 3; the build steps down (AMX, AVX-512, AVX2, baseline) and is probed again.
models: setup
	$(BIN)/rag models || { test $$? -eq 3 && $(BIN)/python -m rag.llama_build --cache $(WHEELS) && $(MAKE) models; }

index: models
	$(BIN)/rag index

clean:
	rm -rf $(VENV) index/CURRENT index/gen-* index/.gen-*
