"""The audit log's hash chains: canonical form, verification and signed checkpoints."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

GENESIS = "0" * 64


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
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def event_hash(event: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(event)).hexdigest()


@dataclass(frozen=True)
class ChainProblem:
    chain: str
    sequence: int
    event_id: int | None
    reason: str

    def __str__(self) -> str:
        where = f"event {self.event_id}" if self.event_id is not None else "the chain's end"
        return f"chain {self.chain!r}, position {self.sequence} ({where}): {self.reason}"


def verify_chain(
    chain: str, events: Iterator[dict[str, Any]], checkpoints: list[dict[str, Any]]
) -> ChainProblem | None:
    """The first problem in `chain` (events in sequence order), or None when it is intact.

    Detects a changed field (hash mismatch), a removed event (gap in positions or a broken
    link), a swap (broken link), and a tail cut off past a signed checkpoint."""
    expected_prev, expected_sequence, last_sequence = GENESIS, 1, 0
    hashes: dict[int, str] = {}
    for event in events:
        if event["sequence"] != expected_sequence:
            return ChainProblem(chain, expected_sequence, event["id"], f"position {expected_sequence} is missing")
        if event["prev_hash"] != expected_prev:
            return ChainProblem(chain, event["sequence"], event["id"], "does not link to the event before it")
        if event_hash(event) != event["hash"]:
            return ChainProblem(chain, event["sequence"], event["id"], "its content does not match its hash")
        hashes[event["sequence"]] = event["hash"]
        expected_prev, expected_sequence, last_sequence = event["hash"], expected_sequence + 1, event["sequence"]
    for checkpoint in checkpoints:
        if not checkpoint_signature_valid(checkpoint):
            return ChainProblem(chain, checkpoint["sequence"], None, "a checkpoint's signature does not verify")
        if checkpoint["sequence"] > last_sequence:
            return ChainProblem(
                chain, last_sequence + 1, None,
                f"events up to the signed checkpoint at position {checkpoint['sequence']} are missing",
            )  # fmt: skip
        if hashes.get(checkpoint["sequence"]) != checkpoint["hash"]:
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
