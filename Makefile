# kitaportal — two commands on a fresh machine: `make demo` and `make test`.
# Without DATABASE_URL / CELERY_BROKER_URL both use the embedded defaults
# (a private PostgreSQL under .data/pg and a file-system broker under .data/broker).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: setup system-deps services migrate demo test lint format lock messages bench clean stop

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check uv==0.13.8
	$(BIN)/uv pip install --python $(BIN)/python -q -r requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python -q --no-deps -e .
	@rm -f $(VENV)/.installed-*; touch $@

# Tools the tests drive: kubectl renders the Kubernetes manifests in tests/deploy (Debian:
# kubernetes-client); Chromium runs the browser tests; axe-core (npm) checks accessibility;
# wrk generates benchmarks/portal_load.py's load (tests/benchmarks run it against a stub).
SYSTEM_PACKAGES := kubectl:kubernetes-client chromium:chromium xgettext:gettext msgfmt:gettext wrk:wrk
system-deps:
	@missing=""; for pair in $(SYSTEM_PACKAGES); do \
		command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "Installing$$missing (Debian)"; \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; }; \
		else \
			echo "Missing:$$missing. Install them (Debian: sudo apt-get install$$missing)" >&2; exit 1; \
		fi; \
	fi
	@test -f tests/browser/node_modules/axe-core/axe.min.js || npm ci --prefix tests/browser --no-audit --no-fund --silent

services: setup
	@if [ -z "$$DATABASE_URL" ]; then $(BIN)/python -m kitaportal.embedded start >/dev/null && echo "Embedded PostgreSQL: $$($(BIN)/python -m kitaportal.embedded url)"; fi

messages: setup
	@if command -v msgfmt >/dev/null && ls platform/kitaportal/locale/*/LC_MESSAGES/django.po >/dev/null 2>&1; then \
		cd platform/kitaportal && DJANGO_SETTINGS_MODULE=kitaportal.settings.dev ../../$(BIN)/django-admin compilemessages -v0; fi

migrate: services messages
	DJANGO_SETTINGS_MODULE=kitaportal.settings.dev $(BIN)/kitaportal migrate

demo: migrate
	DJANGO_SETTINGS_MODULE=kitaportal.settings.dev $(BIN)/kitaportal load_demo
	DJANGO_SETTINGS_MODULE=kitaportal.settings.dev $(BIN)/python -m kitaportal.rundemo

test: system-deps services messages
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DJANGO_SETTINGS_MODULE=kitaportal.settings.test $(BIN)/pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

lock: setup
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 -o requirements.lock

bench: services
	$(BIN)/python benchmarks/tenant_provisioning.py --tenants 1000

stop:
	@$(BIN)/python -m kitaportal.embedded stop

clean: stop
	rm -rf .data $(VENV)
