"""The usage buffer between the request path and the ledger table.

Production: a Redis stream with a consumer group. The gateway appends (one XADD, no database
write on the request path); the flusher reads a batch, inserts it in one transaction, and only
then acknowledges and deletes the entries. A flusher that dies before its commit leaves its
entries pending, and the next flusher claims them after `METERING_CLAIM_IDLE_MS`; one that dies
after the commit but before acknowledging replays entries that the unique request id turns into
no-ops. Delivery is therefore at-least-once into an idempotent insert: exactly one row per request.

Embedded default (no Redis): records are written straight to the database.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, Protocol

from django.conf import settings

STREAM = "genai:usage"
GROUP = "ledger"


class UsageBuffer(Protocol):
    def append(self, event: dict[str, Any]) -> None: ...


class RedisStreamBuffer:
    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, decode_responses=True)
        self._group_ready = False

    def append(self, event: dict[str, Any]) -> None:
        self._redis.xadd(STREAM, {"event": json.dumps(event)})

    def ensure_group(self) -> None:
        import redis

        if self._group_ready:
            return
        try:
            self._redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def read_batch(self, *, consumer: str, count: int, claim_idle_ms: int) -> list[tuple[str, dict[str, Any]]]:
        """Entries abandoned by a dead flusher first, then new ones; none are acknowledged yet."""
        import redis

        self.ensure_group()
        try:
            return self._read(consumer=consumer, count=count, claim_idle_ms=claim_idle_ms)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # Redis restarted without the group (or the stream): create it again and read from the start.
            self._group_ready = False
            self.ensure_group()
            return self._read(consumer=consumer, count=count, claim_idle_ms=claim_idle_ms)

    def _read(self, *, consumer: str, count: int, claim_idle_ms: int) -> list[tuple[str, dict[str, Any]]]:
        _, claimed, _ = self._redis.xautoclaim(STREAM, GROUP, consumer, min_idle_time=claim_idle_ms, count=count)
        entries = [e for e in claimed if e[1]]  # entries deleted meanwhile come back empty
        if len(entries) < count:
            fresh = self._redis.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=count - len(entries))
            for _, stream_entries in fresh or []:
                entries.extend(stream_entries)
        return [(entry_id, json.loads(fields["event"])) for entry_id, fields in entries]

    def acknowledge(self, entry_ids: list[str]) -> None:
        if not entry_ids:
            return
        pipe = self._redis.pipeline()
        pipe.xack(STREAM, GROUP, *entry_ids)
        pipe.xdel(STREAM, *entry_ids)
        pipe.execute()

    def backlog(self) -> int:
        return self._redis.xlen(STREAM)


class DirectBuffer:
    """Writes each record at once: the embedded default has no Redis to buffer in."""

    def __init__(self, write: Callable[[list[dict[str, Any]]], int]) -> None:
        self._write = write

    def append(self, event: dict[str, Any]) -> None:
        self._write([event])


@functools.cache
def usage_buffer() -> UsageBuffer:
    if settings.REDIS_URL:
        return RedisStreamBuffer(settings.REDIS_URL)
    from .services import usage_records_write

    return DirectBuffer(usage_records_write)
