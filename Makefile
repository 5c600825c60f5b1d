# ferrosock: `make help` lists the targets. Everything a fresh machine needs is installed here.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.ferrosock-deps
SOURCES := $(shell find src -name '*.rs') Cargo.toml Cargo.lock pyproject.toml

.PHONY: help
help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "maturin==1.16.0"
	$(PIP) install --quiet -r <($(PY) -c "import tomllib; d = tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']; print('\n'.join(d['test'] + d['dev']))")
	touch $@

.PHONY: venv
venv: $(STAMP) ## Create .venv with the pinned test and dev tools

$(VENV)/.ferrosock-built: $(STAMP) $(SOURCES)
	VIRTUAL_ENV=$(CURDIR)/$(VENV) PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/maturin develop --release --quiet
	touch $@

.PHONY: build
build: $(VENV)/.ferrosock-built ## Build the extension (release) into .venv

.PHONY: wheels
wheels: $(STAMP) ## Build release wheels (one per CPython 3.9+ found, see tools/pythons.py) and an sdist into dist/
	@pythons="$$($(PY) tools/pythons.py)" || exit 1; \
	for py in $$pythons; do \
	  echo "== wheel for $$py"; \
	  $(VENV)/bin/maturin build --release --quiet --interpreter "$$py" --out dist || exit 1; \
	done
	$(VENV)/bin/maturin sdist --out dist
	@ls -l dist

.PHONY: system-deps
system-deps: ## Install the non-Python peers the tests use (socat, nc, openssl), where allowed
	@{ command -v socat && command -v nc && command -v openssl; } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq socat netcat-openbsd openssl >/dev/null) \
	      || echo "warning: could not install socat/nc/openssl; tests that need them will skip"; \
	  else echo "warning: socat/nc/openssl not installed and not root; tests that need them will skip"; fi; }

.PHONY: demo
demo: build ## Set up and run the side-by-side demo (every lesson, std vs rust)
	$(PY) -m ferrosock demo

.PHONY: test
test: build system-deps ## Set up and run every test (cargo test, then pytest)
	cargo test --quiet
	$(PY) -m pytest

# SKIP=3.11 / ONLY=3.9,3.13 choose versions; SDIST=3.X (default: the newest tested; none)
# is the one that also installs the sdist with pip, compiling it (tests/test_sdist.py);
# PYTEST="-x -k tls" passes arguments to each pytest run (default -q).
SDIST ?= newest
PYTEST ?= -q
.PHONY: test-pythons
test-pythons: venv system-deps ## Build and run the full pytest suite on every CPython 3.9+ found (.venvs/3.X, target/py3.X)
	$(PY) tools/test_pythons.py --skip "$(SKIP)" --only "$(ONLY)" --sdist "$(SDIST)" -- $(PYTEST)

.PHONY: bench
bench: build ## Run the benchmarks
	$(PY) -m ferrosock.bench

.PHONY: lint
lint: build ## cargo fmt/clippy, ruff, stubtest
	cargo fmt --check
	cargo clippy --all-targets --quiet -- -D warnings
	$(VENV)/bin/ruff check python tests tools
	$(VENV)/bin/ruff format --check python tests tools
	$(PY) -m mypy.stubtest ferrosock._native

.PHONY: fmt
fmt: venv ## Format Rust and Python sources
	cargo fmt
	$(VENV)/bin/ruff format python tests tools
	$(VENV)/bin/ruff check --fix python tests tools

.PHONY: clean
clean: ## Remove build products and the venv
	cargo clean
	rm -rf $(VENV) dist python/ferrosock/*.so
