# StoreDesk — the commands a newcomer runs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test check format test-deps bench screenshots clean

# dev: the tools and Playwright (driving Debian's chromium; no browser download); desktop:
# pywebview with Qt (about 530 MB) for `storedesk store serve --window` and its test.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,desktop]'
	@touch $(STAMP)

## make demo: HQ on embedded SQLite plus three demo stores; prints the URLs; Ctrl-C stops all.
demo: $(STAMP)
	$(BIN)/storedesk demo

## make check: format check, lint, types.
check: $(STAMP)
	$(BIN)/ruff format --check sync_protocol store_node hq_server tests bench scripts storedesk_cli.py storedesk_demo.py
	$(BIN)/ruff check sync_protocol store_node hq_server tests bench scripts storedesk_cli.py storedesk_demo.py
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format sync_protocol store_node hq_server tests bench scripts storedesk_cli.py storedesk_demo.py
	$(BIN)/ruff check --fix sync_protocol store_node hq_server tests bench scripts storedesk_cli.py storedesk_demo.py

## What the tests need on the machine (PostgreSQL; headless Chromium, CJK fonts and zbarimg for the
## browser tests; Qt's system libraries for the window test), installed or started idempotently.
test-deps:
	@bash scripts/ensure-test-deps.sh

## make test: check, then the whole suite, on two workers (pytest-xdist: 5 min instead of 8.5 on
## the 2-core dev VM; every test has its own files, ports and PostgreSQL schema).
test: check test-deps
	$(BIN)/pytest -n 2

## make screenshots: the demo chain, one store's main screens in headless Chromium (zh-CN,
## 1280x800) into docs/screenshots/.
screenshots: $(STAMP) test-deps
	$(BIN)/python scripts/screenshots.py

## make bench: the sync throughput benchmark (not part of make test).
bench: $(STAMP)
	$(BIN)/python bench/sync_throughput.py

clean:
	rm -rf $(VENV) demo-data .bench .pytest_cache .mypy_cache .ruff_cache
