"""Audit log writes and checks. `audit_record` is the one way anything writes to the audit log."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import IO, Any

from django.db import connection, models, transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from genai_platform.dbcopy import bulk_insert

from .chain import (
    GENESIS,
    VERIFY_COLUMNS,
    ChainProblem,
    event_hash,
    event_hash_of_texts,
    json_text,
    sign_checkpoint,
    verify_chain,
)
from .models import CENTRAL_CHAIN, ArchivedPartition, AuditChainHead, AuditCheckpoint, AuditEvent


def audit_actor(user: Any) -> str:
    if isinstance(user, str):
        return user
    if user is None or not getattr(user, "is_authenticated", False):
        return "system"
    return user.get_username()


def audit_record(
    *,
    actor: str,
    action: str,
    target: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    lob_slug: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    request_id: str = "",
) -> AuditEvent:
    """Writes one audit event. Call it inside the transaction of the change it records.

    The subject is `target`, or for a change with no single row as its subject (a catalog
    import), an explicit `object_type` and `object_id`."""
    if target is not None:
        object_type, object_id = target._meta.label_lower, str(target.pk)
    if not object_type or not object_id:
        raise ValueError("an audit event needs a target or an object_type and object_id")
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction of the change it records")
    chain = lob_slug or CENTRAL_CHAIN
    [head] = audit_chains_lock([chain])
    event = AuditEvent(
        chain=chain,
        sequence=head.sequence + 1,
        occurred_at=_not_before(timezone.now(), head),
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        lob_slug=lob_slug,
        before=_json_safe(before),
        after=_json_safe(after),
        request_id=request_id,
        prev_hash=head.hash,
    )
    event.hash = event_hash(model_to_dict(event) | {"occurred_at": event.occurred_at})
    event.save()
    head.sequence, head.hash, head.last_at = event.sequence, event.hash, event.occurred_at
    head.save(update_fields=["sequence", "hash", "last_at"])
    return event


def _not_before(now: dt.datetime, head: AuditChainHead) -> dt.datetime:
    """A chain's time never goes back, though writers' clocks may differ a little: so a month's
    partition holds one unbroken run of each chain, which its archive can verify on its own."""
    return now if head.last_at is None or now >= head.last_at else head.last_at


@dataclass(frozen=True)
class AuditEntry:
    """One event for `audit_record_batch`: what `audit_record` takes, with the subject spelled out."""

    actor: str
    action: str
    object_type: str
    object_id: str
    lob_slug: str = ""
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    request_id: str = ""


_AUDIT_COLUMNS = (
    "chain",
    "sequence",
    "occurred_at",
    "actor",
    "action",
    "object_type",
    "object_id",
    "lob_slug",
    "before",
    "after",
    "request_id",
    "prev_hash",
    "hash",
)


def audit_record_batch(entries: Sequence[AuditEntry]) -> int:
    """Appends `entries` to their chains, in the order given, inside the caller's transaction.

    The same events `audit_record` would write one by one, at a fraction of the cost: each chain's
    head is locked once for the batch, the hashes are chained in memory in order, the rows go in with
    one COPY (PostgreSQL) or multi-row INSERT, and each head moves once. The chain's guarantees are
    unchanged: positions without gaps, each event linked to the one before it."""
    if not entries:
        return 0
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record_batch must run inside the transaction of the change it records")
    heads = {head.chain: head for head in audit_chains_lock(sorted({e.lob_slug or CENTRAL_CHAIN for e in entries}))}
    now = timezone.now()
    rows = []
    for entry in entries:
        if not entry.object_type or not entry.object_id:
            raise ValueError("an audit event needs an object_type and object_id")
        head = heads[entry.lob_slug or CENTRAL_CHAIN]
        # Serialized once, canonically: this text is what is stored and what the hash splices in.
        before_text, after_text = json_text(entry.before), json_text(entry.after)
        event = {
            "chain": head.chain,
            "sequence": head.sequence + 1,
            "occurred_at": _not_before(now, head),
            "actor": entry.actor,
            "action": entry.action,
            "object_type": entry.object_type,
            "object_id": entry.object_id,
            "lob_slug": entry.lob_slug,
            "request_id": entry.request_id,
            "prev_hash": head.hash,
        }
        event["hash"] = event_hash_of_texts(event, before_text=before_text, after_text=after_text)
        head.sequence, head.hash, head.last_at = event["sequence"], event["hash"], event["occurred_at"]
        rows.append(
            [
                *(event[c] for c in _AUDIT_COLUMNS[:8]),
                before_text,
                after_text,
                *(event[c] for c in _AUDIT_COLUMNS[10:]),
            ]
        )
    bulk_insert(AuditEvent._meta.db_table, _AUDIT_COLUMNS, rows)
    for head in heads.values():
        AuditChainHead.objects.filter(pk=head.pk).update(sequence=head.sequence, hash=head.hash, last_at=head.last_at)
    return len(rows)


def audit_chains_lock(chains: list[str]) -> list[AuditChainHead]:
    """Locks the heads of `chains` (created on first use) until the transaction ends: appends to a
    chain are serialized. Lock several in sorted order, as here, so two writers never deadlock."""
    AuditChainHead.objects.bulk_create([AuditChainHead(chain=c) for c in chains], ignore_conflicts=True)
    return list(AuditChainHead.objects.select_for_update().filter(chain__in=chains).order_by("chain"))


def _json_safe(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the JSON column will give back when read, so the hash covers exactly what is stored."""
    return None if value is None else json.loads(json.dumps(value, default=str))


def audit_verify() -> list[ChainProblem]:
    """Walks every chain; one problem (the first) per broken chain.

    A chain whose first months were archived (`ArchivedPartition`) is walked from the end of its
    last archived run: its first live event must link to that hash. Checkpoints inside the archived
    run are checked when the archive's export is verified (`archive_verify`)."""
    problems = []
    anchors = archived_chain_ends()
    chains = set(AuditEvent.objects.values_list("chain", flat=True).distinct())
    chains |= set(AuditCheckpoint.objects.values_list("chain", flat=True).distinct())
    chains |= set(AuditChainHead.objects.values_list("chain", flat=True))
    for chain in sorted(chains):
        after = anchors.get(chain, (0, GENESIS))
        checkpoints = list(AuditCheckpoint.objects.filter(chain=chain, sequence__gt=after[0]).values())
        with closing(_chain_rows(chain)) as rows:  # ends its transaction even when it stops early
            problem = verify_chain(chain, rows, checkpoints, after=after)
        if problem is None:
            problem = _head_problem(chain, archived_through=after[0])
        if problem is not None:
            problems.append(problem)
    return problems


def archived_chain_ends() -> dict[str, tuple[int, str]]:
    """Each chain's last archived position and hash: where its live events continue from."""
    ends: dict[str, tuple[int, str]] = {}
    for chains in ArchivedPartition.objects.filter(table=AuditEvent._meta.db_table).values_list("chains", flat=True):
        for chain, run in chains.items():
            if run["last_sequence"] > ends.get(chain, (0, ""))[0]:
                ends[chain] = (run["last_sequence"], run["last_hash"])
    return ends


def _chain_rows(chain: str) -> Iterator[tuple[Any, ...]]:
    """A chain's events as `VERIFY_COLUMNS` tuples in sequence order, streamed.

    On PostgreSQL a server-side cursor hands over the JSON columns as their stored text and the
    time already spelled as the hash spells it, so a million events cost no model, no dict and no
    datetime each; elsewhere the ORM's plain tuples."""
    if connection.vendor != "postgresql":
        events = AuditEvent.objects.filter(chain=chain).order_by("sequence")
        yield from events.values_list(*VERIFY_COLUMNS).iterator(chunk_size=10_000)
        return
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    columns = ", ".join(
        """to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""
        if column == "occurred_at"
        else f"{column}::text"
        if column in ("before", "after")
        else column
        for column in VERIFY_COLUMNS
    )
    with transaction.atomic(), connection.cursor() as cursor, cursor.cursor.connection.cursor(name="verify") as rows:
        rows.itersize = 10_000
        rows.execute(f"SELECT {columns} FROM {table} WHERE chain = %s ORDER BY sequence", [chain])  # noqa: S608
        yield from rows


def _head_problem(chain: str, *, archived_through: int = 0) -> ChainProblem | None:
    """The head row remembers how long the chain was: events cut off the end are noticed too."""
    head = AuditChainHead.objects.filter(chain=chain).first()
    last = AuditEvent.objects.filter(chain=chain).order_by("-sequence").first()
    last_sequence = last.sequence if last else archived_through
    if head is None or head.sequence == last_sequence:
        return None
    return ChainProblem(chain, last_sequence + 1, None, f"the chain should end at {head.sequence}")


def audit_export(out: IO[str], *, chain: str | None = None, after_id: int = 0) -> int:
    """Writes events as JSON lines (for a SIEM), oldest first; returns how many."""
    events = AuditEvent.objects.filter(id__gt=after_id).order_by("id")
    if chain:
        events = events.filter(chain=chain)
    count = 0
    for event in events.iterator():
        record = model_to_dict(event) | {"id": event.pk, "occurred_at": event.occurred_at.isoformat()}
        out.write(json.dumps(record, sort_keys=True, default=str) + "\n")
        count += 1
    return count


def audit_checkpoint() -> list[AuditCheckpoint]:
    """Signs the current head of every chain that grew since its last checkpoint."""
    made = []
    for head in AuditChainHead.objects.all():
        last = AuditCheckpoint.objects.filter(chain=head.chain).order_by("-sequence").first()
        if head.sequence == 0 or (last is not None and last.sequence == head.sequence):
            continue
        signed_at = timezone.now()
        signature, key_id = sign_checkpoint(head.chain, head.sequence, head.hash, signed_at)
        checkpoint = AuditCheckpoint.objects.create(
            chain=head.chain,
            sequence=head.sequence,
            hash=head.hash,
            signed_at=signed_at,
            signature=signature,
            key_id=key_id,
        )
        made.append(checkpoint)
    return made
