"""Two-level caching for the request path's lookups (API keys, catalog routes, limit policies).

A lookup first asks this process's memory (trusted for `GATEWAY_LOCAL_CACHE_SECONDS`, two by
default), then the shared cache (Redis in production), then the database. Invalidation deletes
the shared entry and this process's copy; other processes drop theirs within the local TTL, so
a revoked key or a catalog change is enforced everywhere within seconds while a hot key costs no
network round trip at all.

Generations make whole families invalidatable at once: a key built with `generation(name)`
changes when `generation_bump(name)` runs, so every entry of the old generation is simply never
read again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache

T = TypeVar("T")
_MISSING = object()
_MAX_LOCAL_ENTRIES = 10_000


class _LocalCache:
    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return _MISSING
        return entry[1]

    def set(self, key: str, value: Any, ttl: float) -> None:
        with self._lock:
            if len(self._entries) >= _MAX_LOCAL_ENTRIES:
                self._entries.clear()  # bounded memory; the next lookups refill what is hot
            self._entries[key] = (time.monotonic() + ttl, value)

    def delete(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_local = _LocalCache()


def lookup(key: str, load: Callable[[], T], *, shared_ttl: float | None = None) -> T:
    """The value for `key` from this process, the shared cache, or `load()` (a None result is cached too)."""
    value = _local.get(key)
    if value is not _MISSING:
        return value
    value = cache.get(key, _MISSING)
    if value is _MISSING:
        value = load()
        cache.set(key, value, timeout=shared_ttl if shared_ttl is not None else settings.GATEWAY_LOOKUP_CACHE_SECONDS)
    _local.set(key, value, settings.GATEWAY_LOCAL_CACHE_SECONDS)
    return value


def invalidate(*keys: str) -> None:
    """Forgets `keys` in the shared cache and in this process."""
    _local.delete(*keys)
    cache.delete_many(list(keys))


def generation(name: str) -> int:
    key = f"generation:{name}"
    value = _local.get(key)
    if value is _MISSING:
        value = cache.get_or_set(key, 1, timeout=None)
        _local.set(key, value, settings.GATEWAY_LOCAL_CACHE_SECONDS)
    return value


def generation_bump(name: str) -> None:
    """Makes every entry keyed with the current generation of `name` stale, in every process."""
    key = f"generation:{name}"
    try:
        cache.incr(key)
    except ValueError:
        cache.set(key, 2, timeout=None)
    _local.delete(key)


def local_clear() -> None:
    """Empties this process's copies (tests start from nothing)."""
    _local.clear()
