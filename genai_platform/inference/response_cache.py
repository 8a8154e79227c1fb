"""The exact-match response cache, opt-in per use case.

The key covers the LOB, the alias, the whole normalized request and the guardrail policy version
in force, so an entry is never served to another LOB, for another model, or under another policy.
Only whole (non-streamed) successful answers are kept.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from django.core.cache import cache

from genai_platform.providers.types import ChatRequest

from .principal import KeyPrincipal


def response_cache_key(principal: KeyPrincipal, alias: str, request: ChatRequest, policy_version: str) -> str | None:
    """The cache key for this request, or None when the use case has not opted in."""
    if principal.response_cache_ttl_seconds <= 0:
        return None
    normalized = json.dumps(
        {"request": dataclasses.asdict(request), "alias": alias, "policy": policy_version},
        sort_keys=True,
        separators=(",", ":"),
    )
    digest = hashlib.sha256(normalized.encode()).hexdigest()
    return f"response-cache:lob:{principal.lob_id}:{digest}"


def cached_response(key: str | None) -> dict[str, Any] | None:
    return cache.get(key) if key else None


def remember_response(key: str | None, entry: dict[str, Any], ttl_seconds: int) -> None:
    if key:
        cache.set(key, entry, timeout=ttl_seconds)
