PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv run test bench bench-instructions lock clean

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -r requirements.lock
	# compat mode puts the project root on sys.path, so packages added after install
	# (domain/, api/, ...) are importable by the `oms` console script too.
	$(BIN)/python -m pip install --no-deps --config-settings editable_mode=compat -e .
	touch $(STAMP)

run: venv
	$(BIN)/oms serve

test: venv
	$(BIN)/python -m pytest

bench: venv
	@command -v wrk >/dev/null || { echo "make bench drives the API with wrk: installing Debian's package"; \
		apt-get install -y wrk || sudo apt-get install -y wrk; }
	$(BIN)/python -m bench

# Instructions per order in the API process's two hot steps (callgrind): repeatable on a noisy machine.
bench-instructions: venv
	$(BIN)/python -m bench.instructions

# Regenerate the fully pinned lock file (all transitive deps, incl. the test extra).
# Uses pip-tools from the project venv if present, else from PATH.
lock:
	@if [ -x $(BIN)/pip-compile ]; then PIPCOMPILE=$(BIN)/pip-compile; \
	elif command -v pip-compile >/dev/null 2>&1; then PIPCOMPILE=pip-compile; \
	else $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install pip-tools && PIPCOMPILE=$(BIN)/pip-compile; fi; \
	$$PIPCOMPILE --quiet --extra test --strip-extras --no-emit-index-url --no-emit-find-links \
		--output-file requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
