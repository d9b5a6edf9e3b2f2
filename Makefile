# astroflow: `make serve` and `make test` each build .venv on first use, with the versions
# pinned in constraints.txt (`make lock` refreshes it from pyproject.toml).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LOCK := constraints.txt
# The declared minimum versions: `make test-min` runs a bounded subset against them.
VENV_MIN := .venv-min
LOCK_MIN := constraints-min.txt
TESTS_MIN := tests/test_validation.py tests/test_workflow_grammar.py tests/test_products.py \
  tests/test_ontology.py tests/test_injection.py tests/test_formats.py tests/test_execution.py \
  tests/test_server.py
# The lock is for Python 3.11 (CI and the machines here); --universal keeps other platforms' markers.
COMPILE := uv pip compile pyproject.toml --python-version 3.11 --quiet

.PHONY: serve test validate test-min lint docs lock lock-upgrade wheel bench bench-icecube clean

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c $(LOCK) -e '.[dev]'
	touch $(STAMP)

# Re-resolve after editing pyproject.toml: pins already in the lock are kept where they still
# fit (lock-upgrade takes the newest of everything); constraints-min.txt takes each direct
# dependency at its declared floor (uv's lowest-direct), plus the test tools test-min needs.
$(VENV)/bin/uv:   # only uv, at its locked version: locking must not need the environment it locks
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c $(LOCK) uv

lock: $(VENV)/bin/uv
	$(VENV)/bin/$(COMPILE) --extra dev --universal -o $(LOCK)
	printf 'pytest>=8\npytest-timeout>=2.3\npandas>=2.2\n' | \
	  $(VENV)/bin/$(COMPILE) - --resolution lowest-direct -o $(LOCK_MIN)

lock-upgrade: $(VENV)/bin/uv
	$(VENV)/bin/$(COMPILE) --extra dev --universal --upgrade -o $(LOCK)

$(VENV_MIN)/.installed: pyproject.toml $(LOCK_MIN)
	$(PYTHON) -m venv $(VENV_MIN)
	$(VENV_MIN)/bin/python -m pip install --quiet --upgrade pip
	$(VENV_MIN)/bin/python -m pip install --quiet -c $(LOCK_MIN) -e . pytest pytest-timeout pandas
	touch $@

# CI runs it after make test (bounded); run it before raising or lowering a floor in pyproject.toml.
test-min: $(VENV_MIN)/.installed
	$(VENV_MIN)/bin/python -m pytest -q -p no:cacheprovider $(TESTS_MIN)

wheel: $(STAMP)
	$(PY) -m build --outdir dist .

serve: $(STAMP)
	$(VENV)/bin/astroflow data fetch icecube --data-dir data || echo "IceCube data unavailable: the service will say so"
	$(VENV)/bin/astroflow data fetch fermi-lat --data-dir data || echo "Fermi-LAT catalogue unavailable: the services will say so"
	$(VENV)/bin/astroflow data fetch hess --data-dir data || echo "H.E.S.S. data unavailable: the services will say so"
	$(VENV)/bin/astroflow data fetch cta --data-dir data || echo "CTAO prod5 IRFs unavailable: the planner uses parametrised IRFs and says so"
	$(VENV)/bin/astroflow data fetch gw --data-dir data || echo "GW data unavailable: the services will say so"
	$(VENV)/bin/astroflow serve --data-dir data --services workflows

# Two workers, each test file on one of them (its module fixtures, servers and browsers stay
# whole); shared data caches are built once under a lock (astroflow.datadir.preparing).
# `make test TEST_WORKERS=0` runs serially.
# Long statistical validations (marked `validation`) run with `make validate`, not here.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not validation" --durations=25

validate: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m validation

# ruff on everything; mypy on the package (settings in pyproject.toml's [tool.mypy]).
lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

# The documentation site in site/: reference pages generated from the code (docs/hooks.py).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

bench: $(STAMP)
	$(PY) bench/engine_overhead.py
	$(PY) bench/server_latency.py

bench-icecube: $(STAMP)   # builds SkyLLH in its own venv on first use; minutes, not seconds
	$(PY) bench/icecube_speed.py
	$(PY) bench/icecube_validation.py
	$(PY) bench/icecube_accuracy.py --quick
	$(PY) bench/icecube_allsky.py

clean:
	rm -rf $(VENV) $(VENV_MIN) dist build
