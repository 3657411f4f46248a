# The two set-up commands are `make book` and `make test`; each creates the
# local virtual environment .venv and installs what it needs on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed-stamp
# torch==2.13.0 resolves to a CPU wheel; an unpinned torch would pull a multi-GB CUDA build.
TORCH ?= torch==2.13.0
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
NB ?= $(NOTEBOOKS)

.PHONY: install book test unit nbval site-test lab notebooks bench lint format clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)" -e ".[book,test,dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (hard attention)" >/dev/null
	touch $(STAMP)

## book: build the static site into _build/html (open _build/html/index.html)
book: install
	$(BIN)/jupyter-book build . -W --keep-going
	@echo "Open _build/html/index.html in a browser."

## test: ruff, unit, statistical and hygiene tests, strict nbval, the site build (and its browser test)
test: install lint unit nbval book site-test

unit: install
	$(PY) -m pytest tests -q -p no:cacheprovider --ignore=tests/site

nbval: install
	$(PY) -m pytest --nbval notebooks -q -p no:cacheprovider \
		--nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=300 $(NBVAL_ARGS)

site-test: install
	@if [ -f tests/site/test_site.py ]; then $(PY) -m pytest tests/site -q; fi

## lab: open the notebooks in JupyterLab
lab: install
	$(BIN)/jupyter lab notebooks

## notebooks: re-execute notebooks in place, top to bottom (NB=notebooks/03_reinforce.ipynb for one)
notebooks: install
	@for nb in $(NB); do \
		echo "executing $$nb"; start=$$(date +%s); \
		HARDATTN_NO_NETWORK=1 PYTHONPATH="$(CURDIR)/tests/nonet$${PYTHONPATH:+:$$PYTHONPATH}" \
		$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
			--ExecutePreprocessor.kernel_name=python3 --ExecutePreprocessor.timeout=600 "$$nb" || exit 1; \
		echo "  $$(( $$(date +%s) - start )) s"; \
	done

lint: install
	$(BIN)/ruff check hardattn_utils tests bench notebooks conftest.py
	$(BIN)/ruff format --check hardattn_utils tests bench conftest.py

format: install
	$(BIN)/ruff format hardattn_utils tests
	$(BIN)/ruff check --fix hardattn_utils tests

## bench: speed and robustness benchmark; prints and writes bench/RESULTS.md (BENCH_ARGS=--notebooks to time each notebook under nbval)
bench: install
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf _build
