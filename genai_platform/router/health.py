"""Deployment health shared by every gateway and worker process: circuit breakers and observed latency.

Workers record each call's outcome (they see the provider's answer); gateways read the state when
choosing deployments. With Redis the state is shared across all processes; the embedded default
keeps it in the one process there is.

Breaker: `closed` until `ROUTER_BREAKER_FAILURES` consecutive retryable failures, then `open`
(skipped) for `ROUTER_BREAKER_COOLDOWN_SECONDS`, then `half_open`: exactly one caller wins the
probe; its success closes the breaker, its failure opens it again for another cooldown.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings

logger = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
#: Forget a deployment's state after a day without calls.
_STATE_TTL_SECONDS = 86_400


@dataclass(frozen=True)
class DeploymentHealth:
    breaker: str = CLOSED
    #: Exponentially weighted moving average of successful calls' provider latency; None until measured.
    latency_ms: float | None = None


class HealthStore(Protocol):
    def snapshot(self, deployments: list[str]) -> dict[str, DeploymentHealth]: ...

    def try_probe(self, deployment: str) -> bool: ...

    def record_success(self, deployment: str, latency_ms: float) -> None: ...

    def record_failure(self, deployment: str) -> None: ...


def _breaker_state(failures: int, opened_at: float | None, now: float) -> str:
    if opened_at is None or failures < settings.ROUTER_BREAKER_FAILURES:
        return CLOSED
    return OPEN if now - opened_at < settings.ROUTER_BREAKER_COOLDOWN_SECONDS else HALF_OPEN


# Atomic in Redis: count the failure and, at the threshold, (re)open the breaker.
_RECORD_FAILURE = """
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if failures >= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'opened_at', ARGV[2])
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return failures
"""

# One round trip for one or more successes, in order: close the breaker, drop any probe, and fold
# each latency sample (ARGV[3] on) into the EWMA (new = alpha * sample + (1 - alpha) * old).
_RECORD_SUCCESS = """
redis.call('DEL', KEYS[2], KEYS[3])
local alpha = tonumber(ARGV[1])
local value = redis.call('GET', KEYS[1])
if value then value = tonumber(value) end
for i = 3, #ARGV do
  local sample = tonumber(ARGV[i])
  if value then value = alpha * sample + (1 - alpha) * value else value = sample end
end
redis.call('SET', KEYS[1], tostring(value), 'EX', ARGV[2])
return tostring(value)
"""


@dataclass(frozen=True)
class _Observed:
    """A deployment's health as read from Redis, and when (monotonic): the breaker's state is
    derived from it at each use, so a cooldown ends on time even in a copy read earlier."""

    read_at: float
    failures: int
    opened_at: float | None
    latency_ms: float | None


class RedisHealthStore:
    """Health shared through Redis. Reads are served from this process's copy for up to
    `freshness_seconds` (default `ROUTER_HEALTH_FRESHNESS_SECONDS`, one second: one HGETALL + MGET
    round trip per second per process instead of one per call): a breaker another process opened
    is seen up to that much later here. What this process
    records itself drops its copy of that deployment, so its own failures count at once."""

    def __init__(
        self,
        url: str,
        *,
        freshness_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, decode_responses=True)
        self._record_failure = self._redis.register_script(_RECORD_FAILURE)
        self._record_success = self._redis.register_script(_RECORD_SUCCESS)
        self._freshness = freshness_seconds
        self._clock = clock
        # Whole immutable entries, each set or dropped in one step (atomic under the GIL): no lock needed.
        self._observed: dict[str, _Observed] = {}

    def snapshot(self, deployments: list[str]) -> dict[str, DeploymentHealth]:
        now = time.time()
        observed = self._observed_now(deployments)
        return {
            name: DeploymentHealth(
                breaker=_breaker_state(seen.failures, seen.opened_at, now), latency_ms=seen.latency_ms
            )
            for name, seen in observed.items()
        }

    def _observed_now(self, deployments: list[str]) -> dict[str, _Observed]:
        read_at = self._clock()
        freshness = settings.ROUTER_HEALTH_FRESHNESS_SECONDS if self._freshness is None else self._freshness
        known = {name: seen for name in deployments if (seen := self._observed.get(name)) is not None}
        if len(known) == len(deployments) and all(read_at - seen.read_at < freshness for seen in known.values()):
            return known
        pipe = self._redis.pipeline(transaction=False)
        for name in deployments:
            pipe.hgetall(f"genai:breaker:{name}")
        pipe.mget([f"genai:latency:{name}" for name in deployments])
        *breakers, latencies = pipe.execute()
        fresh = {}
        for name, breaker, latency in zip(deployments, breakers, latencies, strict=True):
            fresh[name] = self._observed[name] = _Observed(
                read_at=read_at,
                failures=int(breaker.get("failures", 0)),
                opened_at=float(breaker["opened_at"]) if "opened_at" in breaker else None,
                latency_ms=float(latency) if latency else None,
            )
        return fresh

    def try_probe(self, deployment: str) -> bool:
        cooldown = max(1, int(settings.ROUTER_BREAKER_COOLDOWN_SECONDS))
        return bool(self._redis.set(f"genai:probe:{deployment}", "1", nx=True, ex=cooldown))

    def record_success(self, deployment: str, latency_ms: float) -> None:
        self.record_successes(deployment, [latency_ms])

    def record_successes(self, deployment: str, latencies_ms: list[float]) -> None:
        """Successes in the order they happened, in one round trip."""
        self._record_success(
            keys=[f"genai:latency:{deployment}", f"genai:breaker:{deployment}", f"genai:probe:{deployment}"],
            args=[settings.ROUTER_LATENCY_EWMA_ALPHA, _STATE_TTL_SECONDS, *latencies_ms],
        )
        self._observed.pop(deployment, None)  # after the write: a read in between would keep the old state

    def record_failure(self, deployment: str) -> None:
        self._record_failure(
            keys=[f"genai:breaker:{deployment}"],
            args=[settings.ROUTER_BREAKER_FAILURES, time.time(), _STATE_TTL_SECONDS],
        )
        self._redis.delete(f"genai:probe:{deployment}")
        self._observed.pop(deployment, None)


class LocalHealthStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, int] = {}
        self._opened_at: dict[str, float] = {}
        self._latency: dict[str, float] = {}
        self._probes: dict[str, float] = {}

    def snapshot(self, deployments: list[str]) -> dict[str, DeploymentHealth]:
        now = time.time()
        with self._lock:
            return {
                name: DeploymentHealth(
                    breaker=_breaker_state(self._failures.get(name, 0), self._opened_at.get(name), now),
                    latency_ms=self._latency.get(name),
                )
                for name in deployments
            }

    def try_probe(self, deployment: str) -> bool:
        now = time.time()
        with self._lock:
            if now - self._probes.get(deployment, 0.0) < settings.ROUTER_BREAKER_COOLDOWN_SECONDS:
                return False
            self._probes[deployment] = now
            return True

    def record_success(self, deployment: str, latency_ms: float) -> None:
        alpha = settings.ROUTER_LATENCY_EWMA_ALPHA
        with self._lock:
            self._failures.pop(deployment, None)
            self._opened_at.pop(deployment, None)
            self._probes.pop(deployment, None)
            old = self._latency.get(deployment)
            self._latency[deployment] = latency_ms if old is None else alpha * latency_ms + (1 - alpha) * old

    def record_failure(self, deployment: str) -> None:
        with self._lock:
            failures = self._failures.get(deployment, 0) + 1
            self._failures[deployment] = failures
            if failures >= settings.ROUTER_BREAKER_FAILURES:
                self._opened_at[deployment] = time.time()
            self._probes.pop(deployment, None)


class BatchedSuccesses:
    """A worker's outcomes with its successes written at most about once per `interval` per deployment.

    Every call's success was a script round trip in the worker (~6 % of its CPU per call). Here a
    deployment's first success in an interval is written at once (so a probe closes its breaker at
    once, and a new deployment gets its first latency sample), and the ones after it wait in the
    process, at most `interval` seconds, and go to Redis together, folded into the latency average
    in the order they happened. A failure first writes the successes before it, so a breaker
    counts consecutive failures exactly as before, and the success after a failure is written at
    once. What waits is advisory: a latency average moves up to `interval` later; a process killed
    loses its last samples, never a call."""

    def __init__(self, store: RedisHealthStore, *, interval: float = 0.25) -> None:
        self._store = store
        self._interval = interval
        self._lock = threading.Lock()
        self._pending: dict[str, list[float]] = {}
        self._written_at: dict[str, float] = {}  # deployment -> when this process last wrote it (monotonic)
        self._writer_pid = 0

    def snapshot(self, deployments: list[str]) -> dict[str, DeploymentHealth]:
        return self._store.snapshot(deployments)

    def try_probe(self, deployment: str) -> bool:
        return self._store.try_probe(deployment)

    def record_success(self, deployment: str, latency_ms: float) -> None:
        now = time.monotonic()
        with self._lock:
            write_now = deployment not in self._pending and (
                now - self._written_at.get(deployment, float("-inf")) >= self._interval
            )
            if write_now:
                self._written_at[deployment] = now
            else:
                self._pending.setdefault(deployment, []).append(latency_ms)
                self._keep_writing()
        if write_now:
            self._store.record_successes(deployment, [latency_ms])

    def record_failure(self, deployment: str) -> None:
        self.flush(deployment)
        self._store.record_failure(deployment)
        with self._lock:
            self._written_at.pop(deployment, None)  # the next success, maybe a probe's, is written at once

    def flush(self, deployment: str | None = None) -> None:
        """Writes the successes waiting (of one deployment, or all)."""
        with self._lock:
            if deployment is None:
                waiting, self._pending = self._pending, {}
            else:
                waiting = {deployment: self._pending.pop(deployment)} if deployment in self._pending else {}
        for name, latencies in waiting.items():
            self._store.record_successes(name, latencies)
            with self._lock:
                self._written_at[name] = time.monotonic()

    def _keep_writing(self) -> None:
        """Starts this process's writer thread unless it runs (called with the lock held)."""
        if self._writer_pid != os.getpid():  # a forked child inherits the object, not the thread
            self._writer_pid = os.getpid()
            threading.Thread(target=self._write_forever, name="health-successes", daemon=True).start()

    def _write_forever(self) -> None:
        while True:
            time.sleep(self._interval)  # a write period, not a synchronisation
            try:
                self.flush()
            except Exception:
                # Redis away for a moment: these samples are lost, the next ones are written.
                logger.warning("could not record deployment successes", exc_info=True)


@functools.cache
def worker_health_store() -> HealthStore:
    """The store a provider worker records outcomes in: successes batched when Redis is shared."""
    store = health_store()
    if isinstance(store, RedisHealthStore):
        batched = BatchedSuccesses(store)
        atexit.register(batched.flush)  # a worker stopping cleanly writes what waits
        return batched
    return store


@functools.cache
def health_store() -> HealthStore:
    """This process's view of deployment health: Redis when REDIS_URL is set, else in-process."""
    if settings.REDIS_URL:
        return RedisHealthStore(settings.REDIS_URL)
    return LocalHealthStore()
