# Two commands a new user needs: `make lab` and `make test`. Both set up .venv first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-done
PORT ?= 8888
# Jupyter refuses to run as root without this (containers and CI machines often are root).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: setup e2e-deps pg-deps lab app test lint format bench fuzz clean

setup: $(STAMP)

# Re-run when the dependencies change. The model files are resolved here (sha256-checked
# into ~/.cache/workbench) so the first notebook does not stall on a download.
$(STAMP): pyproject.toml Makefile
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "workbench needs Python 3.11, found " + sys.version.split()[0])'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q --upgrade pip
	$(PY) -m pip install --disable-pip-version-check -q -e '.[dev]'
	$(PY) -m workbench models fetch
	touch $(STAMP)

lab: setup
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks --port=$(PORT) $(ALLOW_ROOT)

# The panels as one web page without code (Voila serving app/workbench.ipynb), on
# localhost only, behind a fresh token; the address to open is printed first.
APP_PORT ?= 8866
app: setup
	@token=$$($(PY) -c 'import secrets; print(secrets.token_hex(16))'); \
	echo "workbench app: open http://127.0.0.1:$(APP_PORT)/?token=$$token"; \
	exec $(VENV)/bin/voila app/workbench.ipynb --no-browser --Voila.ip=127.0.0.1 \
		--port=$(APP_PORT) --token=$$token

# The browser test (tests/e2e) needs Debian's chromium and ffmpeg; installed here only when
# missing (and only where apt-get runs as root): otherwise that test skips with the reason.
e2e-deps:
	@if [ -x /usr/bin/chromium ] && command -v ffmpeg >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium ffmpeg \
		|| echo "e2e-deps: could not install chromium/ffmpeg; the browser test will skip"; \
	else echo "e2e-deps: chromium or ffmpeg missing (needs root apt-get); the browser test will skip"; fi

# The gallery tests run against a throwaway PostgreSQL server too (tests/conftest.py
# pg_cluster: initdb in a temp folder, 127.0.0.1 only, stopped at the end). Debian's
# postgresql-15 is installed here only when missing (and only as root); otherwise those
# tests skip with the reason.
pg-deps:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 \
		|| echo "pg-deps: could not install postgresql-15; the PostgreSQL tests will skip"; \
	else echo "pg-deps: PostgreSQL missing (needs root apt-get); the PostgreSQL tests will skip"; fi

# One pytest process: the tests, then every notebook under nbval (see pyproject.toml).
test: setup e2e-deps pg-deps
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check workbench tests benchmarks scripts
	$(VENV)/bin/ruff format --check workbench tests benchmarks scripts

format: setup
	$(VENV)/bin/ruff format workbench tests benchmarks scripts
	$(VENV)/bin/ruff check --fix workbench tests benchmarks scripts

bench: setup
	$(PY) benchmarks/detect.py

# The fuzz suite at a large count (make test runs the same generators at a few hundred
# cases); FUZZ_COUNT cases, exit 1 on any crash, silent change or hang.
FUZZ_COUNT ?= 20000
FUZZ_GALLERY_COUNT ?= 6000
fuzz: setup
	$(PY) benchmarks/fuzz.py images --count $(FUZZ_COUNT)
	$(PY) benchmarks/fuzz_gallery.py --count $(FUZZ_GALLERY_COUNT)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
