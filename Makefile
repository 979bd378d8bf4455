# Tekcify Auth for Python. `make run` starts a server, `make test` runs everything.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# `make run` has a virtualenv of its own with the server's runtime packages only (no test,
# lint or browser tools): what an operator installs with pip install tekcify-auth-backend[server].
RUN_VENV ?= .venv-run
RUN_STAMP := $(RUN_VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 7001

.PHONY: venv run-venv run test lint typecheck pytest bench clean

# The virtualenv is (re)built whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "==> installing tekcify-auth-backend[all,dev] into $(VENV)"
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --progress-bar off -e '.[all,dev]'
	@touch $(STAMP)

venv: $(STAMP)

$(RUN_STAMP): pyproject.toml
	@test -x $(RUN_VENV)/bin/python || $(PYTHON) -m venv $(RUN_VENV)
	@echo "==> installing tekcify-auth-backend[server] (runtime only) into $(RUN_VENV)"
	$(RUN_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(RUN_VENV)/bin/python -m pip install --quiet --progress-bar off -e '.[server]'
	@touch $(RUN_STAMP)

run-venv: $(RUN_STAMP)

run: run-venv
	$(RUN_VENV)/bin/tekcify-auth serve --host $(HOST) --port $(PORT)

lint: venv
	$(PY) -m ruff check src tests benchmarks examples
	$(PY) -m mypy --strict src

test: lint pytest

# Two pytest-xdist workers, one per core; a test file stays on one worker (--dist loadfile),
# so a module's server starts once. PYTEST_WORKERS=0: one process, no workers.
PYTEST_WORKERS ?= 2

pytest: venv
	scripts/with-services.sh $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

bench: venv
	$(PY) benchmarks/verify.py
	$(PY) benchmarks/guard.py
	scripts/with-services.sh $(PY) benchmarks/server.py
	scripts/with-services.sh $(PY) benchmarks/peers.py
	$(PY) benchmarks/fleet.py
	$(PY) benchmarks/history.py
	$(PY) benchmarks/hotpaths.py
	$(PY) benchmarks/metrics.py

clean:
	rm -rf $(VENV) $(RUN_VENV) .pytest_cache .mypy_cache .ruff_cache
