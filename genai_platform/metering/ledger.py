"""The usage buffer between the request path and the ledger table.

Production: a Redis stream with a consumer group. The gateway appends (one XADD, no database
write on the request path); the flusher reads a batch, inserts it in one transaction, and only
then acknowledges and deletes the entries. A flusher that dies before its commit leaves its
entries pending, and the next flusher claims them after `METERING_CLAIM_IDLE_MS`; one that dies
after the commit but before acknowledging replays entries that the unique request id turns into
no-ops. Delivery is therefore at-least-once into an idempotent insert: exactly one row per request.

Losing Redis (a restart without persistence, a FLUSHDB) would lose the entries not yet flushed, so
each gateway process also appends what it buffers to a local spool (`UsageSpool`: one JSON line per
record, a file per minute, kept METERING_SPOOL_RETENTION_SECONDS). Redis holds an epoch marker
(`genai:epoch`, a random token); every append reads it in the same round trip, and a process that
sees it vanish or change knows Redis lost its data: it replays its spool from the last flushed
watermark into the new stream, and the idempotent insert drops what the ledger already had.

Scale-out: the stream is split in METERING_SHARDS shards (`genai:usage`, `genai:usage:1`, ...), an
event going to the shard of a stable hash of its audit chain (the LOB slug). A flusher takes a short
lease on a shard (a Redis key, SET NX PX) for each batch it reads from it, so at most one flusher
reads a shard at a time: one chain's events reach the ledger in the order they were buffered, while
several flushers work on different shards, and so on different chains and locks, side by side.
Change METERING_SHARDS with the buffer drained (a chain moving shard could otherwise interleave).

Two kinds of entries share a shard (both keyed by the LOB slug): usage events, and the redacted
prompt captures that follow them (`"kind": "capture"`, see `genai_platform.ledger`).

Embedded default (no Redis): no buffer; records are written straight to the database.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Protocol

from django.conf import settings

STREAM = "genai:usage"
GROUP = "ledger"
#: A shard's lease: held by one flusher while it reads and writes a batch of that shard.
SHARD_LEASE_KEY = "genai:ledger:lease:{shard}"
#: A random token written once per Redis dataset: gone or different means Redis lost its data.
EPOCH_KEY = "genai:epoch"
#: Unix time before which every buffered record is known to be in the ledger (set by the flusher).
WATERMARK_KEY = "genai:ledger:watermark"
#: Spooled records this much older than the watermark are replayed too (clock skew between hosts).
WATERMARK_MARGIN_SECONDS = 30


def shard_of(chain: str, shards: int) -> int:
    """The shard of an audit chain's events: the same in every process and after every restart."""
    return zlib.crc32(chain.encode()) % shards


def shard_stream(shard: int) -> str:
    """Shard 0 keeps the historical stream name, so one shard is the unsharded buffer."""
    return STREAM if shard == 0 else f"{STREAM}:{shard}"


def _event_stream(payload: str | dict[str, Any]) -> str:
    event = json.loads(payload) if isinstance(payload, str) else payload
    return shard_stream(shard_of(event.get("lob_slug") or "", settings.METERING_SHARDS))


#: Deletes a lease only if the caller still holds it (a lease that expired may be someone else's now).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class UsageSpool:
    """This process's local copy of the usage it buffered, to replay after a Redis loss.

    Lines are `<unix time> <event JSON>`; files are `usage-<pid>-<minute>.jsonl`, so processes never
    share a file and whole minutes are dropped once older than the retention. Writes go to the
    operating system at once (no fsync): the spool guards against losing Redis, not the host."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        self._path: Path | None = None

    def append(self, payload: str) -> float:
        """Spools one payload; returns its time stamp, exactly as written (so a replay can leave it out)."""
        now = float(f"{time.time():.6f}")
        directory = settings.METERING_SPOOL_DIR
        if not directory:
            return now
        path = Path(directory) / f"usage-{os.getpid()}-{int(now // 60)}.jsonl"
        with self._lock:
            if path != self._path:
                self._rotate(path, now)
            assert self._file is not None
            self._file.write(f"{now:.6f} {payload}\n")
            self._file.flush()
        return now

    def _rotate(self, path: Path, now: float) -> None:
        if self._file is not None:
            self._file.close()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file, self._path = path.open("a", encoding="utf-8"), path
        oldest_minute = int((now - settings.METERING_SPOOL_RETENTION_SECONDS) // 60)
        for old in path.parent.glob(f"usage-{os.getpid()}-*.jsonl"):
            if int(old.stem.rsplit("-", 1)[1]) < oldest_minute:
                old.unlink(missing_ok=True)

    def between(self, not_before: float, before: float) -> Iterator[str]:
        """The spooled event payloads appended from `not_before` up to (not including) `before`."""
        directory = settings.METERING_SPOOL_DIR
        if not directory or not Path(directory).is_dir():
            return
        with self._lock:
            if self._file is not None:
                self._file.flush()
        files = sorted(
            Path(directory).glob(f"usage-{os.getpid()}-*.jsonl"), key=lambda p: int(p.stem.rsplit("-", 1)[1])
        )
        for path in files:
            if (int(path.stem.rsplit("-", 1)[1]) + 1) * 60 < not_before:
                continue
            with path.open(encoding="utf-8") as lines:
                for line in lines:
                    stamp, _, payload = line.rstrip("\n").partition(" ")
                    if payload and not_before <= float(stamp) < before:
                        yield payload


class Pipelined(Protocol):
    """A Redis command that can ride on another's pipeline (`metering.limits.SettleCall`)."""

    def queue(self, pipe: Any) -> None: ...


class RedisStreamBuffer:
    def __init__(self, url: str) -> None:
        import redis

        self.url = url
        self._redis = redis.Redis.from_url(url, decode_responses=True)
        self._group_ready = False
        self._spool = UsageSpool()
        self._epoch: str | None = None
        self._watermark = 0.0
        self._epoch_lock = threading.Lock()

    def append(self, event: dict[str, Any], *, along: Pipelined | None = None) -> Any:
        """Buffers one event (spool, then stream). `along` is a command that rides in the same
        round trip, after the XADD (the call's settlement: the record is buffered first, and a
        failing settlement cannot keep it out); its reply is returned, error included, for the
        caller to read once the event is safely buffered."""
        payload = json.dumps(event)
        stamp = self._spool.append(payload)
        pipe = self._redis.pipeline(transaction=False)
        pipe.xadd(_event_stream(event), {"event": payload})
        pipe.get(EPOCH_KEY)
        pipe.get(WATERMARK_KEY)
        if along is None:
            _, epoch, watermark = pipe.execute()
            reply = None
        else:
            along.queue(pipe)
            added, epoch, watermark, reply = pipe.execute(raise_on_error=False)
            for result in (added, epoch, watermark):
                if isinstance(result, Exception):
                    raise result
        # This record went into the current stream: a replay covers only what was spooled before it.
        self._observe(epoch, watermark, spooled_before=stamp)
        return reply

    def epoch_check(self) -> bool:
        """Reads the epoch marker (and replays the spool if Redis lost its data); True if it did."""
        epoch, watermark = self._redis.mget(EPOCH_KEY, WATERMARK_KEY)
        return self._observe(epoch, watermark, spooled_before=time.time())

    def _observe(self, epoch: str | None, watermark: str | None, *, spooled_before: float) -> bool:
        if epoch is not None and epoch == self._epoch:
            if watermark is not None:
                self._watermark = float(watermark)
            return False
        with self._epoch_lock:
            lost = self._epoch is not None and epoch != self._epoch
            if epoch is None:
                self._redis.set(EPOCH_KEY, secrets.token_hex(8), nx=True)
                epoch = self._redis.get(EPOCH_KEY)
            self._epoch = epoch
            if lost:
                self.spool_replay(not_before=self._watermark - WATERMARK_MARGIN_SECONDS, before=spooled_before)
        return lost

    def spool_replay(self, *, not_before: float, before: float) -> int:
        """Appends this process's records spooled from `not_before` to `before` to the stream again."""
        replayed = 0
        pipe = self._redis.pipeline(transaction=False)
        for payload in self._spool.between(not_before, before):
            pipe.xadd(_event_stream(payload), {"event": payload})
            replayed += 1
            if replayed % 500 == 0:
                pipe.execute()
        pipe.execute()
        return replayed

    def watermark_set(self, flushed_before: float) -> None:
        self._redis.set(WATERMARK_KEY, f"{flushed_before:.3f}")

    @property
    def shards(self) -> int:
        return settings.METERING_SHARDS

    def ensure_group(self) -> None:
        import redis

        if self._group_ready:
            return
        for shard in range(self.shards):
            try:
                self._redis.xgroup_create(shard_stream(shard), GROUP, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self._group_ready = True

    def shard_lease(self, shard: int, owner: str) -> bool:
        """Takes shard `shard` for `owner` unless another flusher holds it. A holder that dies loses
        it after METERING_CLAIM_IDLE_MS, when its unacknowledged entries become claimable too."""
        key = SHARD_LEASE_KEY.format(shard=shard)
        return bool(self._redis.set(key, owner, nx=True, px=settings.METERING_CLAIM_IDLE_MS))

    def shard_release(self, shard: int, owner: str) -> None:
        self._redis.eval(_RELEASE, 1, SHARD_LEASE_KEY.format(shard=shard), owner)

    def shard_backlogs(self) -> list[int]:
        """Entries in each shard's stream (read or not: acknowledged entries are deleted)."""
        pipe = self._redis.pipeline(transaction=False)
        for shard in range(self.shards):
            pipe.xlen(shard_stream(shard))
        return [int(length) for length in pipe.execute()]

    def read_batch(
        self, *, consumer: str, count: int, claim_idle_ms: int, shard: int | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        """Entries abandoned by a dead flusher first, then new ones, from `shard` (every shard when
        None); none are acknowledged yet. Entry ids name their shard: `<shard>/<stream id>`."""
        import redis

        self.ensure_group()
        entries: list[tuple[str, dict[str, Any]]] = []
        for one in range(self.shards) if shard is None else [shard]:
            if len(entries) >= count:
                break
            try:
                read = self._read(one, consumer=consumer, count=count - len(entries), claim_idle_ms=claim_idle_ms)
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                # Redis restarted without the group (or the stream): create it again and read from the start.
                self._group_ready = False
                self.ensure_group()
                read = self._read(one, consumer=consumer, count=count - len(entries), claim_idle_ms=claim_idle_ms)
            entries.extend(read)
        return entries

    def _read(self, shard: int, *, consumer: str, count: int, claim_idle_ms: int) -> list[tuple[str, dict[str, Any]]]:
        stream = shard_stream(shard)
        _, claimed, _ = self._redis.xautoclaim(stream, GROUP, consumer, min_idle_time=claim_idle_ms, count=count)
        entries = [e for e in claimed if e[1]]  # entries deleted meanwhile come back empty
        if len(entries) < count:
            fresh = self._redis.xreadgroup(GROUP, consumer, {stream: ">"}, count=count - len(entries))
            for _, stream_entries in fresh or []:
                entries.extend(stream_entries)
        return [(f"{shard}/{entry_id}", json.loads(fields["event"])) for entry_id, fields in entries]

    def acknowledge(self, entry_ids: list[str]) -> None:
        if not entry_ids:
            return
        by_stream: dict[str, list[str]] = {}
        for entry_id in entry_ids:
            shard, _, stream_id = entry_id.partition("/")
            by_stream.setdefault(shard_stream(int(shard)), []).append(stream_id)
        pipe = self._redis.pipeline()
        for stream, ids in by_stream.items():
            pipe.xack(stream, GROUP, *ids)
            pipe.xdel(stream, *ids)
        pipe.execute()

    def backlog(self) -> int:
        return sum(self.shard_backlogs())

    def pending(self) -> int:
        """Entries delivered to a flusher and not yet acknowledged."""
        pipe = self._redis.pipeline(transaction=False)
        for shard in range(self.shards):
            pipe.xpending(shard_stream(shard), GROUP)
        return sum(
            int(result["pending"]) for result in pipe.execute(raise_on_error=False) if isinstance(result, dict)
        )  # a shard with no stream or group yet answers an error: nothing pending there

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every buffered event not yet removed (pending or not), each shard oldest first, read in pages."""
        for shard in range(self.shards):
            start = "-"
            while True:
                page = self._redis.xrange(shard_stream(shard), min=start, count=1_000)
                for _, fields in page:
                    yield json.loads(fields["event"])
                if len(page) < 1_000:
                    break
                start = "(" + page[-1][0]


def usage_backlog() -> int:
    """Usage records buffered and not yet in the ledger (0 without a buffer)."""
    buffer = usage_buffer()
    return buffer.backlog() if buffer is not None else 0


@functools.cache
def usage_buffer() -> RedisStreamBuffer | None:
    """This process's buffer; None in the embedded default (no Redis), where the ledger's
    `usage_record` writes each record at once."""
    return RedisStreamBuffer(settings.REDIS_URL) if settings.REDIS_URL else None
