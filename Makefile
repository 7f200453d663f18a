# The two commands of the README:
#   make run   set everything up, create a demo user, start the web server and a worker
#   make test  set everything up, then lint, type-check and run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install test-packages

# What running the service needs; the tests also need chromium and nginx (make test installs them).
install: $(VENV)/.installed

# Debian's chromium and nginx for the browser and deployment tests; warns (and they skip) where apt
# is unavailable.
test-packages:
	@bin/install-test-packages

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-nodeps.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	touch $@

run: install
	HOST=$(HOST) PORT=$(PORT) PY=$(PY) bin/serve

test: install test-packages
	$(PY) -m ruff check .
	DEBUG=1 $(PY) -m mypy
	$(PY) -m pytest $(PYTEST_ARGS)

