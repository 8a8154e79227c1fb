"""A worker's successes reach the shared health in batches (router/health.py `BatchedSuccesses`):
a deployment's first success in an interval at once, the rest in one script per interval instead
of one per call, folded into the latency average in the order they happened, and written before
any failure that follows them, so a breaker still counts consecutive failures and a probe's
success closes its breaker at once. Real Redis; the writer thread is given an hour's interval so each
test decides when to write (`flush`)."""

from __future__ import annotations

import threading
import uuid

import pytest

from genai_platform.router.health import CLOSED, OPEN, BatchedSuccesses, RedisHealthStore, worker_health_store


class CountingStore(RedisHealthStore):
    """Counts the writes of successes that reach Redis."""

    def __init__(self, url: str) -> None:
        super().__init__(url, freshness_seconds=0)
        self.success_writes = 0
        self.written = threading.Event()

    def record_successes(self, deployment: str, latencies_ms: list[float]) -> None:
        self.success_writes += 1
        super().record_successes(deployment, latencies_ms)
        self.written.set()


@pytest.fixture(autouse=True)
def _breaker(settings):
    settings.ROUTER_BREAKER_FAILURES = 2
    settings.ROUTER_BREAKER_COOLDOWN_SECONDS = 30
    settings.ROUTER_LATENCY_EWMA_ALPHA = 0.5


@pytest.fixture
def store(settings) -> CountingStore:
    return CountingStore(settings.REDIS_URL)


@pytest.fixture
def batched(store) -> BatchedSuccesses:
    return BatchedSuccesses(store, interval=3600)


def deployment() -> str:
    return f"batched-{uuid.uuid4().hex[:12]}"


def test_the_first_success_is_written_at_once_and_the_next_ones_in_one_write_per_interval(batched, store):
    name = deployment()
    for latency in (100.0, 200.0, 300.0):
        batched.record_success(name, latency)
    assert store.success_writes == 1  # the first
    assert store.snapshot([name])[name].latency_ms == pytest.approx(100.0)

    batched.flush()

    assert store.success_writes == 2
    # The same average as three single writes: 100, then 150, then 225.
    assert store.snapshot([name])[name].latency_ms == pytest.approx(225.0)


def test_a_batch_folds_into_the_average_other_processes_wrote(batched, store):
    name = deployment()
    store.record_success(name, 1000.0)  # another worker, written at once
    batched.record_success(name, 0.0)
    batched.record_success(name, 0.0)

    batched.flush()

    assert store.snapshot([name])[name].latency_ms == pytest.approx(250.0)


def test_a_failure_writes_the_successes_before_it_so_failures_stay_consecutive(batched, store):
    name = deployment()
    store.record_failure(name)  # one failure of two: still closed
    batched.record_success(name, 50.0)  # resets the count...
    batched.record_failure(name)  # ...so this is the first failure again

    assert store.snapshot([name])[name].breaker == CLOSED
    batched.record_failure(name)
    assert store.snapshot([name])[name].breaker == OPEN


def test_the_success_after_a_failure_is_written_at_once_so_a_probe_closes_the_breaker(batched, store):
    name = deployment()
    batched.record_success(name, 40.0)  # this interval's first, written
    batched.record_failure(name)
    batched.record_failure(name)
    assert store.snapshot([name])[name].breaker == OPEN

    batched.record_success(name, 40.0)  # the probe's success, within the same interval

    assert store.snapshot([name])[name].breaker == CLOSED


def test_the_writer_thread_writes_waiting_successes_without_being_asked(store):
    name = deployment()
    batched = BatchedSuccesses(store, interval=0.05)
    batched.record_success(name, 75.0)  # written at once
    store.written.clear()

    batched.record_success(name, 25.0)  # waits for the writer

    assert store.written.wait(timeout=30)  # generous: the interval is 50 ms
    assert store.snapshot([name])[name].latency_ms == pytest.approx(50.0)


def test_a_worker_records_through_the_batch_when_health_is_shared():
    assert isinstance(worker_health_store(), BatchedSuccesses)
