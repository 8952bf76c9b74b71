# Sealpay: two commands matter. `make run` starts the suite, `make test` tests it.
# Both create the virtualenv and install the pinned dependencies on first use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml sdk/pyproject.toml constraints.txt | cksum | cut -d' ' -f1)

.PHONY: run test lint fmt migrate bench bench-floor bench-reads bench-tee proto lock venv clean stop-db verify-audit

venv: $(STAMP)

$(STAMP): pyproject.toml sdk/pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-c constraints.txt -e '.[dev]' -e ./sdk
	@rm -f $(VENV)/.installed-* && touch $@

run: venv  ## start the suite on the embedded PostgreSQL (or DATABASE_URL)
	$(BIN)/python -m services.devserver run

test: lint  ## lint (ruff, formatting, mypy), then the whole test suite against real PostgreSQL
	$(BIN)/pytest

lint: venv  ## ruff (lint + format check) and mypy
	$(BIN)/ruff check services sdk scripts tests
	$(BIN)/ruff format --check services sdk scripts tests
	$(BIN)/mypy services sdk/sealpay

fmt: venv
	$(BIN)/ruff format services sdk scripts tests
	$(BIN)/ruff check --fix services sdk scripts tests

migrate: venv  ## apply every service's migrations
	$(BIN)/python -m services.devserver migrate

stop-db: venv  ## stop the embedded PostgreSQL
	$(BIN)/python -m services.devserver stop-db

verify-audit: venv  ## recompute the ledger's audit chains
	$(BIN)/python -m services.devserver verify-audit

bench: venv  ## transfer throughput over HTTP vs pgbench (scripts/bench/transfers.py)
	$(BIN)/python -m scripts.bench.transfers

proto: venv  ## regenerate services/protos/ from protos/
	$(BIN)/python scripts/gen_protos.py

bench-floor: venv  ## the least CPU a transfer can cost here, and the best ratio it allows (scripts/bench/floor.py)
	$(BIN)/python -m scripts.bench.floor

bench-reads: venv  ## read throughput over HTTP: /v2/me, balance, history (scripts/bench/reads.py)
	$(BIN)/python -m scripts.bench.reads

bench-tee: venv  ## median transfer latency: TEE path vs in-process (scripts/bench/tee_latency.py)
	$(BIN)/python -m scripts.bench.tee_latency

lock: venv  ## re-pin the full dependency set into constraints.txt
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis
