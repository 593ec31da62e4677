# make demo  - install everything, run the main job on the built-in default
# make test  - install everything, run the structure guards (ruff, import contracts, mypy), then the whole test suite
# PYTHON picks the interpreter (default python3: an active venv/conda env when there is one).
# An externally managed one (PEP 668, e.g. Debian's /usr/bin/python3) gets the project venv
# .venv instead (scripts/pick-python.sh decides, scripts/install.sh creates it).
PYTHON ?= python3
PY := $(shell bash scripts/pick-python.sh '$(PYTHON)')
VENV_BIN := $(filter %/.venv/bin/,$(dir $(PY)))
ifneq ($(VENV_BIN),)
# the project venv: installed stamp lives (and dies) with it; its scripts (pgrpo) come first
STAMP := $(VENV_BIN)../.pgrpo-installed
export PATH := $(VENV_BIN:%/=%):$(PATH)
else
# keyed on the interpreter's environment (sys.prefix), not its name: `python3` in another active
# venv is another install
STAMP := .make/installed-$(shell '$(PY)' -c 'import sys; print(sys.prefix)' 2>/dev/null | cksum | cut -d' ' -f1)
endif

.PHONY: install demo test lint bench gpu-smoke
install: $(STAMP)

$(STAMP): pyproject.toml scripts/install.sh scripts/pick-python.sh
	PYTHON='$(PYTHON)' bash scripts/install.sh
	@mkdir -p $(dir $(STAMP)) && touch $(STAMP)

demo: install
	$(PY) -m pgrpo demo --out runs/demo

# scripts/install.sh installs verl and openrlhf (tests/engines): here a missing one fails, never skips
test: lint
	PGRPO_REQUIRE_ENGINES=1 $(PY) -m pytest -q

# The structure is guarded, not cleaned once: style, the architecture contracts in pyproject.toml
# (the toy world is a plugin nobody in the core imports; layers; no import cycles), types (mypy as
# [tool.mypy] says: --strict over src/pgrpo, the tests with check_untyped_defs).
lint: install
	$(PY) -m ruff check src tests benchmarks examples
	$(PY) -c "import sys; from importlinter.cli import lint_imports_command; sys.argv = ['lint-imports']; lint_imports_command()"
	$(PY) -m mypy

bench: install
	$(PY) benchmarks/sandbox_throughput.py

# stage-by-stage GPU check (scripts/gpu-smoke.sh); on a machine without a GPU, the CPU stages
gpu-smoke: install
	PYTHON='$(PY)' bash scripts/gpu-smoke.sh
