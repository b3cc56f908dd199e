# The two commands the README promises: `make demo` and `make test`.
# Both set up everything on a fresh machine (Debian, root): a virtualenv with planloop and its
# dev tools; `make test` also provisions what the VS Code end-to-end test needs.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: demo test setup lint pytest bench clean-venv

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/planloop demo

lint: $(STAMP)
	$(VENV)/bin/ruff check server tests bench

pytest: $(STAMP)
	$(VENV)/bin/pytest -q

test: $(STAMP) lint pytest

bench: $(STAMP)
	$(PY) bench/context_growth.py
	$(PY) bench/checkpoint_scale.py
	$(PY) bench/lsp_latency.py

clean-venv:
	rm -rf $(VENV)
