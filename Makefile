# oppsuite — every target installs what it needs into .venv first.
SHELL  := /bin/bash
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: up test check protos check-protos install clean lint format bench

$(STAMP): pyproject.toml
	@test -x $(PY) || $(shell command -v $(PYTHON) || echo python3) -m venv $(VENV)
	@echo "installing oppsuite and its tools into $(VENV) ..."
	@$(PY) -m pip install --quiet --upgrade pip >$(VENV)/install.log 2>&1 || true
	@$(PY) -m pip install --quiet -e '.[dev]' >>$(VENV)/install.log 2>&1 || \
	  (cat $(VENV)/install.log; echo "install failed; the log above is in $(VENV)/install.log"; exit 1)
	@touch $(STAMP)

install: $(STAMP)

## make up: install, start Redis if needed, a local DynamoDB, the four services; sample analysis twice
up: $(STAMP)
	@tools/system-deps.sh redis-server
	$(VENV)/bin/oppsuite up

## make test: the whole suite (unit + integration against real Redis and moto servers)
test: $(STAMP)
	@tools/system-deps.sh redis-server prometheus kubectl
	$(PY) -m pytest -q -p no:cacheprovider

## make check: formatting, lint and types
check: $(STAMP) check-protos
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy services

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## make protos: regenerate services/common/gen from protos/
protos: $(STAMP)
	$(PY) tools/genprotos.py

## check-protos: fails when the committed generated code is stale
check-protos: $(STAMP)
	$(PY) tools/genprotos.py >/dev/null
	@git diff --exit-code --stat -- services/common/gen || \
	  (echo "generated protobuf code is stale: run 'make protos' and commit" && exit 1)
	@test -z "$$(git status --porcelain -- services/common/gen)" || \
	  (echo "untracked generated files: run 'make protos' and commit" && exit 1)

## make bench: miss/hit latency against a running suite (start it with make up)
bench: $(STAMP)
	$(PY) -m benchmarks.miss_hit

clean:
	rm -rf $(VENV) .oppsuite/run .pytest_cache .mypy_cache .ruff_cache
