# Two commands on a fresh machine with python3 and make:
#   make run    everything embedded (Temporal dev server + UI, SMTP sink, worker, API, SQLite)
#   make test   lint and the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench drills clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/outbound dev

test: $(STAMP) lint
	$(BIN)/pytest --durations=15

lint: $(STAMP)
	$(BIN)/ruff check outbound tests bench drills
	$(BIN)/ruff format --check outbound tests bench drills
	$(BIN)/mypy outbound

format: $(STAMP)
	$(BIN)/ruff format outbound tests bench drills
	$(BIN)/ruff check --fix outbound tests bench drills

bench: $(STAMP)
	$(BIN)/python -m bench.slot_reservations
	$(BIN)/python -m bench.store_per_send
	$(BIN)/python -m bench.inbound_accuracy
	$(BIN)/python -m bench

drills: $(STAMP)
	$(BIN)/python -m drills

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
