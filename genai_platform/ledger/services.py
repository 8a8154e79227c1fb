"""The ledger's writes: a call's usage into the buffer, then buffered entries into the ledger.

Two kinds of entries travel through the buffer (`genai_platform.metering.ledger`), both in the shard
of their LOB's audit chain:
- `usage` (the default): one per call, appended at once by `usage_record`. A `redacted` prompt
  capture is not in it: it holds the digests of what was said and `"redaction": "pending"`.
- `capture`: the redacted capture of one call, appended later by the process that made the call
  (`capturing`), once redacted.
The flusher writes usage entries as ledger rows with their `inference.*` audit events, and capture
entries as captured exchanges with an `inference.capture` audit event holding the stored texts'
digests, whether or not the call's usage row is in the same batch. Each kind is idempotent on its
request id, so a replayed or duplicated entry is a no-op.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import secrets
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction

from genai_platform.audit.models import CENTRAL_CHAIN
from genai_platform.audit.services import AuditEntry, audit_chains_lock, audit_record_batch
from genai_platform.metering.ledger import RedisStreamBuffer, usage_buffer
from genai_platform.metering.services import (
    PendingSettlement,
    PreparedUsage,
    usage_batch_insert,
    usage_dead_letter,
    usage_prepare,
)
from governance.capture import capture_digests, capture_finalize, capture_needs_redaction, capture_pending
from governance.services.captures import captured_exchange_row, captured_exchanges_insert

from .capturing import SKIPPED, capture_pool

USAGE, CAPTURE = "usage", "capture"


def usage_record(event: dict[str, Any], *, settlement: PendingSettlement | None = None) -> None:
    """Puts one call's usage event in the durable buffer at once (never a database write on the
    request path), then queues the redaction of its `redacted` prompt capture, if any, to this
    process's redaction pool, which buffers the capture when done. Without Redis (the embedded
    default) the record, capture included, is written at once.

    `settlement`, the call's limits settlement, shares the XADD's round trip when it can (after the
    XADD: billing first); otherwise it runs alone just before, as it always did."""
    buffer = usage_buffer()
    call = settlement.call_on(buffer.url) if settlement is not None and buffer is not None else None
    if settlement is not None and call is None:
        settlement.run()
    if buffer is None:
        usage_records_write([event])
        return
    capture = event.get("capture")
    if capture is None or not capture_needs_redaction(capture):
        reply = buffer.append(event, along=call)
    else:
        pool = capture_pool()
        queued = pool.reserve()
        if not queued:
            SKIPPED.inc()
        try:
            # Billing first: the usage record is in the buffer before any redaction starts.
            reply = buffer.append(
                {**event, "capture": capture_pending(capture, redaction="pending" if queued else "skipped")}, along=call
            )
        except BaseException:
            if queued:
                pool.cancel()
            raise
        if queued:
            pool.submit(functools.partial(_capture_buffer, buffer, event, capture))
    if settlement is not None and call is not None:
        settlement.finish(call, reply)


def _capture_buffer(buffer: RedisStreamBuffer, event: dict[str, Any], capture: dict[str, Any]) -> None:
    buffer.append(
        {
            "kind": CAPTURE,
            "request_id": event["request_id"],
            "lob_id": event["lob_id"],
            "use_case_id": event["use_case_id"],
            "lob_slug": event.get("lob_slug", ""),  # the shard key: the usage entry's shard
            "key_prefix": event.get("key_prefix", ""),
            "captured_at": event["occurred_at"],
            "capture": capture_finalize(capture),
        }
    )


@dataclass(frozen=True)
class _Entry:
    """One buffered entry parsed outside any transaction (parsing, and redaction for the embedded default)."""

    event: dict[str, Any]
    chain: str
    usage: PreparedUsage | None = None
    capture_row: tuple[Any, ...] | None = None
    capture_audit: AuditEntry | None = None

    @property
    def request_id(self) -> str:
        return str(self.event["request_id"])


def usage_records_write(events: list[dict[str, Any]]) -> int:
    """Writes buffered entries into the ledger; returns how many usage records were new. An entry
    already written (same kind, same request id) is skipped, so replays are harmless.

    A batch is one transaction: the audit chains of its LOBs are locked once (which also serializes
    two flushers that got the same entries, so neither the ledger nor the audit log ever holds a call
    twice), the rows go in with COPY, the chain hashes are computed in memory in order. An entry the
    database refuses (a NUL character, a tenant deleted meanwhile) is found by halving the batch and
    set aside as a `DeadLetterUsage`; every other entry is written."""
    unique = {(e.get("kind", USAGE), str(e.get("request_id"))): e for e in events}
    entries: list[_Entry] = []
    for event in unique.values():
        try:
            entries.append(_prepare(event))
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            usage_dead_letter(event, exc)
    return _write_or_set_aside(entries)


def _prepare(event: dict[str, Any]) -> _Entry:
    chain = event.get("lob_slug") or CENTRAL_CHAIN
    if event.get("kind", USAGE) == CAPTURE:
        capture = event["capture"]
        if not isinstance(capture.get("prompt"), str) or not isinstance(capture.get("output"), str):
            raise ValueError("a capture entry holds the stored prompt and answer")
        return _Entry(
            event,
            chain,
            capture_row=_capture_row(event, capture, event["captured_at"]),
            capture_audit=AuditEntry(
                actor=f"key:{event.get('key_prefix', '')}",
                action="inference.capture",
                object_type="governance.capturedexchange",
                object_id=str(event["request_id"]),
                lob_slug=event.get("lob_slug", ""),
                request_id=str(event["request_id"]),
                after=capture_digests(capture),
            ),
        )
    capture = capture_finalize(event["capture"]) if event.get("capture") else None
    usage = usage_prepare(event, capture_audit=capture_digests(capture))
    row = _capture_row(event, capture, event["occurred_at"]) if capture is not None else None
    return _Entry(event, chain, usage=usage, capture_row=row)


def _capture_row(event: dict[str, Any], capture: dict[str, Any], at: str) -> tuple[Any, ...] | None:
    return captured_exchange_row(
        request_id=event["request_id"],
        lob_id=event["lob_id"],
        use_case_id=event["use_case_id"],
        capture=capture,
        captured_at=dt.datetime.fromisoformat(at),
    )


def _write_or_set_aside(entries: list[_Entry]) -> int:
    if not entries:
        return 0
    try:
        return _write_batch(entries)
    except (DataError, IntegrityError) as exc:
        if len(entries) == 1:
            usage_dead_letter(entries[0].event, exc)
            return 0
        # Halves in order, so each chain's events keep their order whichever half holds the culprit.
        middle = len(entries) // 2
        return _write_or_set_aside(entries[:middle]) + _write_or_set_aside(entries[middle:])


def _write_batch(entries: list[_Entry]) -> int:
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Foreign keys are checked at once, not at commit, so an entry whose tenant is gone fails
            # here, where the batch can still be halved, even inside an outer transaction.
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        audit_chains_lock(sorted({e.chain for e in entries}))
        fresh = {p.request_id for p in usage_batch_insert([e.usage for e in entries if e.usage is not None])}
        captured = captured_exchanges_insert([e.capture_row for e in entries if e.capture_row is not None])
        audits: list[AuditEntry] = []
        for entry in entries:  # in buffer order: each chain's events keep the order of its calls
            if entry.usage is not None and entry.usage.request_id in fresh:
                audits.append(entry.usage.audit)
            elif entry.capture_audit is not None and entry.request_id in captured:
                audits.append(entry.capture_audit)
        audit_record_batch(audits)
    return len(fresh)


def usage_flush(
    *, consumer: str, batch_size: int | None = None, max_batches: int = 20, claim_idle_ms: int | None = None
) -> int:
    """Moves buffered entries into the ledger: read a batch, commit it, then acknowledge it; how many.

    Each batch comes from one shard of the buffer, read under that shard's lease, so several flushers
    (each a consumer of the group) run at once on different shards, never two on one chain; a pass
    visits every shard with a backlog, starting from a random one. Entries another flusher left
    unacknowledged for `claim_idle_ms` (default METERING_CLAIM_IDLE_MS) are taken over: that flusher
    died between reading and acknowledging. A run that finds the buffer empty records the
    watermark that bounds what gateways replay after a Redis loss."""
    if claim_idle_ms is None:
        claim_idle_ms = settings.METERING_CLAIM_IDLE_MS
    batch_size = batch_size or settings.METERING_FLUSH_BATCH
    buffer = usage_buffer()
    if buffer is None:
        return 0
    buffer.ensure_group()
    owner = f"{consumer}:{secrets.token_hex(6)}"
    first = random.randrange(buffer.shards)  # spreads flushers over the shards
    moved = batches = 0
    while batches < max_batches:
        started = time.time()
        backlogs = buffer.shard_backlogs()
        if not any(backlogs):
            buffer.watermark_set(started)
            break
        progressed = False
        for shard in sorted(range(buffer.shards), key=lambda s: (s - first) % buffer.shards):
            if batches >= max_batches or not backlogs[shard] or not buffer.shard_lease(shard, owner):
                continue
            try:
                batch = buffer.read_batch(consumer=consumer, count=batch_size, claim_idle_ms=claim_idle_ms, shard=shard)
                if batch:
                    usage_records_write([event for _, event in batch])
                    buffer.acknowledge([entry_id for entry_id, _ in batch])
                    moved, batches, progressed = moved + len(batch), batches + 1, True
            finally:
                buffer.shard_release(shard, owner)
        if not progressed:
            break  # what is left is leased by other flushers or pending on a live one
    return moved
