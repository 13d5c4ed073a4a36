VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
FUZZ_EXAMPLES ?= 2000

.PHONY: install sysdeps demo test fuzz bench clean

$(STAMP): pyproject.toml | sysdeps
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# System packages the demo and the tests use (scripts/sysdeps): installed when root and
# apt-get are there and something is missing; otherwise it says what is missing.
sysdeps:
	@sh scripts/sysdeps

demo: sysdeps $(STAMP)
	$(VENV)/bin/eofsim demo

# -rs: every skipped test prints its reason in the summary.
test: sysdeps $(STAMP)
	$(PY) -m pytest -q -rs

# The input fuzz test with many more examples than `make test` gives it.
fuzz: $(STAMP)
	EOFSIM_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q -rs tests/test_fuzz_inputs.py

bench: $(STAMP)
	@for b in bench/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) build src/*.egg-info
