# Branchwatch: the two commands of a fresh Debian machine are `make demo` and `make test`.
# Both call `make install`, which creates .venv and installs what the tests need.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install system-deps demo test test-slow lint fmt bench soak eval golden oui image image-check image-boottest clean

$(STAMP): pyproject.toml
	@scripts/system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

system-deps:
	@scripts/system-deps.sh

demo: install
	$(PY) -m firmware.demo

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: install
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: install
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

bench: install
	$(PY) -m tests.bench $(BENCH_ARGS)

# Long real-time uplink runs (root): the fault lab, then 30 minutes of wire measurement.
soak: install
	$(PY) -m pytest -m slow tests/integration/test_faultlab.py $(PYTEST_ARGS)
	$(PY) -m tests.bench --part uplink --uplink-wire-minutes 30 $(BENCH_ARGS)

eval: install
	$(VENV)/bin/branchwatch eval tests/personas/labels.json
	$(VENV)/bin/branchwatch eval tests/personas/labels-heldout.json
	$(VENV)/bin/branchwatch eval ../shared/corpus/labels.json
	$(VENV)/bin/branchwatch eval --live-filter ../shared/corpus/labels.json

golden: install
	$(PY) -m tests.golden.regenerate

# The OUI table from the pinned ieee-data .deb (downloaded from Debian's archive; build time only).
oui: install
	$(PY) scripts/build_oui.py --fetch

# The arm64 SD-card image (root; not part of `make test`): image-build/README.md.
image: install
	image-build/build.sh

image-check: install
	image-build/check.sh

# Boots a personalised copy of the built image twice under qemu-system-aarch64 (root; ~20 min).
image-boottest: install
	image-build/boottest.sh

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
