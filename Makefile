# Tekcify Auth for Python. `make run` starts a server, `make test` runs everything.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 7001

.PHONY: venv run test lint typecheck pytest bench clean

# The virtualenv is (re)built whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "==> installing tekcify-auth-backend[all,dev] into $(VENV)"
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --progress-bar off -e '.[all,dev]'
	@touch $(STAMP)

venv: $(STAMP)

run: venv
	$(VENV)/bin/tekcify-auth serve --host $(HOST) --port $(PORT)

lint: venv
	$(PY) -m ruff check src tests benchmarks examples
	$(PY) -m mypy --strict src

test: lint pytest

pytest: venv
	scripts/with-services.sh $(PY) -m pytest $(PYTEST_ARGS)

bench: venv
	$(PY) benchmarks/verify.py
	$(PY) benchmarks/guard.py
	scripts/with-services.sh $(PY) benchmarks/server.py
	$(PY) benchmarks/fleet.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
