"""The audit log's hash chains: canonical form, verification and signed checkpoints."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

GENESIS = "0" * 64


_CANONICAL_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def canonical(event: dict[str, Any]) -> bytes:
    """The bytes an event's hash covers: every recorded field and the previous hash, in a fixed form."""
    document = {
        "chain": event["chain"],
        "sequence": event["sequence"],
        "occurred_at": event["occurred_at"].astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor": event["actor"],
        "action": event["action"],
        "object_type": event["object_type"],
        "object_id": event["object_id"],
        "lob_slug": event["lob_slug"],
        "before": event["before"],
        "after": event["after"],
        "request_id": event["request_id"],
        "prev_hash": event["prev_hash"],
    }
    return _CANONICAL_ENCODER.encode(document).encode()


def event_hash(event: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(event)).hexdigest()


def json_text(value: Any) -> str | None:
    """`value` as the canonical JSON text it is stored and hashed as (None stays None): exactly
    `canonical`'s spelling of what the stored JSON reads back as, so `event_hash_of_texts` can splice
    it in without decoding it again. A mapping with keys other than strings is normalized by a
    round trip first (JSON turns keys into strings, which can change their sorted order)."""
    if value is None:
        return None
    if _string_keys_only(value):
        try:
            return _CANONICAL_ENCODER.encode(value)
        except TypeError:  # keys sort_keys cannot compare
            pass
    return _CANONICAL_ENCODER.encode(json.loads(json.dumps(value, ensure_ascii=False, default=str)))


def _string_keys_only(value: Any) -> bool:
    if isinstance(value, dict):
        return all(type(key) is str and _string_keys_only(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return all(_string_keys_only(item) for item in value)
    return True


def event_hash_of_texts(event: dict[str, Any], *, before_text: str | None, after_text: str | None) -> str:
    """`event_hash` of an event whose `before` and `after` are given as their `json_text`.

    The flusher hashes thousands of events a second: encoding each payload once (the stored text)
    and splicing it into the canonical document, instead of decoding it and encoding it again
    inside the document, is a third of the hashing's cost. The keys are sorted, so "after" and
    "before" sit between "actor" and "chain"; `,"chain":` cannot occur earlier in the text, since
    quotes inside the encoded strings before it are escaped."""
    rest = {
        "action": event["action"],
        "actor": event["actor"],
        "chain": event["chain"],
        "lob_slug": event["lob_slug"],
        "object_id": event["object_id"],
        "object_type": event["object_type"],
        "occurred_at": event["occurred_at"].astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "prev_hash": event["prev_hash"],
        "request_id": event["request_id"],
        "sequence": event["sequence"],
    }
    head, _, tail = _CANONICAL_ENCODER.encode(rest).partition(',"chain":')
    after = "null" if after_text is None else after_text
    before = "null" if before_text is None else before_text
    document = f'{head},"after":{after},"before":{before},"chain":{tail}'
    return hashlib.sha256(document.encode()).hexdigest()


@dataclass(frozen=True)
class ChainProblem:
    chain: str
    sequence: int
    event_id: int | None
    reason: str

    def __str__(self) -> str:
        where = f"event {self.event_id}" if self.event_id is not None else "the chain's end"
        return f"chain {self.chain!r}, position {self.sequence} ({where}): {self.reason}"


#: The columns `verify_chain` reads, in this order: `occurred_at` as `canonical` spells it (UTC,
#: microseconds) or a datetime, `before`/`after` as stored JSON text or already decoded.
VERIFY_COLUMNS = (
    "id",
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


def verify_chain(
    chain: str,
    rows: Iterable[Sequence[Any]],
    checkpoints: list[dict[str, Any]],
    *,
    after: tuple[int, str] = (0, GENESIS),
) -> ChainProblem | None:
    """The first problem in `chain` (rows of VERIFY_COLUMNS in sequence order), or None when it is intact.

    Detects a changed field (hash mismatch), a removed event (gap in positions or a broken
    link), a swap (broken link), and a tail cut off past a signed checkpoint. `after` is the
    position and hash the rows continue from: the chain's start, or the end of its archived months
    (the rows of an archive export continue from the archive before it). The loop is the whole
    cost of `audit verify`, so it works on plain tuples and builds `canonical`'s document directly
    (keys already in sorted order), one JSON encoding and one SHA-256 per event."""
    expected_sequence, expected_prev = after[0] + 1, after[1]
    checkpoint_hashes = {c["sequence"]: None for c in checkpoints}
    sha256, loads, encode = hashlib.sha256, json.loads, _CANONICAL_ENCODER.encode
    for (
        event_id,
        sequence,
        occurred_at,
        actor,
        action,
        object_type,
        object_id,
        lob_slug,
        before,
        after,
        request_id,
        prev_hash,
        hash_,
    ) in rows:
        if sequence != expected_sequence:
            return ChainProblem(chain, expected_sequence, event_id, f"position {expected_sequence} is missing")
        if prev_hash != expected_prev:
            return ChainProblem(chain, sequence, event_id, "does not link to the event before it")
        if not isinstance(occurred_at, str):
            occurred_at = occurred_at.astimezone(dt.UTC).isoformat(timespec="microseconds")
        document = {
            "action": action,
            "actor": actor,
            "after": loads(after) if isinstance(after, str) else after,
            "before": loads(before) if isinstance(before, str) else before,
            "chain": chain,
            "lob_slug": lob_slug,
            "object_id": object_id,
            "object_type": object_type,
            "occurred_at": occurred_at,
            "prev_hash": prev_hash,
            "request_id": request_id,
            "sequence": sequence,
        }
        if sha256(encode(document).encode()).hexdigest() != hash_:
            return ChainProblem(chain, sequence, event_id, "its content does not match its hash")
        if sequence in checkpoint_hashes:
            checkpoint_hashes[sequence] = hash_
        expected_prev, expected_sequence = hash_, expected_sequence + 1
    last_sequence = expected_sequence - 1
    for checkpoint in checkpoints:
        if not checkpoint_signature_valid(checkpoint):
            return ChainProblem(chain, checkpoint["sequence"], None, "a checkpoint's signature does not verify")
        if checkpoint["sequence"] > last_sequence:
            return ChainProblem(
                chain,
                last_sequence + 1,
                None,
                f"events up to the signed checkpoint at position {checkpoint['sequence']} are missing",
            )
        if checkpoint_hashes.get(checkpoint["sequence"]) != checkpoint["hash"]:
            return ChainProblem(
                chain, checkpoint["sequence"], None, "differs from the signed checkpoint at this position"
            )
    return None


# ---- signed checkpoints ----


def _private_key() -> Ed25519PrivateKey:
    """The signing key: 32 raw bytes, base64, from AUDIT_SIGNING_KEY (never stored in the database)."""
    encoded = settings.AUDIT_SIGNING_KEY
    if not encoded:
        raise ImproperlyConfigured("AUDIT_SIGNING_KEY is not set: checkpoints cannot be signed")
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(encoded))


def public_key_bytes() -> bytes:
    return _private_key().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_fingerprint(public: bytes) -> str:
    return hashlib.sha256(public).hexdigest()[:16]


def checkpoint_statement(chain: str, sequence: int, head_hash: str, signed_at: dt.datetime) -> bytes:
    return (
        f"genai-audit-checkpoint:v1:{chain}:{sequence}:{head_hash}:{signed_at.astimezone(dt.UTC).isoformat()}".encode()
    )


def sign_checkpoint(chain: str, sequence: int, head_hash: str, signed_at: dt.datetime) -> tuple[str, str]:
    """(signature hex, key fingerprint)."""
    key = _private_key()
    signature = key.sign(checkpoint_statement(chain, sequence, head_hash, signed_at)).hex()
    return signature, key_fingerprint(public_key_bytes())


def checkpoint_signature_valid(checkpoint: dict[str, Any]) -> bool:
    """Verifies against the configured public key (AUDIT_VERIFY_KEY, or the signing key's own)."""
    public = base64.b64decode(settings.AUDIT_VERIFY_KEY) if settings.AUDIT_VERIFY_KEY else public_key_bytes()
    if checkpoint["key_id"] != key_fingerprint(public):
        return False
    statement = checkpoint_statement(
        checkpoint["chain"], checkpoint["sequence"], checkpoint["hash"], checkpoint["signed_at"]
    )
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(bytes.fromhex(checkpoint["signature"]), statement)
    except (InvalidSignature, ValueError):
        return False
    return True
