# make run: set up everything and start the chat UI.  make test: set up, then the whole test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Built wheels (llama-cpp-python compiles for ~5 minutes) are kept outside the repo and reused.
WHEELS ?= $(HOME)/.cache/rag-news/wheels
LLAMA := llama-cpp-python==0.3.36
INSTALLED := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test bench eval setup models index clean

run: index
	$(BIN)/rag serve

test: models
	$(BIN)/python -m pytest -ra

# Speed, memory and quality figures of this machine -> bench/results.json and BENCHMARKS.md (~25 minutes),
# and screenshots of the chat, step by step, from the browser tests -> bench/results/ui/.
bench: index
	RAG_UI_SCREENSHOTS=bench/results/ui $(BIN)/python -m pytest -q tests/test_ui.py
	cd bench && ../$(BIN)/python suite.py

# One quality table across datasets (XQuAD-ar, XQuAD en->ar, ARCD-train) -> bench/results.json `quality.datasets`.
eval: models
	cd bench && ../$(BIN)/python eval_table.py

setup: $(INSTALLED)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	ls $(WHEELS)/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1 || $(BIN)/pip wheel --no-deps -w $(WHEELS) $(LLAMA)
	$(BIN)/pip install --quiet --find-links $(WHEELS) -e '.[test]'
	touch $@

models: setup
	$(BIN)/rag models

index: models
	$(BIN)/rag index

clean:
	rm -rf $(VENV) index/CURRENT index/gen-* index/.gen-*
