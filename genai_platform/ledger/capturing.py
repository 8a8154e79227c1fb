"""The redaction pool: prompt captures redacted in the calling process after the answer is released.

Redacting a capture (the guardrail engine's PII and secrets recognizers over the prompt and answer)
costs milliseconds; done in the flusher it capped the whole ledger at a few hundred records a second.
Here each process (gateway, worker) redacts its own calls' captures on `CAPTURE_THREADS` threads, off
the request path. The pool is bounded: at most `CAPTURE_BOUND` captures wait or run. When it is full
the call's capture keeps its digests only (counted in `genai_capture_redactions_skipped`): the caller
is never blocked and the usage record is never delayed, since billing outranks a capture.

A process that exits normally waits up to `CAPTURE_DRAIN_SECONDS` for the captures it holds (atexit;
Celery workers call `captures_wait` from their shutdown signals, whose pool processes skip atexit).
A process killed outright loses the captures it had not redacted yet, never a usage record or its
audit event: those were buffered before the redaction was queued.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
from collections.abc import Callable

from prometheus_client import Counter

logger = logging.getLogger(__name__)

CAPTURE_THREADS = 2
CAPTURE_BOUND = 1_000
CAPTURE_DRAIN_SECONDS = 5.0

SKIPPED = Counter(
    "genai_capture_redactions_skipped",
    "Prompt captures kept as digests only because this process's redaction pool was full.",
)
FAILED = Counter("genai_capture_redactions_failed", "Prompt captures whose redaction or buffering raised.")


class CapturePool:
    """A bounded pool of daemon threads. `reserve()` takes a place (or says there is none) before the
    caller commits to a pending capture; `submit()` hands the job over for that place."""

    def __init__(self, *, threads: int = CAPTURE_THREADS, bound: int = CAPTURE_BOUND) -> None:
        self._places = threading.BoundedSemaphore(bound)
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._idle = threading.Condition()
        self._held = 0
        self._threads = [threading.Thread(target=self._work, name=f"capture-{n}", daemon=True) for n in range(threads)]
        for thread in self._threads:
            thread.start()

    def reserve(self) -> bool:
        """Takes a place without waiting; False when the pool is full."""
        if not self._places.acquire(blocking=False):
            return False
        with self._idle:
            self._held += 1
        return True

    def cancel(self) -> None:
        """Gives back a place `reserve()` took, the job never submitted (buffering the call failed)."""
        self._done()

    def submit(self, job: Callable[[], None]) -> None:
        """Runs `job` on a pool thread, in a place `reserve()` took."""
        self._jobs.put(job)

    def wait(self, timeout: float) -> bool:
        """Waits until every reserved place is done, at most `timeout` seconds; True if they all are."""
        with self._idle:
            return self._idle.wait_for(lambda: self._held == 0, timeout=timeout)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                job()
            except Exception:
                FAILED.inc()
                logger.exception("a prompt capture was lost")
            finally:
                self._done()

    def _done(self) -> None:
        self._places.release()
        with self._idle:
            self._held -= 1
            self._idle.notify_all()


_pools: dict[int, CapturePool] = {}
_pools_lock = threading.Lock()


def capture_pool() -> CapturePool:
    """This process's pool, started on first use (a forked child starts its own: threads do not fork)."""
    pid = os.getpid()
    pool = _pools.get(pid)
    if pool is None:
        with _pools_lock:
            pool = _pools.get(pid)
            if pool is None:
                pool = _pools[pid] = CapturePool()
                atexit.register(captures_wait)
    return pool


def captures_wait(timeout: float = CAPTURE_DRAIN_SECONDS) -> bool:
    """Waits for this process's captures to be redacted and buffered; True if none is left. A process
    that never captured returns at once."""
    pool = _pools.get(os.getpid())
    if pool is None:
        return True
    done = pool.wait(timeout)
    if not done:
        logger.warning("prompt captures still being redacted after %.1f s: they are lost", timeout)
    return done
