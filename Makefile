# The two set-up commands from the README: `make demo` and `make test`.
# Each creates .venv, installs mdplan with its test extras and the pinned Azurite emulator (npm ci),
# then runs. Only Python 3.11+ and Node.js/npm are needed on the machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test bench setup browser clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version.split()[0]; sys.exit(0 if sys.version_info >= (3, 11) else "mdplan needs Python 3.11 or newer, and $(PYTHON) is " + v + ". Name a newer one, e.g. make demo PYTHON=python3.12")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The report test needs a real browser: Debian's chromium, installed when we are root with apt.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	    else echo "Install Chromium (Debian/Ubuntu: sudo apt-get install chromium) for the report's browser test."; fi; }

demo: setup
	$(BIN)/mdplan demo

test: setup browser
	$(BIN)/lint-imports --no-cache  # the layering contracts in pyproject.toml (ARCHITECTURE.md)
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python -m benchmarks all

clean:
	rm -rf $(VENV) node_modules .pytest_cache .hypothesis
