# Two commands do all set-up: `make run` and `make test`. Only Python 3.11+ is needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test venv deps dev-deps migrate demo static engine demo-and-engine serve lint bench clean

$(VENV)/bin/activate:
	@echo "==> Creating the virtualenv $(VENV) ..."
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.deps: requirements.txt | $(VENV)/bin/activate
	@echo "==> Installing requirements.txt into $(VENV) (first time only: about 1-2 min, mostly numpy, numba, Django) ..."
	$(PIP) install --quiet --progress-bar off -r requirements.txt
	touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt | $(VENV)/bin/activate
	@echo "==> Installing requirements-dev.txt into $(VENV) (first time only: about 1-2 min) ..."
	$(PIP) install --quiet --progress-bar off -r requirements-dev.txt
	touch $(VENV)/.deps $@

deps: $(VENV)/.deps
dev-deps: $(VENV)/.dev-deps

migrate: deps
	@echo "==> Migrating the database (a few seconds) ..."
	@DEBUG=1 $(PY) manage.py migrate --noinput --verbosity 0

demo: migrate
	@DEBUG=1 $(PY) manage.py load_demo --if-empty

static: deps
	@echo "==> Collecting static files (hashed and compressed for DEBUG=0 too; a few seconds) ..."
	@DEBUG=1 $(PY) manage.py collectstatic --noinput --verbosity 0

serve:
	DEBUG=$${DEBUG:-1} $(PY) manage.py runserver $(HOST):$(PORT)

# The engine's numba kernels are compiled once after a fresh clone and cached on disk; done here,
# with a word about it, the server then loads them in a fraction of a second and its first page
# does not wait on a silent compile.
ENGINE_WARM_UP := DEBUG=1 $(PY) manage.py shell --no-imports -c "from runs.lifecycle import engine_warm_up; engine_warm_up()"
engine: deps
	@echo "==> Loading the backtest engine (compiled once after a fresh clone: about 20-50 s on an idle machine, minutes on a busy one; then about 2 s) ..."
	@$(ENGINE_WARM_UP)

# The compile is CPU-bound and the demo load mostly database writes: both at once, waiting for both.
demo-and-engine: migrate
	@echo "==> Compiling the backtest engine (first time only: about 20-50 s on an idle 2-core machine, 2-3 min when it is busy; nothing is printed meanwhile) while the demo data loads (when the database has no coins: 10-20 s) ..."
	@$(ENGINE_WARM_UP) & engine=$$!; \
	  DEBUG=1 $(PY) manage.py load_demo --if-empty; demo=$$?; \
	  wait $$engine; compiled=$$?; \
	  test $$demo = 0 -a $$compiled = 0

## make run: virtualenv, install, migrate, demo data when there are no coins, compile, serve on http://127.0.0.1:8000
run: static demo-and-engine
	@echo "==> Serving on http://$(HOST):$(PORT)/ (Ctrl-C stops it)"
	@$(MAKE) --no-print-directory serve

## make test: the whole suite (engine, site, runs, browser) on SQLite + local memory by default;
## set DATABASE_URL / REDIS_URL to run it on PostgreSQL + Redis.
# The browser tests need Debian's chromium: installed when we are root, else the exact command to run.
test: dev-deps
	@case '$(PYTEST_ARGS)' in *"not browser"*) ;; *) sh scripts/chromium.sh ;; esac
	$(PY) -m pytest $(PYTEST_ARGS)

lint: dev-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: dev-deps
	$(PY) bench/engine.py

clean:
	rm -rf $(VENV) staticfiles db.sqlite3* test_db_*.sqlite3*
