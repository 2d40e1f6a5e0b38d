# Maestro ML — `make run` starts everything on the embedded default; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install system-deps run test lint audit lock format bench fuzz migrate clean

# The exact versions of requirements.lock (pyproject.toml keeps the ranges; README "Dependencies" says how
# to upgrade), then the project itself, editable, without resolving anything again.
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Debian libraries WeasyPrint needs for PDF model cards; installed with apt-get when missing (as root).
SYSTEM_DEPS := libpango-1.0-0 libpangoft2-1.0-0

system-deps:
	@command -v dpkg >/dev/null || exit 0; \
	missing=$$(for p in $(SYSTEM_DEPS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "PDF model cards need: sudo apt-get install $$missing"; fi; \
	fi

install: system-deps $(STAMP)

migrate: install
	$(PY) manage.py migrate --noinput

run: migrate
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py bootstrap_admin
	PORT=$(PORT) $(PY) manage.py serve --port $(PORT)

# Coverage of apps/ is measured on every run; below COVERAGE_FLOOR per cent the run fails (README "Tests").
# The suite runs in PYTEST_WORKERS parallel processes (pytest-xdist; each has its own test database, files, broker
# and cache keys: config/settings/test.py); PYTEST_WORKERS=0 runs it in one process.
COVERAGE_FLOOR ?= 85
PYTEST_WORKERS ?= auto
test: install
	$(PY) -m pytest -n $(PYTEST_WORKERS) --cov=apps --cov-report=term --cov-fail-under=$(COVERAGE_FLOOR) $(PYTEST_ARGS)

# bandit: medium and high findings fail; each one accepted says why inline (# nosec Bxxx  # reason).
lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/bandit -r apps config --quiet --severity-level medium

# Known vulnerabilities of the installed packages (pip-audit). Fails on any finding; when the
# vulnerability service cannot be reached it says loudly that nothing was audited and passes,
# unless AUDIT_STRICT=1 (scripts/audit_dependencies.py).
audit: install
	$(PY) scripts/audit_dependencies.py

# Re-resolve requirements.lock from pyproject.toml's ranges (README "Dependencies").
lock: install
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 --upgrade -o requirements.lock

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) tests/performance/run_all.py

# The long API fuzzing profile: 100 examples per operation plus Schemathesis' coverage phase (boundary
# values, undocumented methods, missing parameters); the suite runs 5 examples per operation.
fuzz: install
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-100} FUZZ_PHASES=examples,coverage,fuzzing $(PY) -m pytest tests/fuzz -q -p no:cacheprovider --no-cov

clean:
	rm -rf var/test .pytest_cache .ruff_cache staticfiles
