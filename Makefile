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
# The one pinned numeric environment (hardattn_utils/numerics.py): every command that
# executes or checks notebooks, and the kernel Jupyter starts, runs on the same numeric path.
NUMERICS := $(PY) hardattn_utils/numerics.py
PINNED := $(NUMERICS) exec --
KERNEL := $(VENV)/share/jupyter/kernels/python3/kernel.json
# Test workers: notebooks run whole, one per worker (pytest-xdist --dist loadfile).
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
NB ?= $(NOTEBOOKS)

.PHONY: install book test unit nbval site-test lab notebooks bench lint format clean

install: $(STAMP) $(KERNEL)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)" -e ".[book,test,dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (hard attention)" >/dev/null
	touch $(STAMP)

# The kernel that nbval, `make notebooks` and `make lab` start carries the pin itself.
$(KERNEL): hardattn_utils/numerics.py $(STAMP)
	$(NUMERICS) kernelspec $(KERNEL)

## book: build the static site into _build/html (open _build/html/index.html)
book: install
	@TIMEFORMAT='[stage] site build: %0R s'; time $(BIN)/jupyter-book build . -W --keep-going
	@echo "Open _build/html/index.html in a browser."

## test: ruff, unit, statistical and hygiene tests, strict nbval, the site build (and its browser test)
test: install lint unit nbval book site-test

unit: install
	@TIMEFORMAT='[stage] unit, statistical and hygiene tests: %0R s'; time \
		$(PINNED) $(PY) -m pytest tests/package tests/book -q -p no:cacheprovider -n $(JOBS)

nbval: install
	@TIMEFORMAT='[stage] strict nbval over the notebooks: %0R s'; time \
	HARDATTN_PROGRESS=0 $(PINNED) $(PY) -m pytest $$($(NUMERICS) nbval-args) notebooks -q -p no:cacheprovider \
		-n $(JOBS) --dist loadfile --nbval-cell-timeout=300 $(NBVAL_ARGS)

site-test: install
	@TIMEFORMAT='[stage] site test in headless Chromium: %0R s'; time \
		if [ -f tests/site/test_site.py ]; then $(PY) -m pytest tests/site -q; fi

## lab: JupyterLab on the repository (links to book/ pages work), opened at notebooks/
lab: install
	$(PINNED) $(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

## notebooks: re-execute notebooks in place, top to bottom (NB=notebooks/03_reinforce.ipynb for one)
notebooks: install
	@for nb in $(NB); do \
		echo "executing $$nb"; start=$$(date +%s); \
		HARDATTN_NO_NETWORK=1 HARDATTN_PROGRESS=0 PYTHONPATH="$(CURDIR)/tests/nonet$${PYTHONPATH:+:$$PYTHONPATH}" \
		$(PINNED) $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
			--ExecutePreprocessor.kernel_name=python3 --ExecutePreprocessor.timeout=600 "$$nb" || exit 1; \
		$(PY) book/_ext/kernel_only.py "$$nb"; \
		echo "  $$(( $$(date +%s) - start )) s"; \
	done

lint: install
	@echo "[stage] ruff"
	$(BIN)/ruff check hardattn_utils tests bench notebooks conftest.py
	$(BIN)/ruff format --check hardattn_utils tests bench notebooks conftest.py

format: install
	$(BIN)/ruff format hardattn_utils tests bench notebooks conftest.py
	$(BIN)/ruff check --fix hardattn_utils tests bench notebooks conftest.py

## bench: speed and robustness benchmark; prints and writes bench/RESULTS.md (BENCH_ARGS=--notebooks to time each notebook under nbval)
bench: install
	$(PINNED) $(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf _build
