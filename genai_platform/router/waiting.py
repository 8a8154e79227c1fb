"""Waiting for a worker's reply, written once for both kinds of caller (sans-IO).

The router's decisions (which deployment next, retry or give up, the deadline) and the inference
core's steps around them are generators that *yield* what they wait for, `Receive` (the next
message of an invocation) or `Pause` (a backoff), and are sent the answer back. They do no waiting
themselves, so the same code serves:

- `drive`: a blocking caller (an agent run in a Celery worker, a management command) answers each
  wait by blocking on the reply channel, as before;
- `adrive`: the ASGI gateway answers each wait by awaiting `redis.asyncio` on its event loop, so a
  call in flight holds no thread. The generator's own code between two waits (guardrails, cache,
  admission, metering: synchronous and sometimes ORM work) runs in a worker thread via
  `run_sync`, inside one `contextvars.Context` per call, so that a span or a meter scope opened
  before the wait is closed in the same context after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from .channel import reply_channel
from .liveness import areceive_alive, receive_alive

T = TypeVar("T")


@dataclass(frozen=True)
class Receive:
    """Wait up to `timeout` seconds for the next message of `invocation_id` (answered with it, or None)."""

    invocation_id: str
    timeout: float


@dataclass(frozen=True)
class Pause:
    """Back off for `seconds` (answered with None)."""

    seconds: float


Wait = Receive | Pause
#: A computation that yields its waits and returns a `T`.
Steps = Generator[Wait, dict[str, Any] | None, T]


def drive(steps: Steps[T]) -> T:
    """Runs `steps` to the end, blocking this thread on each wait."""
    channel = reply_channel()
    answer: dict[str, Any] | None = None
    while True:
        try:
            wait = steps.send(answer)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        if isinstance(wait, Receive):
            answer = receive_alive(channel, wait.invocation_id, wait.timeout)
        else:
            time.sleep(wait.seconds)
            answer = None


async def adrive(steps: Steps[T], context: contextvars.Context) -> T:
    """Runs `steps` to the end: its code in worker threads (in `context`), its waits awaited here.
    A cancelled caller (the client went away) closes `steps`, so their `finally` and scopes run."""
    channel = reply_channel()
    answer: dict[str, Any] | None = None
    step: asyncio.Future[tuple[bool, Any]] | None = None
    try:
        while True:
            # Shielded: a cancellation waits for the step under way to reach its next wait.
            step = asyncio.ensure_future(run_sync(context, _advance, steps, answer))
            finished, value = await asyncio.shield(step)
            step = None
            if finished:
                return value  # type: ignore[no-any-return]
            if isinstance(value, Receive):
                answer = await areceive_alive(channel, value.invocation_id, value.timeout)
            else:
                await asyncio.sleep(value.seconds)
                answer = None
    except asyncio.CancelledError:
        await asyncio.shield(_close(context, steps, step))
        raise


async def _close(context: contextvars.Context, steps: Steps[Any], running: asyncio.Future[Any] | None) -> None:
    if running is not None:
        with contextlib.suppress(BaseException):
            await running
    await run_sync(context, steps.close)


def _advance(steps: Steps[T], answer: dict[str, Any] | None) -> tuple[bool, Any]:
    # StopIteration cannot cross a Future, so the end of the steps is returned as a flag.
    try:
        return False, steps.send(answer)
    except StopIteration as done:
        return True, done.value


async def run_sync(context: contextvars.Context, function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` in a worker thread, inside the call's `context`. Not thread-sensitive
    (that would serialize every call's steps on one thread) unless `GATEWAY_STEPS_THREAD_SENSITIVE`
    (tests: their database transaction lives on the test's own thread)."""
    if settings.GATEWAY_STEPS_THREAD_SENSITIVE:
        return await sync_to_async(_in_context, thread_sensitive=True)(context, function, *args)
    # The loop's executor directly: the call brings its own context, so asgiref's context
    # copying and restoring around each hop (most of a hop's CPU under load) buys nothing.
    return await asyncio.get_running_loop().run_in_executor(None, _in_context, context, function, *args)


def _in_context(context: contextvars.Context, function: Callable[..., T], *args: Any) -> T:
    if not settings.GATEWAY_STEPS_THREAD_SENSITIVE:
        close_old_connections()  # a pool thread sees no request_started/finished to recycle its connection
    return context.run(function, *args)
