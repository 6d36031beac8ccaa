# Two entry points: `make demo` (install + train an autoencoder on the embedded digits data and
# write pictures) and `make test` (install + lint + tests). Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The CPU wheel; any other torch spec pulls gigabytes of CUDA packages.
TORCH := torch==2.13.0
DEMO := runs/demo

.PHONY: demo test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[dev,explore]'
	touch $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO)
	$(BIN)/genzoo train ae --data digits --steps 1500 --out $(DEMO)
	$(BIN)/genzoo sample $(DEMO) -n 64 -o $(DEMO)/samples.png
	$(BIN)/genzoo reconstruct $(DEMO) -n 10 -o $(DEMO)/reconstructions.png
	@echo "demo done: see $(DEMO)/samples.png, $(DEMO)/reconstructions.png and $(DEMO)/progress/"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
