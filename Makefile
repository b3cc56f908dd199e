# The two commands the README promises: `make demo` and `make test`.
# Both set up everything on a fresh machine (Debian, root): a virtualenv with planloop and its
# dev tools (installed by uv: seconds where pip took a minute); `make test` also provisions what
# the VS Code end-to-end test needs.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

E2E_ENV := .cache/e2e/env.sh

.PHONY: demo test setup lint pytest pytest-unit pytest-e2e provision-node provision-e2e provision-nvim \
        provision-sandbox client-test bench clean-venv

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv
	$(VENV)/bin/uv pip install -q --compile-bytecode --python $(PY) -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP) provision-sandbox
	$(VENV)/bin/planloop demo

# ruff, mypy --strict over the package, and tsc (strict) over the extension
lint: $(STAMP) provision-node
	$(VENV)/bin/ruff check server tests bench scripts
	$(VENV)/bin/ruff format --check server tests bench scripts
	$(VENV)/bin/mypy --strict server/planloop
	. ./$(E2E_ENV) && cd client-vscode && npm run --silent typecheck

# Node 24, Chromium and the extension's npm packages (idempotent; seconds once downloaded)
provision-node: $(STAMP)
	bash scripts/provision-e2e.sh base

# ... and code-server, whose install compiles native modules (idempotent; ~3 min of one core once)
provision-e2e: provision-node
	bash scripts/provision-e2e.sh code-server

# Neovim for its end-to-end test (tests/e2e_neovim): Debian's package, 0.7 or newer (idempotent)
provision-nvim:
	@command -v nvim >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq neovim; }
	@nvim --version | head -n 1

# bubblewrap: every command a model causes runs in it (docs/security.md); Debian's package
provision-sandbox:
	@command -v bwrap >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq bubblewrap; }
	@bwrap --version

# the extension's unit tests (node --test), with the provisioned Node 24
client-test: provision-node
	. ./$(E2E_ENV) && cd client-vscode && npm test

# every Python test, including the VS Code and Neovim end to end (PLANLOOP_E2E=1: never skipped)
# two workers (one module each at a time) for everything but the editor end to ends, which
# then run alone: they drive real editors on timers that a loaded machine makes flaky
pytest: pytest-unit pytest-e2e

pytest-unit: provision-node provision-nvim provision-sandbox
	PLANLOOP_E2E=1 $(VENV)/bin/pytest -q -n 2 --dist loadfile -m "not e2e"

pytest-e2e: provision-e2e provision-nvim provision-sandbox
	PLANLOOP_E2E=1 $(VENV)/bin/pytest -q -m e2e

# code-server compiles on one core in the background while lint and the unit tests (which need
# only Node) use the rest; the editor end to ends wait for it. Its log is shown if it fails.
CS_LOG := .cache/e2e/provision-code-server.log

test: $(STAMP) provision-node provision-nvim provision-sandbox
	@setsid bash scripts/provision-e2e.sh code-server > $(CS_LOG) 2>&1 & cs=$$!; \
	  $(MAKE) --no-print-directory lint client-test pytest-unit; st=$$?; \
	  if [ $$st -ne 0 ]; then kill -- -$$cs 2>/dev/null; wait $$cs; exit $$st; fi; \
	  wait $$cs || { echo "code-server provisioning failed:"; cat $(CS_LOG); exit 1; }; \
	  tail -n 1 $(CS_LOG); \
	  $(MAKE) --no-print-directory pytest-e2e

bench: $(STAMP) provision-sandbox
	$(PY) bench/context_growth.py
	$(PY) bench/checkpoint_scale.py
	$(PY) bench/lsp_latency.py
	$(PY) bench/acp_latency.py
	$(PY) bench/split_vs_joint.py
	$(PY) bench/sandbox_overhead.py
	$(PY) bench/mcp_context.py

clean-venv:
	rm -rf $(VENV)
