"""Reading the gateway's streamed responses in tests. Its streams are async iterators (the ASGI
server consumes them on its event loop): a test reads them on an event loop too, through
`async_to_sync`, which runs the steps the stream offloads on the test's own thread."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from asgiref.sync import async_to_sync
from django.http import StreamingHttpResponse

T = TypeVar("T")


def streamed_body(response: StreamingHttpResponse) -> bytes:
    """Every byte of a streamed response, read to its end."""

    async def read() -> bytes:
        return b"".join([part async for part in response.streaming_content])

    return async_to_sync(read)()


def reading(response: StreamingHttpResponse, reader: Callable[[Any], Awaitable[T]]) -> T:
    """`reader(frames)` on an event loop: for a test that stops reading part-way, or acts between frames."""
    return async_to_sync(reader)(response.streaming_content)
