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

# LlamaIndex's OpenAI LLMs need openai<3, .venv has openai 3 (the Agents SDK, pydantic-ai), so
# tests/router/test_llamaindex_http.py runs LlamaIndex in a side venv: an overlay whose .pth adds
# .venv's site-packages (its .pth files too) after its own, so pip installs only the pinned set
# and what .venv lacks. pip never touches .venv: it does not uninstall outside its environment
# ("Not uninstalling openai ... outside environment"), it installs openai 2 beside, which shadows.
LLAMAINDEX := $(VENV)/llamaindex
LLAMAINDEX_STAMP := $(LLAMAINDEX)/.installed-stamp

$(LLAMAINDEX_STAMP): tests/llamaindex-requirements.txt $(STAMP)
	@rm -rf $(LLAMAINDEX)
	$(BIN)/python -m venv --without-pip $(LLAMAINDEX)
	@echo "import site; site.addsitedir('$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')')" \
		> "$$($(LLAMAINDEX)/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/zz_venv.pth"
	@# --no-warn-conflicts: .venv's openai-agents "requires openai>=3", which is true in .venv
	$(LLAMAINDEX)/bin/python -m pip install -q --no-compile --no-warn-conflicts -r tests/llamaindex-requirements.txt
	@touch $@

demo: $(STAMP)
	$(BIN)/crosswalk demo

# Two pytest workers (the machine's two cores): most tests wait on real processes and sockets.
# loadgroup: tests marked with one xdist_group share a worker (the local model loads once).
test: $(STAMP) $(LLAMAINDEX_STAMP)
	@# redis-server for shared state; chromium and its driver for the operator page's browser test
	@command -v redis-server >/dev/null && command -v openssl >/dev/null && command -v chromedriver >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server openssl chromium chromium-driver >/dev/null; }
	@$(MAKE) --no-print-directory lint
	LLAMAINDEX_PYTHON=$(abspath $(LLAMAINDEX))/bin/python $(BIN)/python -m pytest -q -n 2 --dist loadgroup

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
