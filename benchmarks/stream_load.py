"""Many concurrent server-sent-event streams at once, each timed to its first content chunk and to its end.

One coroutine per stream on raw asyncio sockets (no HTTP library on the measuring path): it sends one
streaming chat request with `Connection: close`, reads the response as it comes, notes when the
first non-empty `"content"` arrives (time to first chunk, TTFC) and whether `data: [DONE]` ended it.
All streams start together, so the level measures N streams in flight at once. Standard library only.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

_CONTENT = re.compile(rb'"content":\s*"[^"]')


@dataclass
class StreamResult:
    streams: int
    completed: int
    errors: int
    wall_s: float
    ttfc_p50_ms: float
    ttfc_p99_ms: float
    duration_p50_ms: float
    duration_max_ms: float
    error_detail: dict[str, int] = field(default_factory=dict)


async def _one(
    host: str, port: int, request: bytes, timeout: float, delay: float = 0.0
) -> tuple[float | None, float | None, str | None]:
    if delay:
        await asyncio.sleep(delay)  # this stream's place in the ramp (load shaping)
    started = time.perf_counter()
    first: float | None = None
    tail = b""
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            if status != 200:
                return None, None, f"status {status}"
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                window = tail + data
                if first is None and _CONTENT.search(window):
                    first = time.perf_counter() - started
                tail = window[-64:]
                if b"[DONE]" in window:
                    return first, time.perf_counter() - started, None
            return first, None, "ended without [DONE]"
    except TimeoutError:
        return first, None, "timeout"
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
        return first, None, type(exc).__name__
    finally:
        if writer is not None:
            writer.close()


def streams_run(
    url: str, body: dict[str, Any], headers: dict[str, str], streams: int, timeout: float, ramp_seconds: float = 0.0
) -> StreamResult:
    """`streams` concurrent streaming requests to `url`, each given up after `timeout` seconds.

    With `ramp_seconds`, the starts are spread evenly over that time instead of all at once: with
    streams longer than the ramp, all of them are still open together, but what is measured is each
    stream's own start rather than the queue of a thousand simultaneous starts."""
    parts = urlsplit(url)
    payload = json.dumps({**body, "stream": True}).encode()
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{head}Content-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    ).encode() + payload

    async def main() -> list[tuple[float | None, float | None, str | None]]:
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        step = ramp_seconds / streams if streams else 0.0
        return await asyncio.gather(*(_one(host, port, request, timeout, i * step) for i in range(streams)))

    started = time.perf_counter()
    outcomes = asyncio.run(main())
    wall = time.perf_counter() - started - ramp_seconds
    ttfc = sorted(first for first, _, _ in outcomes if first is not None) or [0.0]
    durations = sorted(total for _, total, error in outcomes if error is None and total is not None) or [0.0]
    errors: dict[str, int] = {}
    for _, _, error in outcomes:
        if error is not None:
            errors[error] = errors.get(error, 0) + 1

    def pct(values: list[float], p: float) -> float:
        return round(values[min(len(values) - 1, int(p / 100 * len(values)))] * 1000, 1)

    return StreamResult(
        streams=streams,
        completed=streams - sum(errors.values()),
        errors=sum(errors.values()),
        wall_s=round(wall, 2),
        ttfc_p50_ms=pct(ttfc, 50),
        ttfc_p99_ms=pct(ttfc, 99),
        duration_p50_ms=pct(durations, 50),
        duration_max_ms=round(durations[-1] * 1000, 1),
        error_detail=errors,
    )
