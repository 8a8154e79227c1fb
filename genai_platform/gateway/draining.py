"""Streams through a gateway shutdown.

On SIGTERM gunicorn stops accepting and gives in-flight requests `graceful_timeout` seconds
(deploy/gunicorn.conf.py, matched to the Kubernetes manifests' terminationGracePeriodSeconds),
then the worker exits and any stream still open would be cut mid-event. So the worker's SIGTERM
handler also calls `begin`, which sets a drain deadline a margin before that exit: a stream still
running at the deadline is ended cleanly, with an OpenAI-style error event and `[DONE]`, and the
call is metered with what was delivered (closing the relay runs its metering `finally`).

The deadline is process state by nature (one shutdown per process), kept behind these functions.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator

_lock = threading.Lock()
_deadline: float | None = None

SHUTDOWN_ERROR = {
    "error": {
        "message": "The gateway is shutting down; this stream was ended before the model finished. Retry the request.",
        "type": "api_error",
        "param": None,
        "code": "gateway_shutdown",
    }
}


def begin(grace_seconds: float) -> None:
    """Starts draining: streams still open `grace_seconds` from now are ended. Idempotent."""
    global _deadline
    with _lock:
        if _deadline is None:
            _deadline = time.monotonic() + max(0.0, grace_seconds)


def reset() -> None:
    """Forgets a drain (tests only: a real process drains once and exits)."""
    global _deadline
    with _lock:
        _deadline = None


def expired() -> bool:
    deadline = _deadline
    return deadline is not None and time.monotonic() >= deadline


async def until_drained(frames: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Relays server-sent event frames until they end or the drain deadline passes; then closes
    the relay (which meters what was delivered) and ends the stream with an error event and [DONE]."""
    try:
        async for frame in frames:
            yield frame
            if expired():
                break
        else:
            return
    finally:
        aclose = getattr(frames, "aclose", None)
        if aclose is not None:
            await aclose()
    yield b"data: " + json.dumps(SHUTDOWN_ERROR).encode() + b"\n\n"
    yield b"data: [DONE]\n\n"
