# Two commands matter: `make run` and `make test`. Everything else serves them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha256sum requirements/lock.txt 2>/dev/null | cut -c1-12)
DEV_KEYS := .dev/keys

.PHONY: run test lint bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements/lock.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements/lock.txt
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

# Development keys live in a git-ignored folder; they never leave this machine.
$(DEV_KEYS)/untold.env: | $(STAMP)
	UNTOLD_DEBUG=1 $(BIN)/python manage.py generate_keys --output $(DEV_KEYS)

run: $(STAMP) $(DEV_KEYS)/untold.env
	set -a && . ./$(DEV_KEYS)/untold.env && set +a && \
	export UNTOLD_DEBUG=1 && \
	$(BIN)/python manage.py migrate --no-input && \
	$(BIN)/python manage.py runserver 127.0.0.1:8000

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	UNTOLD_DEBUG=1 $(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
