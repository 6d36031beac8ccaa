# Two entry points: `make demo` (install + the lab: four models trained on the embedded digits data,
# one report in runs/lab/index.html) and `make test` (install + lint + tests). Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The CPU wheel; any other torch spec pulls gigabytes of CUDA packages.
TORCH := torch==2.13.0
DEMO := runs/lab

.PHONY: demo test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[dev,explore,export,notebooks]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/genzoo lab --out $(DEMO)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
