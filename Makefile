# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# Both create .venv and install the project (editable, with dev tools) on first use, with the
# exact versions the test suite last passed with (constraints.txt): a fresh machine installs
# what was tested, not whatever was released this morning.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
CONSTRAINTS ?= constraints.txt
PIP     = python -m pip install --quiet --progress-bar off
# The newest releases, for `make test-latest` and `make lock` (never used by demo/test/CI).
LATEST ?= .venv-latest

.PHONY: demo test test-all test-latest lock lint setup browser clean

demo: $(STAMP)
	$(BIN)/harness run --detector xception --attack pgd

# PYTEST_ARGS: extra pytest flags (CI adds --durations=15).
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-all: $(STAMP)
	$(BIN)/python -m pytest -m ''

lint: $(STAMP)
	$(BIN)/ruff check .

setup: $(STAMP)

# The headless browser the HTML leaderboard test drives (Debian's chromium; needs root to install).
browser:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y --no-install-recommends chromium)

# Re-installs whenever pyproject.toml or the constraints change.
$(STAMP): pyproject.toml $(CONSTRAINTS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/$(PIP) --upgrade pip -c $(CONSTRAINTS)
	$(BIN)/$(PIP) -c $(CONSTRAINTS) -e '.[dev]'
	$(BIN)/python -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
	@touch $(STAMP)

# The suite against the newest releases of every dependency, in a separate environment: how a
# breaking release is found on purpose, by a person, before a newcomer finds it.
test-latest:
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/$(PIP) --upgrade pip
	$(LATEST)/bin/$(PIP) --upgrade --upgrade-strategy eager -e '.[dev]'
	$(LATEST)/bin/python -m pip freeze --all --exclude-editable > $(LATEST)/freeze.txt
	$(LATEST)/bin/python -m pytest

# Refresh constraints.txt on purpose: run the suite on the newest releases, and only if it
# passes, pin exactly what it passed with. Review and commit the diff.
lock: test-latest
	{ echo "# Exact versions the test suite passed with ('make lock' on $$(date -u +%Y-%m-%d), Python $$($(LATEST)/bin/python -c 'import platform; print(platform.python_version())'))."; \
	  echo "# make demo / make test / CI install with these (pip -c). Refresh: make lock. Newest: make test-latest."; \
	  grep -v '^-e ' $(LATEST)/freeze.txt; } > $(CONSTRAINTS)
	@echo "wrote $(CONSTRAINTS): review 'git diff $(CONSTRAINTS)' and commit it"

clean:
	rm -rf $(VENV) $(LATEST) build *.egg-info .pytest_cache .ruff_cache
