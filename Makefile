# Two commands do all set-up: `make run` and `make test`. Only Python 3.11+ is needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test venv deps dev-deps migrate demo static engine serve lint bench clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.deps: requirements.txt | $(VENV)/bin/activate
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt | $(VENV)/bin/activate
	$(PIP) install --quiet -r requirements-dev.txt
	touch $(VENV)/.deps $@

deps: $(VENV)/.deps
dev-deps: $(VENV)/.dev-deps

migrate: deps
	DEBUG=1 $(PY) manage.py migrate --noinput

demo: migrate
	DEBUG=1 $(PY) manage.py load_demo --if-empty

static: deps
	DEBUG=1 $(PY) manage.py collectstatic --noinput --verbosity 0

serve:
	DEBUG=$${DEBUG:-1} $(PY) manage.py runserver $(HOST):$(PORT)

# The engine's numba kernels are compiled once after a fresh clone (about 20 s) and cached on
# disk; done here, with a word about it, the server then loads them in a fraction of a second
# and its first page does not wait on a silent compile.
engine: deps
	@echo "Loading the backtest engine (compiled once after a fresh clone: about 20 s) ..."
	@DEBUG=1 $(PY) manage.py shell -c "from runs.lifecycle import engine_warm_up; engine_warm_up()"

## make run: virtualenv, install, migrate, demo data when there are no coins, serve on http://127.0.0.1:8000
run: demo static engine
	@echo "Serving on http://$(HOST):$(PORT)/"
	$(MAKE) --no-print-directory serve

## make test: the whole suite (engine, site, runs, browser) on SQLite + local memory by default;
## set DATABASE_URL / REDIS_URL to run it on PostgreSQL + Redis.
test: dev-deps
	$(PY) -m pytest $(PYTEST_ARGS)

lint: dev-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: dev-deps
	$(PY) bench/engine.py

clean:
	rm -rf $(VENV) staticfiles db.sqlite3* test_db_*.sqlite3*
