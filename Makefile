# The two commands a new user runs: `make demo` and `make test`.
# Both create .venv from the project's own files (pyproject + constraints.txt)
# when it is missing or older than them.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CONFIG ?= stacklstm_fin.example.toml
export PYTHONHASHSEED := 0
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: venv demo test test-fast test-slow lint format bench bench-gpu evaluate clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,deploy,bench]'
	$(BIN)/python -m pip check
	@touch $(STAMP)

# Both DAGs end to end through Airflow (./airflow_home, SQLite metadata), offline,
# on the bundled sample data and the DuckDB warehouse; prints the leaderboard and forecasts.
demo: venv
	BIN=$(BIN) CONFIG=$(CONFIG) scripts/demo.sh

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The whole suite: lint, the fast tests, then the slow and integration tests.
# pytest's exit code 5 (no test collected) fails the target like any error.
test: lint
	$(BIN)/python -m pytest -m "not slow and not integration" -q
	$(BIN)/python -m pytest -m "slow or integration" -q

test-fast: venv
	$(BIN)/python -m pytest -m "not slow and not integration" -q

test-slow: venv
	$(BIN)/python -m pytest -m "slow or integration" -q

# Side-by-side benchmarks (docs/performance.md): JSON per workload under bench/results/.
bench: venv
	$(BIN)/python -m bench

bench-gpu: venv
	$(BIN)/python -m bench --gpu

# Long replay of the interval method on the sample, 2008-2018 (docs/performance.md,
# "Interval calibration"; docs/adr/0007): a few minutes, no training.
evaluate: venv
	$(BIN)/python -m stacklstm_fin.evaluation.replay --start 2008-01-02 --end 2018-12-31 \
		--out bench/results/interval-replay.md

clean:
	rm -rf data airflow_home .pytest_cache .mypy_cache .ruff_cache
