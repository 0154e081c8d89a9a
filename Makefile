# The two commands of the README. Both create or reuse the virtual environment in .venv/ first.
#   make reproduce   the main job: execute every notebook in order with papermill, in place, with its default
#                    parameters (tiny profile, SynthRS, CPU); writes figures/NN_*.png and results/NN_*.{csv,md}
#   make test        unit tests and the papermill smoke run of every notebook with injected parameters (tests/),
#                    then nbval: every notebook re-executed, cells marked `# NBVAL_CHECK_OUTPUT` must reproduce their
#                    committed outputs (after notebooks/nbval_sanitize.cfg), and no cell may raise
#   make lab         read and run the notebooks yourself: JupyterLab on notebooks/ (kernel: .venv's Python)
# One notebook: make reproduce NOTEBOOKS=notebooks/02_vir_lca_construction.ipynb
#   make reference   after `make reproduce`: store the default study's results (notebooks/reference/03_training.json)
#                    for the checks of notebook 03 (tolerance bands anywhere, exact on this machine)
#   make studies     after `make reproduce`: the recorded studies notebooks 03-05 read (docs/studies/*.json; over an hour on 2 cores)
# Executed notebooks get plain progress lines, not bars (PIRLIB_PROGRESS=lines; see pirlib/progress.py).

# Set-up installs without compiling the 18,000 files of the environment (pip --no-compile: 35 s less); Python compiles
# a module on its first import and caches it in .venv, here even where PYTHONDONTWRITEBYTECODE is set (unexported).
unexport PYTHONDONTWRITEBYTECODE

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
NBVAL := --nbval-lax --nbval-sanitize-with notebooks/nbval_sanitize.cfg

.PHONY: setup reproduce test lab lint reference studies

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -e ".[notebooks,dev]"
	touch $@

reproduce: setup
	mkdir -p figures results
	@job_start=$$(date +%s); \
	for notebook in $(NOTEBOOKS); do \
		start=$$(date +%s); \
		PIRLIB_PROGRESS=lines $(BIN)/papermill --cwd notebooks --kernel python3 --no-progress-bar "$$notebook" "$$notebook" || exit 1; \
		echo "$$notebook: $$(( $$(date +%s) - start )) s"; \
	done; \
	echo "main job: $$(( $$(date +%s) - job_start )) s"

reference: setup
	$(BIN)/python -c "from pirlib.regression import write_reference; write_reference('runs/notebook', 'notebooks/reference/03_training.json')"

studies: setup
	$(BIN)/python -m pirlib.studies plateau
	$(BIN)/python -m pirlib.studies prior-quality
	$(BIN)/python -m pirlib.studies ablations

test: setup
	PIRLIB_PROGRESS=lines $(BIN)/python -m pytest tests notebooks $(NBVAL); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests"; status=0; fi; exit $$status

lab: setup
	JUPYTER_PREFER_ENV_PATH=1 $(BIN)/python -m jupyterlab --ServerApp.root_dir=notebooks

lint: setup
	$(BIN)/ruff check pirlib tests
	$(BIN)/ruff format --check pirlib tests
