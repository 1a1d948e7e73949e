# Two commands do everything on a fresh machine:
#   make run   — set up .venv, build the demo database if missing, start the app on http://localhost:8501
#   make test  — set up .venv with test tools, run the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: run test venv dev-venv seed browser-deps clean-db bench

$(VENV)/.runtime-installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt requirements.txt $(VENV)/.runtime-installed
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.runtime-installed
dev-venv: $(VENV)/.dev-installed

seed: venv
	$(PY) manage.py migrate
	$(PY) manage.py seed-demo --if-missing

run: seed
	$(VENV)/bin/streamlit run server.py --server.port $(PORT)

# Browser tests use Debian's Chromium and CJK fonts (no browser download from the internet).
browser-deps:
	@command -v chromium >/dev/null && fc-list | grep -qi "Noto.*CJK" || \
	  { echo "Installing chromium and fonts-noto-cjk (Debian packages)…"; \
	    apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk; }

# pytest exit 5 means no test was collected: a suite that runs nothing is broken, not green.
# Workers (pytest-xdist): one more than the cores, each taking whole test files (module fixtures such as a
# browser or the scale-out topology are then started once), the longest files first (tests/conftest.py
# LONG_FILES_FIRST; --no-loadscope-reorder keeps that order instead of xdist's most-tests-first). The extra one fills the cores while the others
# wait on a browser, a server or a subprocess: on 2 cores, 10 min 44 s against 11 min 43 s with two.
# TEST_WORKERS=0 runs everything in this process.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
test: dev-venv browser-deps
	@$(PY) -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder tests; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

bench: dev-venv
	$(PY) -m bench --scale demo

clean-db:
	rm -f data/cityops.db data/cityops.db-wal data/cityops.db-shm
