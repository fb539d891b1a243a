# One command to run the example project, one to run every test (see README.md).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: run test venv services lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip

venv: $(BIN)/python
	$(BIN)/pip install -q -e '.[test,lint,docs,dev]'

## Set everything up and run the example project on http://127.0.0.1:8000 (admin / admin).
## DEBUG on: the example is a development server, and runserver serves static files only then.
run: export DJANGO_DEBUG := 1
run: venv
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo_setup
	$(BIN)/python manage.py runserver 127.0.0.1:8000

services:
	bash scripts/ensure-services.sh

## Set everything up and run every test: lint, JS, docs, Python 3.11 (oldest pins), 3.13 (newest), the wheel.
test: venv services
	$(BIN)/nox

lint: venv
	$(BIN)/nox -s lint

## Run every benchmark and rewrite docs/benchmarks.md; SKIP="soak deflate" keeps their last results.
bench: venv services
	$(BIN)/python benchmarks/run_all.py $(if $(SKIP),--skip $(SKIP))

clean:
	rm -rf $(VENV) .nox build *.egg-info .pytest_cache .hypothesis example_project/db.sqlite3
