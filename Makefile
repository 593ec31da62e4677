# make demo  - install everything, run the main job on the built-in default
# make test  - install everything, run the structure guards (ruff, import contracts, mypy), then the whole test suite
PYTHON ?= python3
STAMP := .make/installed

.PHONY: install demo test lint bench
install: $(STAMP)

$(STAMP): pyproject.toml scripts/install.sh
	PYTHON=$(PYTHON) bash scripts/install.sh
	@mkdir -p .make && touch $(STAMP)

demo: install
	$(PYTHON) -m pgrpo demo --out runs/demo

test: lint
	$(PYTHON) -m pytest -q

# The structure is guarded, not cleaned once: style, the architecture contracts in pyproject.toml
# (the toy world is a plugin nobody in the core imports; layers; no import cycles), types.
lint: install
	$(PYTHON) -m ruff check src tests benchmarks
	$(PYTHON) -c "import sys; from importlinter.cli import lint_imports_command; sys.argv = ['lint-imports']; lint_imports_command()"
	$(PYTHON) -m mypy

bench: install
	$(PYTHON) benchmarks/sandbox_throughput.py
