"""A pool that lends each object to one caller at a time: for SDK clients that are not thread-safe.

A worker runs provider calls in many threads. Where an SDK client is safe to share (openai's and
google-genai's httpx clients, boto3 clients) the adapter holds one; where it is not (OCI's
`BaseClient` swaps and closes its `requests` session on some errors, under whichever call is
using it), the adapter borrows a client per call from a `LendingPool`. The pool grows to the peak
of concurrent calls and keeps every client for reuse, so connections stay warm.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")


class LendingPool(Generic[T]):
    def __init__(self, factory: Callable[[], T], *, first: T | None = None) -> None:
        """`first`, when given, is lent before any new object is built (an adapter builds one up front
        to report a bad configuration when it is created rather than on its first call)."""
        self._factory = factory
        self._idle: list[T] = [] if first is None else [first]
        self._lock = threading.Lock()
        self.created = 0 if first is None else 1

    @contextmanager
    def borrowed(self) -> Iterator[T]:
        """One object, lent to the caller alone until the block ends (however it ends)."""
        with self._lock:
            item = self._idle.pop() if self._idle else None
        if item is None:
            item = self._factory()
            with self._lock:
                self.created += 1
        try:
            yield item
        finally:
            with self._lock:
                self._idle.append(item)
