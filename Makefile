# Two commands matter: `make run` and `make test`. Everything else serves them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha256sum requirements/lock.txt 2>/dev/null | cut -c1-12)
DEV_KEYS := .dev/keys

.PHONY: run test lint bench bench-scale install clean messages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements/lock.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements/lock.txt
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

# Development keys live in a git-ignored folder; they never leave this machine.
$(DEV_KEYS)/untold.env: | $(STAMP)
	UNTOLD_DEBUG=1 $(BIN)/python manage.py generate_keys --output $(DEV_KEYS) --on-this-server

run: $(STAMP) $(DEV_KEYS)/untold.env
	set -a && . ./$(DEV_KEYS)/untold.env && set +a && \
	export UNTOLD_DEBUG=1 && \
	$(BIN)/python manage.py migrate --no-input && \
	$(BIN)/python manage.py runserver 127.0.0.1:8000

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	UNTOLD_DEBUG=1 $(BIN)/mypy

test: lint
	UNTOLD_DEBUG=1 $(BIN)/python -m pytest

# Figures, printed as tables: the weight of every public page, the export at 100,000 rows
# on SQLite and on PostgreSQL, submissions under gunicorn against a bare view, and how
# long a writer waits while the shuffle runs at 100,000 rows, and what people-held keys
# cost at sign-in, in the reading view and in the export (needs
# PostgreSQL on 127.0.0.1:5432 as user postgres, and Redis on 127.0.0.1:6379; it makes and
# drops its own databases). A few minutes; exits non-zero if a target is missed.
bench: $(STAMP) $(DEV_KEYS)/untold.env
	set -a && . ./$(DEV_KEYS)/untold.env && set +a && export UNTOLD_DEBUG=1 && \
	$(BIN)/python manage.py migrate --no-input -v0 && \
	{ $(BIN)/python bench/page_weight.py; weight=$$?; \
	  $(BIN)/python bench/export.py; export_speed=$$?; \
	  $(BIN)/python bench/submit.py; submit_speed=$$?; \
	  $(BIN)/python bench/shuffle.py; shuffle_wait=$$?; \
	  $(BIN)/python bench/custody.py; custody=$$?; \
	  test $$weight -eq 0 && test $$export_speed -eq 0 && test $$submit_speed -eq 0 && \
	  test $$shuffle_wait -eq 0 && test $$custody -eq 0; }

# The scale run: every part at 100,000 and at 1,000,000 testimonies on PostgreSQL (the
# panel's pages and their queries, statistics, the export against COPY, submissions,
# shuffle and purge beside a writer, rotation killed and resumed, disk per story), each
# figure beside its target in one table. Seeds by COPY; 7 to 40 minutes on 2 cores and
# 10 GB of disk at the largest size; exits non-zero if a target is missed. Set
# UNTOLD_BENCH_SCALE_ROWS=100000 for a quick run.
bench-scale: $(STAMP) $(DEV_KEYS)/untold.env
	set -a && . ./$(DEV_KEYS)/untold.env && set +a && export UNTOLD_DEBUG=1 && \
	$(BIN)/python bench/scale.py

# Translators: refresh locale/kk and locale/ru from the sources, then compile them. Needs
# GNU gettext; the .mo files are committed, so `run` and `test` do not (the test suite
# checks that each .mo matches its .po).
messages: $(STAMP) $(DEV_KEYS)/untold.env
	set -a && . ./$(DEV_KEYS)/untold.env && set +a && export UNTOLD_DEBUG=1 && \
	$(BIN)/python manage.py makemessages -l kk -l ru --ignore=.venv --ignore=tests --ignore=bench --no-obsolete && \
	$(BIN)/python manage.py compilemessages -l kk -l ru --ignore=.venv

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
