"""Live processes for end-to-end tests: a real gateway (gunicorn with uvicorn workers), and where production would have
them, a real PostgreSQL database, Redis and a separate `celery worker` process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PG_ADMIN_DSN = os.environ.get("E2E_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("E2E_REDIS_BASE", "redis://127.0.0.1:6379")
_SETTINGS_VARIABLES = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "GENAI_ENV", "DJANGO_DEBUG")


@dataclass
class LiveStack:
    base_url: str
    env: dict[str, str]
    demo: dict
    logs: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SETTINGS_VARIABLES}
    env.update(overrides)
    return env


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "python"), "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def wait_until_serving(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    """Polls until the gateway answers; a readiness probe, not a sleep standing in for synchronisation."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                return
        except (urllib.error.URLError, OSError):  # refused, reset, or too slow to answer yet
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not start serving within {timeout}s:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def running(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    with log.open("w") as out:
        process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def gateway_args(port: int) -> list[str]:
    return [
        str(BIN / "gunicorn"),  # with uvicorn workers and the ASGI application (deploy/gunicorn.conf.py)
        "--config",
        "deploy/gunicorn.conf.py",
        "--bind",
        f"127.0.0.1:{port}",
    ]


def start_stack(env: dict[str, str], logs: Path, *, migrate: bool = True) -> Iterator[LiveStack]:
    if migrate:
        manage(env, "migrate", "--noinput", "-v0")
    port = free_port()
    demo = json.loads(manage(env, "seed_demo", "--json", "--base-url", f"http://127.0.0.1:{port}"))
    log = logs / "gateway.log"
    with running(gateway_args(port), env, log) as gateway:
        base_url = f"http://127.0.0.1:{port}"
        wait_until_serving(base_url, gateway, log)
        yield LiveStack(base_url=base_url, env=env, demo=demo, logs=logs)


@pytest.fixture(scope="module")
def embedded_stack(tmp_path_factory) -> Iterator[LiveStack]:
    """The embedded default: SQLite, eager in-process tasks, local-memory cache."""
    logs = tmp_path_factory.mktemp("embedded")
    env = clean_env(DATABASE_URL=f"sqlite:///{logs / 'db.sqlite3'}")
    yield from start_stack(env, logs)


@pytest.fixture(scope="module")
def stack_env(request) -> dict[str, str]:
    """Settings a test module starts its services stack with: its `STACK_ENV` dict by default; a
    module overrides this fixture for settings known only at run time (a server a fixture started)."""
    return getattr(request.module, "STACK_ENV", {})


E2E_OWNER_ROLE, E2E_APP_ROLE = "genai_e2e_owner", "genai_e2e_app"


def apply_roles(database: str) -> None:
    from governance.db_roles import database_roles_apply

    with psycopg.connect(database_url(None, database)) as conn, conn.cursor() as cursor:
        database_roles_apply(cursor=cursor, owner=E2E_OWNER_ROLE, app=E2E_APP_ROLE)


def database_url(role: str | None, database: str) -> str:
    """The URL of `database` as `role` (None: the administrator of PG_ADMIN_DSN)."""
    admin = PG_ADMIN_DSN.rsplit("/", 1)[0]
    if role is None:
        return f"{admin}/{database}"
    scheme, rest = admin.split("://", 1)
    return f"{scheme}://{role}@{rest.rsplit('@', 1)[-1]}/{database}"


@pytest.fixture(scope="module")
def services_stack(stack_env, tmp_path_factory) -> Iterator[LiveStack]:
    """PostgreSQL, Redis as cache, reply channel and broker; tasks only run in a separate worker.

    A test module can set `STACK_ENV` (a dict), or override `stack_env`, to start its stack with
    other settings."""
    logs = tmp_path_factory.mktemp("services")
    database = f"genai_e2e_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    redis.Redis.from_url(f"{REDIS_BASE}/12").flushdb()
    redis.Redis.from_url(f"{REDIS_BASE}/13").flushdb()
    settings = {
        "DATABASE_URL": database_url(E2E_APP_ROLE, database),
        "REDIS_URL": f"{REDIS_BASE}/13",
        "CELERY_BROKER_URL": f"{REDIS_BASE}/12",
        "GATEWAY_REQUEST_DEADLINE_SECONDS": "5",
    }
    env = clean_env(**{**settings, **stack_env})
    try:
        # As in production: migrations as the owner role, every process as the application role.
        # (`manage.py db_roles` runs the same function; called here directly to spare two Django start-ups.)
        apply_roles(database)
        manage({**env, "DATABASE_URL": database_url(E2E_OWNER_ROLE, database)}, "migrate", "--noinput", "-v0")
        apply_roles(database)
        yield from start_stack(env, logs, migrate=False)
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def worker_args(name: str, queue: str = "provider.sandbox", concurrency: int = 2, pool: str = "threads") -> list[str]:
    """A worker as deploy/ runs them: provider queues on the threads pool (`pool="prefork"` for the
    processes of `provider.local` and `platform`)."""
    return [
        str(BIN / "celery"),
        "-A",
        "genai_platform",
        "worker",
        "-Q",
        queue,
        "-n",
        f"{name}@%h",
        "--pool",
        pool,
        "--concurrency",
        str(concurrency),
        "--prefetch-multiplier",
        "1",
        "--loglevel",
        "INFO",
        "--without-mingle",
        "--without-gossip",
    ]


def wait_until_consuming(process: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    """Polls a worker's log until Celery says it is ready (consuming its queues); a readiness probe.
    Start-up takes seconds (Django, and the guardrails' NLP models' imports), more than a request's
    deadline: a test that sent work at once would see a 504 instead of the worker's answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"worker exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        if " ready." in log.read_text():
            return
        time.sleep(0.1)
    raise RuntimeError(f"the worker was not ready within {timeout}s:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def consuming_worker(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """A `celery worker` process, yielded once it consumes its queues."""
    with running(args, env, log) as worker:
        wait_until_consuming(worker, log)
        yield worker


@pytest.fixture
def sandbox_worker(services_stack: LiveStack) -> Iterator[subprocess.Popen]:
    """A real `celery worker` process consuming only the sandbox provider's queue."""
    with consuming_worker(worker_args("sandbox"), services_stack.env, services_stack.logs / "worker.log") as worker:
        yield worker


def catalog_setup(stack: LiveStack, code: str) -> dict:
    """Runs `code` with the catalog and tenant services in the stack's database; it must set `result`."""
    script = (
        "import json\n"
        "from model_catalog.services import provider_account_upsert, model_upsert, deployment_upsert, alias_upsert\n"
        "from lob_tenants.models import UseCase\n"
        "from lob_tenants.services import api_key_issue\n"
        "result = None\n" + code + "\nprint(json.dumps(result))\n"
    )
    return json.loads(manage(stack.env, "shell", "-c", script).strip().splitlines()[-1])


def wait_for(predicate, timeout: float = 15, what: str = "condition"):
    """Polls `predicate` until it returns something truthy: for state that other processes change."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
