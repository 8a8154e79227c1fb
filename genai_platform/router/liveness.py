"""Is the worker serving an invocation still alive? Noticing a dead worker within seconds.

With the Redis broker a worker killed mid-call (kill -9, OOM, a node lost) leaves its task
unacknowledged until the broker's visibility timeout (`CELERY_VISIBILITY_TIMEOUT_SECONDS`, minutes:
shorter would redeliver long streams still running), so the gateway would wait out the request's
deadline for a reply that never comes. Instead:

- the worker marks each invocation it takes as started and keeps a short-lived beat key fresh
  while it works (`invocation_started` / `invocation_finished`). One daemon thread per worker
  process (while it has invocations) refreshes the beats of all of them in one pipelined round
  trip each `ROUTER_WORKER_BEAT_SECONDS`: no thread per call, one small key per call in flight;
- the gateway waits for a reply in slices of `ROUTER_WORKER_BEAT_SECONDS`; after a slice with no
  message it reads the invocation's two keys (one MGET). Started but without a beat for
  `ROUTER_WORKER_LOST_AFTER_SECONDS` means the worker is gone: the wait is answered with a
  retryable `unavailable` error, as if the worker had sent it. Before the first byte the router
  then dispatches the call again (router/dispatch.py: another attempt, same request id, so the
  call is metered once, by the gateway); after it, the stream ends with an error event at once.
  The lost invocation is cancelled, so a copy the broker redelivers later (RabbitMQ: at once,
  when the dead worker's connection drops) is skipped instead of calling the provider again.

A call still queued (not started) is left to wait: nothing was lost yet. The embedded default
(eager tasks in the gateway's own process) has no worker to lose: plain waits.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
import time
import weakref
from typing import Any, Protocol

from django.conf import settings

from genai_platform.providers.types import ErrorKind, ProviderError

from .channel import ReplyChannel

logger = logging.getLogger(__name__)

#: A started mark outlives any call (the request deadline is far shorter).
_STARTED_TTL_SECONDS = 600


def lost_reply() -> dict[str, Any]:
    """The reply a wait gets for an invocation whose worker died: a retryable error."""
    error = ProviderError(ErrorKind.UNAVAILABLE, "the worker serving this call was lost")
    return {"type": "error", "error": error.to_dict(), "worker_lost": True}


class Liveness(Protocol):
    #: Whether waits should look for lost workers at all.
    watching: bool

    def invocation_started(self, invocation_id: str) -> bool:
        """Marks the invocation started and beating; False if its caller cancelled it (skip it)."""
        ...

    def invocation_finished(self, invocation_id: str) -> None: ...

    def is_lost(self, invocation_id: str) -> bool:
        """Started, and no beat since `ROUTER_WORKER_LOST_AFTER_SECONDS`."""
        ...

    async def ais_lost(self, invocation_id: str) -> bool: ...


class RedisLiveness:
    watching = True

    def __init__(self, url: str) -> None:
        import redis

        self._url = url
        self._redis = redis.Redis.from_url(url, health_check_interval=30)
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()
        self._beating: set[str] = set()
        self._lock = threading.Lock()
        # The process whose beat thread runs (a forked child starts its own), while it has work.
        self._beater_pid: int | None = None

    @staticmethod
    def _keys(invocation_id: str) -> tuple[str, str]:
        return f"genai:started:{invocation_id}", f"genai:beat:{invocation_id}"

    def invocation_started(self, invocation_id: str) -> bool:
        started, beat = self._keys(invocation_id)
        pipe = self._redis.pipeline(transaction=False)
        pipe.exists(f"genai:cancel:{invocation_id}")  # router/channel.py's cancel mark
        pipe.set(started, "1", ex=_STARTED_TTL_SECONDS)
        pipe.set(beat, "1", px=_lost_after_ms())
        cancelled = pipe.execute()[0]
        if cancelled:
            return False
        with self._lock:
            self._beating.add(invocation_id)
            if self._beater_pid != os.getpid():
                self._beater_pid = os.getpid()
                threading.Thread(target=self._beat_while_busy, name="invocation-beats", daemon=True).start()
        return True

    def invocation_finished(self, invocation_id: str) -> None:
        # The beat key is left to expire: the reply is already published, and a wait that looks
        # at the keys before reading it finds the reply first (`areceive_alive`).
        with self._lock:
            self._beating.discard(invocation_id)

    def is_lost(self, invocation_id: str) -> bool:
        started, beat = self._redis.mget(self._keys(invocation_id))
        return started is not None and beat is None

    async def ais_lost(self, invocation_id: str) -> bool:
        started, beat = await self._async_client().mget(self._keys(invocation_id))
        return started is not None and beat is None

    def _async_client(self) -> Any:
        loop = asyncio.get_running_loop()
        client = self._async.get(loop)
        if client is None:
            import redis.asyncio

            # A check is one quick MGET after an empty wait: a small pool serves every call in flight.
            pool = redis.asyncio.BlockingConnectionPool.from_url(self._url, max_connections=64, timeout=None)
            client = self._async[loop] = redis.asyncio.Redis(connection_pool=pool)
        return client

    def _beat_while_busy(self) -> None:
        """Refreshes the beats until this process runs no invocation (an idle worker does nothing)."""
        interval, ttl_ms = settings.ROUTER_WORKER_BEAT_SECONDS, _lost_after_ms()
        while True:
            time.sleep(interval)  # a period, not a synchronisation: each start set its first beat
            with self._lock:
                beating = list(self._beating)
                if not beating:
                    self._beater_pid = None  # the next invocation starts a new beat thread
                    return
            try:
                pipe = self._redis.pipeline(transaction=False)
                for invocation_id in beating:
                    pipe.set(self._keys(invocation_id)[1], "1", px=ttl_ms)
                pipe.execute()
            except Exception:
                # A missed beat or two is survivable (the TTL spans several); a dead thread is not.
                logger.warning("could not refresh %d invocation beats", len(beating), exc_info=True)


class LocalLiveness:
    """Embedded default: the task runs in the caller's own process, so its worker cannot be lost."""

    watching = False

    def invocation_started(self, invocation_id: str) -> bool:
        return True

    def invocation_finished(self, invocation_id: str) -> None:
        return None

    def is_lost(self, invocation_id: str) -> bool:
        return False

    async def ais_lost(self, invocation_id: str) -> bool:
        return False


def _lost_after_ms() -> int:
    return int(settings.ROUTER_WORKER_LOST_AFTER_SECONDS * 1000)


@functools.cache
def liveness() -> Liveness:
    """This process's liveness store: Redis when REDIS_URL is set, else none needed."""
    if settings.REDIS_URL:
        return RedisLiveness(settings.REDIS_URL)
    return LocalLiveness()


def receive_alive(channel: ReplyChannel, invocation_id: str, timeout: float) -> dict[str, Any] | None:
    """`channel.receive`, answered early with `lost_reply()` when the invocation's worker died."""
    store = liveness()
    if not store.watching:
        return channel.receive(invocation_id, timeout)
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        message = channel.receive(invocation_id, min(remaining, settings.ROUTER_WORKER_BEAT_SECONDS))
        if message is not None or remaining <= settings.ROUTER_WORKER_BEAT_SECONDS:
            return message
        if store.is_lost(invocation_id):
            return _given_up(channel, invocation_id, channel.receive(invocation_id, 0.01))


async def areceive_alive(channel: ReplyChannel, invocation_id: str, timeout: float) -> dict[str, Any] | None:
    """`channel.areceive`, answered early with `lost_reply()` when the invocation's worker died."""
    store = liveness()
    if not store.watching:
        return await channel.areceive(invocation_id, timeout)
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        message = await channel.areceive(invocation_id, min(remaining, settings.ROUTER_WORKER_BEAT_SECONDS))
        if message is not None or remaining <= settings.ROUTER_WORKER_BEAT_SECONDS:
            return message
        if await store.ais_lost(invocation_id):
            return _given_up(channel, invocation_id, await channel.areceive(invocation_id, 0.01))


def _given_up(channel: ReplyChannel, invocation_id: str, last_look: dict[str, Any] | None) -> dict[str, Any]:
    if last_look is not None:  # the worker answered, then its beat expired before this wait looked
        return last_look
    logger.warning("invocation %s: its worker stopped beating; giving it up", invocation_id)
    channel.cancel(invocation_id)  # a redelivered copy is skipped, not run again
    return lost_reply()
