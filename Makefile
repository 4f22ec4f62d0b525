# Course Supporter — make targets. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ENV_FILE := .data/local.env
# Admin commands run against the local stack, or inside the auth container with STACK=prod.
ifeq ($(STACK),prod)
COMPOSE := docker compose -f docker-compose.prod.yaml
ADMIN := $(COMPOSE) exec -T auth python -m services.auth.cli
MIGRATE := $(COMPOSE) run --rm migrate python -m libs.platform.migrate
else
LOCAL := test -f $(ENV_FILE) || { echo "no local stack yet: run make up first" >&2; exit 1; }; set -a; . $(ENV_FILE); set +a;
ADMIN := $(LOCAL) $(PY) -m services.auth.cli
MIGRATE := $(LOCAL) $(PY) -m libs.platform.migrate
endif

.PHONY: help up down status test test-fast lint format deps venv migrate rollback rollback-all \
        create-tenant create-key list-tenants list-keys revoke-key deactivate-tenant set-quota set-budget images-local \
        backup restore logs clean bench bench-upload bench-ingest bench-search demo test-reliability test-deploy

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

venv: $(VENV)/.installed ## create .venv with the pinned dependencies
$(VENV)/.installed: pyproject.toml
	@PYTHON=$(PYTHON) bash devstack/install.sh python
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $@

deps: ## install redis-server and nginx when missing (apt-get as root)
	@bash devstack/install.sh system

up: deps venv ## start the whole stack locally (Postgres, Redis, S3, services, gateway)
	@$(PY) -m devstack up

down: ## stop everything `make up` started (data stays in .data/)
	@test -x $(PY) && $(PY) -m devstack down || true

status: venv ## which local processes run, and /health
	@$(PY) -m devstack status

test: deps venv ## run the test suite against real Postgres, Redis, S3 and nginx
	@$(PY) -m pytest $(PYTEST_ARGS)

test-fast: venv ## the tests that need no stack (readers, validation, deploy files): about 30 s, for the inner loop
	@$(PY) -m pytest -m "not stack" -q $(PYTEST_ARGS)

lint: venv ## ruff check and format check
	@$(PY) -m ruff check . && $(PY) -m ruff format --check .

format: venv ## ruff format and autofix
	@$(PY) -m ruff format . && $(PY) -m ruff check --fix .

migrate: ## apply pending migrations
	@$(MIGRATE) apply

rollback: ## roll back the newest migration
	@$(MIGRATE) rollback

rollback-all: ## roll back every migration
	@$(MIGRATE) rollback-all

create-tenant: ## make create-tenant NAME=Acme
	@$(ADMIN) create-tenant --name "$(NAME)"

create-key: ## make create-key TENANT=Acme SCOPES=prep,check LABEL=prod [RATE_PREP=60] [RATE_CHECK=300] [EXPIRES_IN_DAYS=90]
	@$(ADMIN) create-key --tenant "$(TENANT)" --scopes "$(SCOPES)" --label "$(LABEL)" \
	  $(if $(RATE_PREP),--rate-prep "$(RATE_PREP)") $(if $(RATE_CHECK),--rate-check "$(RATE_CHECK)") \
	  $(if $(EXPIRES_IN_DAYS),--expires-in-days "$(EXPIRES_IN_DAYS)")

list-tenants: ## tenants with status and key counts
	@$(ADMIN) list-tenants

list-keys: ## make list-keys TENANT=Acme
	@$(ADMIN) list-keys --tenant "$(TENANT)"

revoke-key: ## make revoke-key PREFIX=cs_live_ab12cd34ef56
	@$(ADMIN) revoke-key --prefix "$(PREFIX)"

deactivate-tenant: ## make deactivate-tenant NAME=Acme (all its keys stop working)
	@$(ADMIN) deactivate-tenant --name "$(NAME)"

set-quota: ## make set-quota TENANT=Acme BYTES=10737418240 (0: unlimited; default: the STORAGE_QUOTA_BYTES setting)
	@$(ADMIN) set-quota --tenant "$(TENANT)" --bytes "$(BYTES)"

images-local: ## build stand-ins for every image the production stack pulls, from Debian's packages and PyPI (no registry needed; root, docker, debootstrap)
	@bash deploy/images_local.sh

set-budget: ## make set-budget TENANT=Acme USD=25 (a month's LLM spend; 0: none; default: LLM_MONTHLY_BUDGET_USD)
	@$(ADMIN) set-budget --tenant "$(TENANT)" --usd "$(USD)"

backup: ## compressed pg_dump (custom format) to backups/course_supporter_YYYYmmdd_HHMMSS.dump
ifeq ($(STACK),prod)
	@$(PYTHON) -m devstack.backup --prod dump --dir backups
else
	@$(LOCAL) $(PY) -m devstack.backup dump --dir backups
endif

restore: ## make restore FILE=backups/course_supporter_….dump (replaces the database's contents, all or nothing)
	@test -n "$(FILE)" || { echo "usage: make restore FILE=backups/course_supporter_….dump" >&2; exit 1; }
ifeq ($(STACK),prod)
	@$(PYTHON) -m devstack.backup --prod restore "$(FILE)"
else
	@$(LOCAL) $(PY) -m devstack.backup restore "$(FILE)"
endif

logs: ## follow the logs: make logs [SERVICE=courses] (STACK=prod: docker compose logs)
ifeq ($(STACK),prod)
	@$(COMPOSE) logs -f --tail=100 $(SERVICE)
else
	@$(PY) -m devstack.logs "$(SERVICE)"
endif

STACK_UP := $(LOCAL) $(PY) -c 'import os, urllib.request as u; u.urlopen("http://127.0.0.1:%s/health" % os.environ["GATEWAY_PORT"], timeout=10)' 2>/dev/null \
	  || { echo "the local stack is not up (GET /health is not 200): run make up first" >&2; exit 1; }

demo: venv ## against the running stack: a tenant, a course, the sample materials ingested, their documents printed
	@$(STACK_UP)
	@$(PY) -m devstack.demo

bench: venv ## restart the local stack, then start-up time, idle PSS, and wrk on nginx, a bare service, the course read and /health
	@WITH_BENCH=1 bash devstack/install.sh system
	@$(STACK_UP)
	@$(PY) -m bench.course_read

bench-upload: venv ## 100 MiB and 1 GiB uploads through the gateway vs boto3 direct, with worker peak RSS
	@$(STACK_UP)
	@$(PY) -m bench.upload

bench-ingest: venv ## job start latency, no-op jobs/s, PDF/PPTX/VTT ingestion time, worker peak RSS, and hostile inputs (bombs, huge HTML)
	@$(STACK_UP)
	@$(PY) -m bench.ingest

bench-search: venv ## concept search over 10 000 embedded concepts (gateway p50/p99, index vs sequential scan) and a 500-submission progress
	@WITH_BENCH=1 bash devstack/install.sh system
	@$(STACK_UP)
	@$(PY) -m bench.search

test-reliability: venv ## against the running local stack: faults, bad input, concurrency; one line of counts per scenario [SCENARIOS=…]
	@$(STACK_UP)
	@$(PY) -m tests.reliability $(SCENARIOS)

test-deploy: venv ## the production stack for real on Docker (root, minutes): build, compose up behind TLS, scale, crash, backup, Swarm rolling update
	@$(PY) -m tests.production

clean: down ## stop the stack and delete .data/ (all local data!)
	rm -rf .data
