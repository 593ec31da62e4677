# make demo  - install everything, run the main job on the built-in default
# make test  - install everything, run the whole test suite
PYTHON ?= python3
STAMP := .make/installed

.PHONY: install demo test lint bench
install: $(STAMP)

$(STAMP): pyproject.toml scripts/install.sh
	PYTHON=$(PYTHON) bash scripts/install.sh
	@mkdir -p .make && touch $(STAMP)

demo: install
	$(PYTHON) -m pgrpo demo --out runs/demo

test: install
	$(PYTHON) -m pytest -q

lint: install
	$(PYTHON) -m ruff check src tests benchmarks

bench: install
	$(PYTHON) benchmarks/sandbox_throughput.py
