# Every target bootstraps .venv from nothing (python3 + Debian's apt are enough).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export LITELLM_LOCAL_MODEL_COST_MAP := True
export NO_MKDOCS_2_WARNING := 1

.PHONY: demo test bench check lint docs clean

# Installed, router/ policies/ providers/ are crosswalk.router / .policies / .providers (a
# package-dir mapping, see pyproject.toml); import-linter reads packages from the file tree,
# so it checks a copy laid out as installed.
LINTVIEW := $(VENV)/lintview

$(STAMP): pyproject.toml
	@$(PY) -m venv $(VENV) 2>/dev/null || { \
		echo "python3 -m venv failed; installing python3-venv with apt-get"; \
		apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && $(PY) -m venv --clear $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip
	@# the CPU build of torch first (the [local] extra's sentence-transformers would pull a CUDA one);
	@# this machine kind keeps that wheel in /opt/wheels.
	@# --no-compile: byte-compiling torch and transformers took minutes (7 min vs 24 s on a busy
	@# machine); Python compiles what it imports, on first import.
	$(BIN)/python -m pip install -q --no-compile $(if $(wildcard /opt/wheels),--find-links /opt/wheels) 'torch==2.13.0'
	$(BIN)/python -m pip install -q --no-compile -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/crosswalk demo

# Two pytest workers (the machine's two cores): most tests wait on real processes and sockets.
# loadgroup: tests marked with one xdist_group share a worker (the local model loads once).
test: $(STAMP)
	@# redis-server for shared state; chromium and its driver for the operator page's browser test
	@command -v redis-server >/dev/null && command -v openssl >/dev/null && command -v chromedriver >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server openssl chromium chromium-driver >/dev/null; }
	@$(MAKE) --no-print-directory lint
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

bench: $(STAMP)
	@# wrk drives the load; nginx (Debian's, started by tests/perf/test_front_door.py itself on
	@# loopback with its own config, never as the system service) is the C proxy to compare with.
	@command -v wrk >/dev/null && { command -v nginx || test -x /usr/sbin/nginx; } >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk nginx-light >/dev/null; }
	@test -x .bench/litellm/bin/litellm || { $(PY) -m venv .bench/litellm && .bench/litellm/bin/pip install -q 'litellm[proxy]'; } \
		|| echo "LiteLLM proxy not installed: the benchmark compares with the ANCHORS.md figure instead"
	$(BIN)/python -m pytest tests/perf -q -s -p no:cacheprovider

lint: $(STAMP)
	@rm -rf $(LINTVIEW) && mkdir -p $(LINTVIEW)/crosswalk
	@cp -r router policies providers $(LINTVIEW)/crosswalk/ && mv $(LINTVIEW)/crosswalk/router/crosswalk/__init__.py $(LINTVIEW)/crosswalk/ && rm -rf $(LINTVIEW)/crosswalk/router/crosswalk
	cd $(LINTVIEW) && PYTHONPATH=. $(abspath $(BIN))/lint-imports --no-cache $(abspath pyproject.toml)

# The documentation site (docs/, mkdocs.yml) into .site/; tests/test_docs.py builds it too.
docs: $(STAMP)
	$(BIN)/python -m mkdocs build --strict

check: $(STAMP)
	@for f in config/*.yaml; do $(BIN)/crosswalk check $$f >/dev/null || exit 1; done; echo "config/*.yaml OK"

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .site
