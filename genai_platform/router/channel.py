"""The reply channel: how a worker hands results and stream events back to the waiting gateway.

Each invocation gets its own Redis list; the worker appends JSON messages and the gateway pops
them with BLPOP, so a reply reaches the gateway as soon as it exists (no polling) and a stream
arrives chunk by chunk. Embedded mode (no Redis) uses in-process queues, because eager Celery
runs the task in the gateway's own process.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from django.conf import settings

logger = logging.getLogger(__name__)

#: Replies nobody collects (the gateway gave up) expire instead of piling up.
REPLY_TTL_SECONDS = 300
#: How often a process reads the cancellation flags of every stream it relays (one MGET for all).
CANCEL_WATCH_SECONDS = 0.25
#: The most stream messages a gateway takes in one round trip (BLMPOP's COUNT).
RECEIVE_BATCH = 64
#: A worker relaying a stream reads Redis's acknowledgements once per this many chunks.
PUBLISH_ACK_EVERY = 32

#: Publishes one stream message; what `ReplyChannel.stream_publisher` yields.
Publish = Callable[[dict[str, Any]], None]


class ReplyChannel(Protocol):
    def publish(self, invocation_id: str, message: dict[str, Any]) -> None: ...

    def receive(self, invocation_id: str, timeout: float) -> dict[str, Any] | None: ...

    async def areceive(self, invocation_id: str, timeout: float) -> dict[str, Any] | None:
        """`receive` for the event loop: awaits without holding a thread."""
        ...

    async def areceive_many(self, invocation_id: str, timeout: float, count: int) -> list[dict[str, Any]]:
        """Every message already waiting, up to `count`, in order; else the first one to arrive
        within `timeout`; empty when none did. A stream of fast tokens is read in few round trips."""
        ...

    def stream_publisher(self, invocation_id: str) -> Any:
        """A context manager yielding a `Publish` for one stream's messages, in order; on exit,
        every message has reached the channel (or the exit raises)."""
        ...

    def discard(self, invocation_id: str, *, drained: bool = False) -> None:
        """Forgets an invocation's replies; `drained` says its only message was already taken."""
        ...

    def claim(self, invocation_id: str) -> bool:
        """True for the first worker to take this invocation; a redelivered copy gets False."""
        ...

    def cancel(self, invocation_id: str) -> None: ...

    def is_cancelled(self, invocation_id: str) -> bool: ...


class RedisReplyChannel:
    def __init__(self, url: str) -> None:
        import redis

        self._url = url
        self._redis = redis.Redis.from_url(url, health_check_interval=30)
        self._cancellations = CancellationWatch(self._redis)
        # redis.asyncio clients are bound to the event loop that made them: one per loop.
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()

    @staticmethod
    def _key(invocation_id: str) -> str:
        return f"genai:reply:{invocation_id}"

    def publish(self, invocation_id: str, message: dict[str, Any]) -> None:
        key = self._key(invocation_id)
        pipe = self._redis.pipeline(transaction=False)
        pipe.rpush(key, json.dumps(message))
        pipe.expire(key, REPLY_TTL_SECONDS)
        pipe.execute()

    def receive(self, invocation_id: str, timeout: float) -> dict[str, Any] | None:
        if timeout <= 0:
            return None
        # BLPOP takes fractional seconds since Redis 6; below 10 ms it would mean "block forever".
        popped = self._redis.blpop([self._key(invocation_id)], timeout=max(timeout, 0.01))
        return json.loads(popped[1]) if popped else None

    async def areceive(self, invocation_id: str, timeout: float) -> dict[str, Any] | None:
        if timeout <= 0:
            return None
        popped = await self._async_client().blpop([self._key(invocation_id)], timeout=max(timeout, 0.01))
        return json.loads(popped[1]) if popped else None

    async def areceive_many(self, invocation_id: str, timeout: float, count: int) -> list[dict[str, Any]]:
        if timeout <= 0:
            return []
        popped = await self._async_client().blmpop(
            max(timeout, 0.01), 1, self._key(invocation_id), direction="LEFT", count=count
        )
        return [json.loads(raw) for raw in popped[1]] if popped else []

    @contextmanager
    def stream_publisher(self, invocation_id: str) -> Iterator[Publish]:
        publisher = _StreamPublisher(self._redis.connection_pool, self._key(invocation_id))
        try:
            yield publisher.publish
        except BaseException:
            publisher.abandon()
            raise
        publisher.close()

    def _async_client(self) -> Any:
        loop = asyncio.get_running_loop()
        client = self._async.get(loop)
        if client is None:
            import redis.asyncio

            # Each waiting call holds one connection for its BLPOP: the pool is sized for the
            # gateway's in-flight calls, and a call beyond it waits for a free connection instead
            # of failing (docs/performance.md, "what limits capacity").
            pool = redis.asyncio.BlockingConnectionPool.from_url(
                self._url,
                max_connections=settings.GATEWAY_REDIS_MAX_CONNECTIONS,
                timeout=None,
                health_check_interval=30,
            )
            client = self._async[loop] = redis.asyncio.Redis(connection_pool=pool)
        return client

    def discard(self, invocation_id: str, *, drained: bool = False) -> None:
        # Redis removes a list when its last element is popped: a drained reply costs no round trip.
        if not drained:
            self._redis.delete(self._key(invocation_id))

    def claim(self, invocation_id: str) -> bool:
        return bool(self._redis.set(f"genai:claim:{invocation_id}", "1", nx=True, ex=REPLY_TTL_SECONDS))

    def cancel(self, invocation_id: str) -> None:
        self._redis.set(cancel_key(invocation_id), "1", ex=REPLY_TTL_SECONDS)

    def is_cancelled(self, invocation_id: str) -> bool:
        return self._cancellations.is_cancelled(invocation_id)


class _StreamPublisher:
    """One stream's messages written on one connection, Redis's replies read in batches.

    Each chunk is an RPUSH and an EXPIRE (the gateway's pops empty the list, which deletes the key
    and its TTL, so every push sets it again). Sent at once, so the chunk reaches the gateway
    without delay; only the reading of the two replies is deferred to every `PUBLISH_ACK_EVERY`
    chunks, which is most of a round trip's CPU. A Redis error therefore ends the stream at most
    that many chunks late: the relay stops, and its error reply goes out on a fresh connection.
    """

    def __init__(self, pool: Any, key: str, *, ack_every: int = PUBLISH_ACK_EVERY) -> None:
        self._pool = pool
        self._key = key
        self._ack_every = ack_every
        self._connection = pool.get_connection()
        self._unread = 0  # replies sent for and not read yet: two per message

    def publish(self, message: dict[str, Any]) -> None:
        connection = self._connection
        # No health check here: its PING would read the replies still owed on this connection as
        # its PONG. A dead connection shows when those replies are read.
        connection.send_packed_command(
            connection.pack_commands(
                [("RPUSH", self._key, json.dumps(message)), ("EXPIRE", self._key, REPLY_TTL_SECONDS)]
            ),
            check_health=False,
        )
        self._unread += 2
        if self._unread >= 2 * self._ack_every:
            self._read_replies()

    def _read_replies(self) -> None:
        while self._unread:
            self._unread -= 1
            self._connection.read_response()  # raises the first error Redis answered

    def close(self) -> None:
        """Waits for every message to be acknowledged, then returns the connection to the pool."""
        try:
            self._read_replies()
        except BaseException:
            self.abandon()
            raise
        self._pool.release(self._connection)

    def abandon(self) -> None:
        """Returns the connection in a clean state whatever was left unread on it."""
        self._connection.disconnect()
        self._pool.release(self._connection)


def cancel_key(invocation_id: str) -> str:
    """The mark a cancelled invocation leaves (its caller gave up): workers skip or stop it."""
    return f"genai:cancel:{invocation_id}"


class CancellationWatch:
    """The cancellation flags of every invocation a process is relaying, read with one MGET per interval.

    A relaying worker asks about each of its streams every quarter second; with a thousand streams
    open that was a thousand EXISTS round trips a second from one process. Here the first question
    about an invocation is answered exactly (one EXISTS) and starts watching it; later questions are
    answered from the last read, at most `interval` old. An invocation not asked about for
    `forget_after` seconds (its stream ended) is no longer read."""

    def __init__(
        self,
        client: Any,
        *,
        interval: float = CANCEL_WATCH_SECONDS,
        forget_after: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = client
        self._interval = interval
        self._forget_after = forget_after
        self._clock = clock
        self._lock = threading.Lock()
        self._asked: dict[str, float] = {}  # invocation id -> when it was last asked about
        self._cancelled: set[str] = set()
        self._reader: threading.Thread | None = None
        self._reader_pid = 0

    def is_cancelled(self, invocation_id: str) -> bool:
        with self._lock:
            watched = invocation_id in self._asked
            self._asked[invocation_id] = self._clock()
            if invocation_id in self._cancelled:
                return True
        self._ensure_reader()
        if watched:
            return False
        cancelled = bool(self._redis.exists(cancel_key(invocation_id)))
        if cancelled:
            with self._lock:
                self._cancelled.add(invocation_id)
        return cancelled

    def refresh(self) -> None:
        """One read of every watched flag (the reader thread's loop body)."""
        with self._lock:
            stale = self._clock() - self._forget_after
            for invocation_id in [i for i, asked in self._asked.items() if asked < stale]:
                del self._asked[invocation_id]
                self._cancelled.discard(invocation_id)
            watched = [i for i in self._asked if i not in self._cancelled]
        if not watched:
            return
        flags = self._redis.mget([cancel_key(i) for i in watched])
        with self._lock:
            self._cancelled.update(i for i, flag in zip(watched, flags, strict=True) if flag is not None)

    def _ensure_reader(self) -> None:
        # A forked child (a prefork worker) inherits the object but not the thread.
        if self._reader is not None and self._reader_pid == os.getpid():
            return
        with self._lock:
            if self._reader is not None and self._reader_pid == os.getpid():
                return
            self._reader_pid = os.getpid()
            self._reader = threading.Thread(target=self._read_forever, name="cancellation-watch", daemon=True)
            self._reader.start()

    def _read_forever(self) -> None:
        while True:
            time.sleep(self._interval)  # a poll period, not a synchronisation
            try:
                self.refresh()
            except Exception:
                # Redis away for a moment: streams go on and the next read catches up.
                logger.warning("could not read cancellation flags", exc_info=True)


class LocalReplyChannel:
    def __init__(self) -> None:
        self._queues: dict[str, queue.Queue[dict[str, Any]]] = {}
        self._claimed: set[str] = set()
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()

    def _queue(self, invocation_id: str) -> queue.Queue[dict[str, Any]]:
        with self._lock:
            return self._queues.setdefault(invocation_id, queue.Queue())

    def publish(self, invocation_id: str, message: dict[str, Any]) -> None:
        self._queue(invocation_id).put(message)

    def receive(self, invocation_id: str, timeout: float) -> dict[str, Any] | None:
        if timeout <= 0:
            return None
        try:
            return self._queue(invocation_id).get(timeout=timeout)
        except queue.Empty:
            return None

    async def areceive(self, invocation_id: str, timeout: float) -> dict[str, Any] | None:
        # Eager Celery ran the task before the wait: the reply is usually there already.
        try:
            return self._queue(invocation_id).get_nowait()
        except queue.Empty:
            return await asyncio.to_thread(self.receive, invocation_id, timeout)

    async def areceive_many(self, invocation_id: str, timeout: float, count: int) -> list[dict[str, Any]]:
        first = await self.areceive(invocation_id, timeout)
        if first is None:
            return []
        messages, waiting = [first], self._queue(invocation_id)
        while len(messages) < count:
            try:
                messages.append(waiting.get_nowait())
            except queue.Empty:
                break
        return messages

    @contextmanager
    def stream_publisher(self, invocation_id: str) -> Iterator[Publish]:
        yield functools.partial(self.publish, invocation_id)

    def discard(self, invocation_id: str, *, drained: bool = False) -> None:
        with self._lock:
            self._queues.pop(invocation_id, None)
            self._claimed.discard(invocation_id)
            self._cancelled.discard(invocation_id)

    def claim(self, invocation_id: str) -> bool:
        with self._lock:
            if invocation_id in self._claimed:
                return False
            self._claimed.add(invocation_id)
            return True

    def cancel(self, invocation_id: str) -> None:
        with self._lock:
            self._cancelled.add(invocation_id)

    def is_cancelled(self, invocation_id: str) -> bool:
        with self._lock:
            return invocation_id in self._cancelled


@functools.cache
def reply_channel() -> ReplyChannel:
    """This process's channel: Redis when REDIS_URL is set, else in-process queues."""
    if settings.REDIS_URL:
        return RedisReplyChannel(settings.REDIS_URL)
    return LocalReplyChannel()
