# meshui — two commands: `make demo` and `make test` (see README.md).
# Each installs what it needs, once: stamps under .make/ skip a step when nothing changed.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
STAMPS := .make
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages the tests use: the real Prometheus server and Chromium for the browser tests.
TEST_DEBS := prometheus chromium

.PHONY: demo test install install-dev install-debs install-js lint check-python clean

demo: install install-js
	@bash scripts/demo.sh $(PORT)

test: install-dev install-debs install-js
	@bash scripts/test.sh

check-python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "meshui needs Python 3.11 or newer; set PYTHON=python3.11"' 

$(VENV)/bin/python: | check-python
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMPS)/install: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e .
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/install-dev: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[dev]'
	@mkdir -p $(STAMPS) && touch $@ $(STAMPS)/install

install: $(STAMPS)/install
install-dev: $(STAMPS)/install-dev

install-debs:
	@missing=""; for pkg in $(TEST_DEBS); do dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# JS/CSS libraries are pinned in package-lock.json and copied into static/vendor/ with their
# checksums verified by npm; the browser never fetches anything from off the machine.
$(STAMPS)/install-js: package.json package-lock.json scripts/vendor.sh
	npm ci --no-audit --no-fund --loglevel=error
	bash scripts/vendor.sh
	@mkdir -p $(STAMPS) && touch $@

install-js: $(STAMPS)/install-js

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(STAMPS) $(VENV) node_modules static/vendor test-results
