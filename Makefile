# The README's commands. Each builds .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pausegate demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check proxy codecs tests loadtest
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	mkdir -p results
	$(BIN)/python -m loadtest.gate_bench --out results/gate_bench.json
	$(BIN)/python -m loadtest.relay_bench --out results/relay_bench.json
	$(BIN)/python -m loadtest bench --out results/loadtest

clean:
	rm -rf $(VENV) results demo-output
