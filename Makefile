# The two quick-start commands: `make demo` and `make test`. Each sets itself up.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PRECALC_HOME ?= $(CURDIR)/.precalc
export DAGSTER_HOME ?= $(PRECALC_HOME)/dagster

.PHONY: install demo test dev lint bench screenshots clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[test,dev,deploy,serve]"
	touch $(STAMP)

demo: install
	$(BIN)/precalc demo

test: install
	$(BIN)/ruff check .
	$(BIN)/pytest -n 3 --dist loadfile -q

dev: install
	$(BIN)/python -c "from precalc_assets.settings import Settings, ensure_dagster_home as e; e(Settings.from_env())"
	$(BIN)/dg dev -m precalc_assets

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The README's pictures: the UI tests, with their screenshots written to docs/img/.
screenshots: install
	PRECALC_UI_SCREENSHOTS=docs/img $(BIN)/pytest -q precalc_assets_tests/dagster_defs/test_ui.py

bench: install
	$(BIN)/pip install --quiet --no-deps molsets==0.3.1
	$(BIN)/python benchmarks/precalc_vs_bare.py

clean:
	rm -rf $(VENV) $(PRECALC_HOME)
