# astroflow: `make serve` and `make test` each build .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: serve test lint bench bench-icecube clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

serve: $(STAMP)
	$(VENV)/bin/astroflow data fetch icecube --data-dir data || echo "IceCube data unavailable: the service will say so"
	$(VENV)/bin/astroflow data fetch fermi-lat --data-dir data || echo "Fermi-LAT catalogue unavailable: the services will say so"
	$(VENV)/bin/astroflow data fetch hess --data-dir data || echo "H.E.S.S. data unavailable: the services will say so"
	$(VENV)/bin/astroflow data fetch cta --data-dir data || echo "CTAO prod5 IRFs unavailable: the planner uses parametrised IRFs and says so"
	$(VENV)/bin/astroflow data fetch gw --data-dir data || echo "GW data unavailable: the services will say so"
	$(VENV)/bin/astroflow serve --data-dir data --services workflows

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench

bench: $(STAMP)
	$(PY) bench/engine_overhead.py
	$(PY) bench/server_latency.py

bench-icecube: $(STAMP)   # builds SkyLLH in its own venv on first use; minutes, not seconds
	$(PY) bench/icecube_speed.py
	$(PY) bench/icecube_validation.py
	$(PY) bench/icecube_accuracy.py --quick
	$(PY) bench/icecube_allsky.py

clean:
	rm -rf $(VENV)
