"""Is the worker holding an invocation still alive? Noticing a dead worker within seconds.

With the Redis broker a worker killed (kill -9, OOM, a node lost) leaves the messages it took
unacknowledged until the broker's visibility timeout (`CELERY_VISIBILITY_TIMEOUT_SECONDS`, minutes:
shorter would redeliver long streams still running), so the gateway would wait out the request's
deadline for a reply that never comes. Instead:

- a worker marks each invocation *held* as soon as the broker hands it over (Celery's
  `task_received`, in the consuming process: a call prefetched behind a busy one counts, not only
  the call running) and keeps a short-lived *alive* key fresh until the call ends. One daemon thread
  per process (while it holds invocations) refreshes all of them in one round trip each
  `ROUTER_WORKER_BEAT_SECONDS`: no thread per call, two small keys per call held;
- the held key names its holder (a token per process). When a prefork child starts the call it
  writes its own token, and the parent, which received it, lets go at its next beat: a child killed
  mid-call is then noticed even though its parent lives on. A forked child starts with no holds of
  its own (`os.register_at_fork`), so it never keeps its parent's calls alive after the parent died;
- the gateway waits for a reply in slices of `ROUTER_WORKER_BEAT_SECONDS` (the first one longer:
  `ROUTER_WORKER_LOST_AFTER_SECONDS` minus a beat, before which no loss can show); after a slice with
  no message it reads the invocation's two keys (one MGET). Held but not alive for
  `ROUTER_WORKER_LOST_AFTER_SECONDS` means the worker is gone: the wait is answered with a
  retryable `unavailable` error, as if the worker had sent it. Before the first byte the router
  then dispatches the call again (router/dispatch.py: another attempt, same request id, so the
  call is metered once, by the gateway); after it, the stream ends with an error event at once.
  The lost invocation is cancelled, so a copy the broker redelivers later (RabbitMQ: at once, when
  the dead worker's connection drops) is skipped instead of calling the provider again; one
  redelivered after its deadline is dropped by Celery itself (it is sent with `expires`).

A call still queued (no worker received it) is left to wait: nothing was lost yet. What remains
unseen is a message popped from the broker by a process killed before `task_received` ran for it
(microseconds); it waits for the broker's redelivery. The embedded default (eager tasks in the
gateway's own process) has no worker to lose: plain waits.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import threading
import time
import uuid
import weakref
from typing import Any, Protocol

from django.conf import settings

from genai_platform.providers.types import ErrorKind, ProviderError

from .channel import ReplyChannel, cancel_key

logger = logging.getLogger(__name__)

#: The Celery task that runs invocations (router/tasks.py); the only one whose messages are held.
INVOCATION_TASK = "router.invoke_provider"

#: A held mark outlives any call (the request deadline is far shorter); it also bounds how long a
#: hold nobody released (a worker bug) can be kept alive.
_HELD_TTL_SECONDS = 600

# For each (held, alive) pair of keys: refresh alive while held still names this process; 0 for a
# pair another process took over (a prefork child started the call) or whose mark has expired.
_REFRESH_HELD = """
local kept = {}
for i = 1, #KEYS, 2 do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('SET', KEYS[i + 1], '1', 'PX', ARGV[2])
    kept[#kept + 1] = 1
  else
    kept[#kept + 1] = 0
  end
end
return kept
"""


def lost_reply() -> dict[str, Any]:
    """The reply a wait gets for an invocation whose worker died: a retryable error."""
    error = ProviderError(ErrorKind.UNAVAILABLE, "the worker serving this call was lost")
    return {"type": "error", "error": error.to_dict(), "worker_lost": True}


class Liveness(Protocol):
    #: Whether waits should look for lost workers at all.
    watching: bool

    def invocation_received(self, invocation_id: str) -> None:
        """This process holds the invocation (not started yet) and keeps it alive until it lets go."""
        ...

    def invocation_released(self, invocation_id: str) -> None:
        """This process will not run the invocation after all (Celery revoked it: expired)."""
        ...

    def invocation_started(self, invocation_id: str) -> bool:
        """Holds the invocation and keeps it alive while it runs here; False if its caller
        cancelled it (skip it: nothing is held then)."""
        ...

    def invocation_finished(self, invocation_id: str) -> None: ...

    def is_lost(self, invocation_id: str) -> bool:
        """Held, and not kept alive for `ROUTER_WORKER_LOST_AFTER_SECONDS`."""
        ...

    async def ais_lost(self, invocation_id: str) -> bool: ...


class RedisLiveness:
    watching = True

    def __init__(self, url: str) -> None:
        import redis

        self._url = url
        self._redis = redis.Redis.from_url(url, health_check_interval=30)
        self._refresh = self._redis.register_script(_REFRESH_HELD)
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()
        self._start_afresh()
        # A forked child (a prefork pool process) must not keep its parent's calls alive: were the
        # parent killed, they would look held forever. `os.register_at_fork` has no unregister, so
        # it holds this store weakly.
        os.register_at_fork(after_in_child=functools.partial(_start_afresh_after_fork, weakref.ref(self)))

    def _start_afresh(self) -> None:
        """No holds, a token of its own and no beat thread: a new store, or a forked child's copy."""
        self._token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._holds: set[str] = set()
        self._released: set[str] = set()  # marks to delete at the next beat
        self._lock = threading.Lock()  # a fresh one: another thread may have held the parent's at the fork
        self._beater_pid: int | None = None  # the process whose beat thread runs, while it holds calls

    @staticmethod
    def _keys(invocation_id: str) -> tuple[str, str]:
        # Not under `genai:beat:`, which is celery-redbeat's key prefix (CELERY_REDBEAT_KEY_PREFIX).
        return f"genai:held:{invocation_id}", f"genai:alive:{invocation_id}"

    def holding(self) -> frozenset[str]:
        """The invocations this process keeps alive now."""
        with self._lock:
            return frozenset(self._holds)

    def invocation_received(self, invocation_id: str) -> None:
        held, alive = self._keys(invocation_id)
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(held, self._token, ex=_HELD_TTL_SECONDS)
        pipe.set(alive, "1", px=_lost_after_ms())
        pipe.execute()
        self._hold(invocation_id)

    def invocation_released(self, invocation_id: str) -> None:
        self._let_go(invocation_id)

    def invocation_started(self, invocation_id: str) -> bool:
        with self._lock:
            # A thread-pool worker received the call in this very process: its marks name this
            # process already and are beaten for, so only the cancellation is read.
            received_here = invocation_id in self._holds
        if received_here:
            cancelled = self._redis.exists(cancel_key(invocation_id))
        else:
            held, alive = self._keys(invocation_id)
            pipe = self._redis.pipeline(transaction=False)
            pipe.exists(cancel_key(invocation_id))
            pipe.set(held, self._token, ex=_HELD_TTL_SECONDS)  # a prefork child takes over from its parent
            pipe.set(alive, "1", px=_lost_after_ms())
            cancelled = pipe.execute()[0]
        if cancelled:
            self._let_go(invocation_id)
            return False
        self._hold(invocation_id)
        return True

    def invocation_finished(self, invocation_id: str) -> None:
        # The reply is already published, and a wait that looks at the keys before reading it
        # finds the reply first (`areceive_alive`): the marks go at the next beat, batched.
        self._let_go(invocation_id)

    def is_lost(self, invocation_id: str) -> bool:
        held, alive = self._redis.mget(self._keys(invocation_id))
        return held is not None and alive is None

    async def ais_lost(self, invocation_id: str) -> bool:
        held, alive = await self._async_client().mget(self._keys(invocation_id))
        return held is not None and alive is None

    def _hold(self, invocation_id: str) -> None:
        with self._lock:
            self._holds.add(invocation_id)
            self._released.discard(invocation_id)
            self._keep_beating()

    def _let_go(self, invocation_id: str) -> None:
        with self._lock:
            self._holds.discard(invocation_id)
            self._released.add(invocation_id)
            self._keep_beating()

    def _keep_beating(self) -> None:
        """Starts this process's beat thread unless it runs (called with the lock held)."""
        if self._beater_pid != os.getpid():
            self._beater_pid = os.getpid()
            threading.Thread(target=self._beat_while_holding, name="invocation-beats", daemon=True).start()

    def _async_client(self) -> Any:
        loop = asyncio.get_running_loop()
        client = self._async.get(loop)
        if client is None:
            import redis.asyncio

            # A check is one quick MGET after an empty wait: a small pool serves every call in flight.
            pool = redis.asyncio.BlockingConnectionPool.from_url(self._url, max_connections=64, timeout=None)
            client = self._async[loop] = redis.asyncio.Redis(connection_pool=pool)
        return client

    def _beat_while_holding(self) -> None:
        """Keeps this process's holds alive until it has none (an idle worker does nothing)."""
        interval, ttl_ms = settings.ROUTER_WORKER_BEAT_SECONDS, _lost_after_ms()
        while True:
            time.sleep(interval)  # a period, not a synchronisation: each hold set its first beat
            with self._lock:
                holds, released = list(self._holds), list(self._released)
                self._released.clear()
                if not holds and not released:
                    self._beater_pid = None  # the next hold starts a new beat thread
                    return
            try:
                pipe = self._redis.pipeline(transaction=False)
                for invocation_id in released:
                    pipe.delete(*self._keys(invocation_id))
                if holds:
                    keys = [key for invocation_id in holds for key in self._keys(invocation_id)]
                    self._refresh(keys=keys, args=[self._token, ttl_ms], client=pipe)
                kept = pipe.execute()[-1] if holds else []
            except Exception:
                # A missed beat or two is survivable (the TTL spans several); a dead thread is not.
                logger.warning("could not refresh %d invocation holds", len(holds), exc_info=True)
                continue
            taken_over = [invocation_id for invocation_id, still in zip(holds, kept, strict=True) if not still]
            if taken_over:
                with self._lock:
                    self._holds.difference_update(taken_over)


def _start_afresh_after_fork(store: weakref.ref[RedisLiveness]) -> None:
    alive = store()
    if alive is not None:
        alive._start_afresh()


class LocalLiveness:
    """Embedded default: the task runs in the caller's own process, so its worker cannot be lost."""

    watching = False

    def invocation_received(self, invocation_id: str) -> None:
        return None

    def invocation_released(self, invocation_id: str) -> None:
        return None

    def invocation_started(self, invocation_id: str) -> bool:
        return True

    def invocation_finished(self, invocation_id: str) -> None:
        return None

    def is_lost(self, invocation_id: str) -> bool:
        return False

    async def ais_lost(self, invocation_id: str) -> bool:
        return False


def hold_received_invocations() -> None:
    """Connects the worker's signals (once, from genai_platform/celery.py): an invocation is held
    from the moment the broker hands it to this worker, and let go if Celery revokes it unrun."""
    from celery.signals import task_received, task_revoked

    task_received.connect(_on_task_received, weak=False)
    task_revoked.connect(_on_task_revoked, weak=False)


# An invocation is sent as a task whose id is the invocation's (router/dispatch.py).


def _on_task_received(request: Any, **_: Any) -> None:
    if request.name == INVOCATION_TASK:
        liveness().invocation_received(request.id)


def _on_task_revoked(request: Any, sender: Any = None, **_: Any) -> None:
    # Celery revokes a call received after its `expires` (the deadline) before `task_received`,
    # and one whose deadline passed while it waited here after it: only the second was held.
    if getattr(sender, "name", None) == INVOCATION_TASK:
        liveness().invocation_released(request.id)


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
    wait = _first_slice()
    while True:
        remaining = deadline - time.monotonic()
        message = channel.receive(invocation_id, min(remaining, wait))
        if message is not None or remaining <= wait:
            return message
        if store.is_lost(invocation_id):
            return _given_up(channel, invocation_id, channel.receive(invocation_id, 0.01))
        wait = settings.ROUTER_WORKER_BEAT_SECONDS


async def areceive_alive(channel: ReplyChannel, invocation_id: str, timeout: float) -> dict[str, Any] | None:
    """`channel.areceive`, answered early with `lost_reply()` when the invocation's worker died."""
    messages = await areceive_many_alive(channel, invocation_id, timeout, count=1)
    return messages[0] if messages else None


async def areceive_many_alive(
    channel: ReplyChannel, invocation_id: str, timeout: float, *, count: int
) -> list[dict[str, Any]]:
    """`channel.areceive_many`, answered early with `[lost_reply()]` when the invocation's worker died."""
    store = liveness()
    if not store.watching:
        return await channel.areceive_many(invocation_id, timeout, count)
    deadline = time.monotonic() + timeout
    wait = _first_slice()
    while True:
        remaining = deadline - time.monotonic()
        messages = await channel.areceive_many(invocation_id, min(remaining, wait), count)
        if messages or remaining <= wait:
            return messages
        if await store.ais_lost(invocation_id):
            return [_given_up(channel, invocation_id, await channel.areceive(invocation_id, 0.01))]
        wait = settings.ROUTER_WORKER_BEAT_SECONDS


def _first_slice() -> float:
    """How long a wait runs before its first look at the worker's liveness.

    A worker's alive key lasts `ROUTER_WORKER_LOST_AFTER_SECONDS` from its last beat, so no loss can
    show before about that long minus one beat; looking earlier costs a round trip (and a wake-up)
    for nothing, and at a one-second upstream that was one extra MGET and BLPOP per call."""
    beat = settings.ROUTER_WORKER_BEAT_SECONDS
    return max(beat, settings.ROUTER_WORKER_LOST_AFTER_SECONDS - beat)


def _given_up(channel: ReplyChannel, invocation_id: str, last_look: dict[str, Any] | None) -> dict[str, Any]:
    if last_look is not None:  # the worker answered, then its beat expired before this wait looked
        return last_look
    logger.warning("invocation %s: its worker stopped beating; giving it up", invocation_id)
    channel.cancel(invocation_id)  # a redelivered copy is skipped, not run again
    return lost_reply()
