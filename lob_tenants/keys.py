"""The API key format: `sk-gp-<prefix>.<secret>`.

The prefix is public and finds the row; the secret has 256 bits of entropy, so a single SHA-256
digest is a sound way to store it (slow password hashes exist for low-entropy secrets and would
only add latency to every call).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_SCHEME = "sk-gp-"
_PREFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
PREFIX_LENGTH = 12


@dataclass(frozen=True)
class NewKey:
    prefix: str
    secret_hash: str
    #: The whole key, to show once and never store.
    plaintext: str


def key_generate() -> NewKey:
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    secret = secrets.token_urlsafe(32)
    return NewKey(prefix=prefix, secret_hash=secret_digest(secret), plaintext=f"{KEY_SCHEME}{prefix}.{secret}")


def key_parse(token: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed key, else None."""
    if not token.startswith(KEY_SCHEME):
        return None
    prefix, dot, secret = token[len(KEY_SCHEME) :].partition(".")
    if not dot or len(prefix) != PREFIX_LENGTH or not secret or len(secret) > 128:
        return None
    return prefix, secret


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, digest: str) -> bool:
    return hmac.compare_digest(secret_digest(secret), digest)
