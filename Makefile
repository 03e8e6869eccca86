# Two entry points: `make demo` and `make test`. Both build .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-random lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# CPU torch first, pinned: anything that pulls torch in later must find it already there.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/promosim demo

# Hypothesis draws the same examples on every run (the `ci` profile of tests/conftest.py),
# so that a failure replays anywhere; `make test-random` draws fresh ones to look for more.
# lint-imports checks the layer contract of pyproject.toml ([tool.importlinter]) first.
test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

test-random: $(STAMP)
	$(BIN)/lint-imports
	HYPOTHESIS_PROFILE=random $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/promosim bench profile

clean:
	rm -rf $(VENV) runs .pytest_cache
