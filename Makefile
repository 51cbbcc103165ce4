# The two commands a newcomer needs: `make run` and `make test`. Everything else is optional.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help setup messages port-free run serve test lint format check-deploy bench clean

help:
	@echo "make run    set up and serve HTTP + WebSocket on :$(PORT) (SQLite, in-memory layer, demo login)"
	@echo "make test   set up and run the test suite (MariaDB + Redis when they answer on loopback)"
	@echo "make serve  the production process set on HOST:PORT, reading the production environment"
	@echo "make lint   ruff and mypy"
	@echo "make bench  ingest benchmark against a running server (see bench/README.md)"

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required")'
	PYTHON=$(PYTHON) scripts/system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

# The compiled translations, built from locale/*/LC_MESSAGES/*.po (GNU gettext's msgfmt; system-deps.sh).
MO_FILES := $(patsubst %.po,%.mo,$(wildcard locale/*/LC_MESSAGES/*.po))
$(MO_FILES): %.mo: %.po $(STAMP)
	PYTHON=$(PYTHON) scripts/system-deps.sh
	$(BIN)/python manage.py compilemessages --ignore=.venv --verbosity 0

messages: $(MO_FILES)

setup: $(STAMP) messages

# First, before anything slow: is HOST:PORT free?
port-free:
	@$(PYTHON) scripts/port-free $(HOST) $(PORT)

# The embedded default: no DATABASE_URL/REDIS_URL needed. DEBUG is on so the
# shipped secret key and the demo account are accepted; see README for production.
# One uvicorn process serves HTTP and WebSockets, hands events to its own sockets in memory, and
# runs the jobs (a Celery worker and its scheduler) in threads, on Celery's in-memory transport.
run: export DEBUG ?= 1
run: port-free $(STAMP) messages
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py ensure_demo_user
	@echo "Serving on http://$(HOST):$(PORT)/  (admin: /admin/, API docs: /docs, health: /health)"
	$(BIN)/uvicorn vsp.asgi:application --host $(HOST) --port $(PORT) --lifespan off --no-access-log \
	  --ws websockets-sansio --ws-per-message-deflate false

# The production process set on one port (README "Processes"): nginx in front of granian (all HTTP)
# and uvicorn (WebSockets only), the job worker and its scheduler (Celery), run by honcho from the
# Procfile. It reads the production environment (DATABASE_URL, REDIS_URL, SECRET_KEY, ...); each
# port gets its own socket directory, so two sets can run side by side.
serve: port-free $(STAMP) messages
	PYTHON=$(PYTHON) scripts/system-deps.sh --serve
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	PATH="$(CURDIR)/$(BIN):$$PATH" RUN_DIR="$(CURDIR)/var/run/$(PORT)" HOST=$(HOST) PORT=$(PORT) \
		$(BIN)/honcho start --no-colour --procfile Procfile --app-root $(CURDIR) --port $(PORT)

test: $(STAMP) messages
	PYTHON=$(PYTHON) scripts/system-deps.sh --all
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	eval "$$(scripts/test-env.sh)" && $(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Production settings sanity: Django's deployment checks plus ours.
check-deploy: $(STAMP)
	$(BIN)/python manage.py check --deploy --database default

bench: $(STAMP)
	$(BIN)/python bench/ingest.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache $(MO_FILES)
