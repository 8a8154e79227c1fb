"""Streams through a gateway shutdown.

On SIGTERM gunicorn stops accepting and gives in-flight requests `graceful_timeout` seconds
(deploy/gunicorn.conf.py, matched to the Kubernetes manifests' terminationGracePeriodSeconds);
uvicorn, serving each worker process (genai_platform/asgi_worker.py), waits for open connections
and cancels what is left just before gunicorn would kill the process, which would cut a stream
mid-event. So the worker's SIGTERM handler also calls `begin`, which sets a drain deadline a margin
before that: a stream still open at the deadline is ended cleanly, with an OpenAI-style error event
and `[DONE]`, and the call is metered with what was delivered (closing the relay runs its metering
`finally`).

A stream is ended at the deadline itself, not at its next frame: between two frames it may wait
for seconds (a slow model, or the output guardrails holding back a window of text). At the
deadline a timer on the event loop cancels the wait of each stream waiting for its next frame
(the cancellation says `gateway_shutdown`, so the meter records why); `until_drained` takes that
cancellation back and writes the error event. A stream not waiting at that moment (its frame is
being written to the client) is cut the same way at its next wait, once that frame is written: so
every stream the drain ends is metered as ended by the shutdown (closing it instead would record a
client that disconnected, which is what a busy gateway once recorded). Nothing is paid per frame
for this: a stream costs one entry in a set while it is open.

The deadline and the open streams are process state by nature (one shutdown per process, one
event loop per gateway process), kept behind these functions.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from genai_platform.inference.metering import GATEWAY_SHUTDOWN

#: The code of the error event, and the message of the cancellation that cuts a stream's wait
#: (the meter records it as the call's error code).
SHUTDOWN_CODE = GATEWAY_SHUTDOWN

SHUTDOWN_ERROR = {
    "error": {
        "message": "The gateway is shutting down; this stream was ended before the model finished. Retry the request.",
        "type": "api_error",
        "param": None,
        "code": SHUTDOWN_CODE,
    }
}

_deadline: float | None = None  # time.monotonic() at which open streams are ended
_streams: set[_OpenStream] = set()
_armed: set[asyncio.AbstractEventLoop] = set()  # loops whose deadline timer is set


class _OpenStream:
    """A stream being relayed: the task reading it, and whether it is waiting for its next frame."""

    __slots__ = ("cut", "task", "waiting")

    def __init__(self) -> None:
        self.task: asyncio.Task[object] | None = None
        self.waiting = False
        self.cut = False


def begin(grace_seconds: float, loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Starts draining: streams still open `grace_seconds` from now are ended. Idempotent.

    Safe in a signal handler (it takes no lock): it sets the deadline and asks `loop` (by default
    the running one, if any) to arm its timer."""
    global _deadline
    if _deadline is None:
        _deadline = time.monotonic() + max(0.0, grace_seconds)
    if loop is None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: each stream arms its loop's timer when it opens
    if not loop.is_closed():
        loop.call_soon_threadsafe(_arm, loop)


def reset() -> None:
    """Forgets a drain (tests only: a real process drains once and exits)."""
    global _deadline
    _deadline = None
    _armed.clear()


def expired() -> bool:
    deadline = _deadline
    return deadline is not None and time.monotonic() >= deadline


def open_streams() -> int:
    """How many streams this process is relaying now."""
    return len(_streams)


def _arm(loop: asyncio.AbstractEventLoop) -> None:
    deadline = _deadline
    if deadline is None or loop in _armed:
        return
    _armed.add(loop)
    loop.call_later(max(0.0, deadline - time.monotonic()), _cut_waiting_streams, loop)


def _cut_waiting_streams(loop: asyncio.AbstractEventLoop) -> None:
    if not expired():  # reset since (tests)
        return
    for stream in list(_streams):
        if stream.task is not None and stream.task.get_loop() is loop:
            _cut_if_waiting(stream)


async def until_drained(frames: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Relays server-sent event frames until they end or the drain deadline passes; then closes
    the relay (which meters what was delivered) and ends the stream with an error event and [DONE]."""
    stream = _OpenStream()
    _streams.add(stream)
    loop = asyncio.get_running_loop()
    if _deadline is not None:
        _arm(loop)
    frames_past_deadline = 0
    try:
        # At least one frame is asked for, even past the deadline: the relay's first step is what
        # opens its metering, and closing a relay that never started would record nothing.
        while True:
            stream.task = asyncio.current_task()
            stream.waiting = True
            if expired():
                # Its frame was being written when the timer fired (or it opened since): it is cut
                # at this wait instead, by the same cancellation, so the meter records the shutdown.
                # Closing it from here would record a client that left.
                loop.call_soon(_cut_if_waiting, stream)
            try:
                frame = await anext(frames)
            except StopAsyncIteration:
                return
            except asyncio.CancelledError:
                if not stream.cut or stream.task is None:
                    raise
                stream.task.uncancel()  # this cancellation was the drain's, not the server's
                break
            finally:
                stream.waiting = False
            yield frame
            frames_past_deadline += expired()
            if frames_past_deadline > _FRAMES_PAST_DEADLINE:
                break  # frames that never make it wait (all there already): stop without a cut
    finally:
        _streams.discard(stream)
        aclose = getattr(frames, "aclose", None)
        if aclose is not None:
            await aclose()
    yield b"data: " + json.dumps(SHUTDOWN_ERROR).encode() + b"\n\n"
    yield b"data: [DONE]\n\n"


#: Past the deadline a stream is cut at its next wait for a frame; frames it finds ready without
#: waiting are still relayed, up to this many (real relays wait for the network between frames).
_FRAMES_PAST_DEADLINE = 8


def _cut_if_waiting(stream: _OpenStream) -> None:
    """Runs on the loop, so the stream's task is suspended: cut it if that is in its wait for a frame."""
    task = stream.task
    if stream.waiting and not stream.cut and task is not None:
        stream.cut = True
        task.cancel(msg=SHUTDOWN_CODE)
