# The two set-up commands from the README: `make demo` and `make test`.
# Each creates .venv, installs mdplan with its test extras and the pinned Azurite emulator (npm ci),
# then runs. Only Python 3.11+ and Node.js/npm are needed on the machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test bench setup browser drivefs clean

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

# The drive tests loop-mount real exFAT, FAT32 and NTFS images: Debian's tools, installed when we are root
# with apt (FUSE drivers too, for kernels without exfat/vfat/ntfs3). Without them those tests skip and say why.
drivefs:
	@command -v mkfs.exfat >/dev/null 2>&1 && command -v mkfs.vfat >/dev/null 2>&1 && command -v ntfs-3g >/dev/null 2>&1 \
	  && command -v mount.exfat-fuse >/dev/null 2>&1 && command -v fusefat >/dev/null 2>&1 || \
	  { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	        exfatprogs exfat-fuse dosfstools fusefat ntfs-3g >/dev/null; \
	    else echo "For the real file-system tests, as root: apt-get install exfatprogs exfat-fuse dosfstools fusefat ntfs-3g"; fi; }

demo: setup
	$(BIN)/mdplan demo

test: setup browser drivefs
	$(BIN)/lint-imports --no-cache  # the layering contracts in pyproject.toml (ARCHITECTURE.md)
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python -m benchmarks all

clean:
	rm -rf $(VENV) node_modules .pytest_cache .hypothesis
