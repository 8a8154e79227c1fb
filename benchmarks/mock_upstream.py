"""A fast, local, OpenAI-compatible mock upstream for load benchmarks.

`POST /v1/chat/completions` answers a fixed, small `chat.completion` document with usage, after
checking that an `Authorization: Bearer ...` header is present (401 otherwise, or when `--api-key`
is given and the key differs). `GET /stats` returns how many completions it served and how many it
refused, so a benchmark can check that its calls really reached the upstream.

It is a raw asyncio protocol server (HTTP/1.1, keep-alive, pipelining-safe) with no framework on
the request path, so it costs a few tens of microseconds of CPU per request and is never the
bottleneck of a gateway benchmark. Standard library only.

Real models take seconds. Each port can have its own delay before the answer (`--port PORT` answers
at once; `--delayed-port PORT=SECONDS` after SECONDS, on the event loop, so thousands of calls
wait at once without a thread each). A request with `"stream": true` is answered with server-sent
events: the first chunk after the port's delay, then chunks every `--stream-interval` seconds for
`--stream-seconds` seconds, a finish chunk, the usage chunk and `data: [DONE]` (chunked transfer
encoding, keep-alive).

    python benchmarks/mock_upstream.py --port 8999 [--delayed-port 9001=1.0] [--stream-seconds 30] [--api-key KEY]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from dataclasses import dataclass

COMPLETION = json.dumps(
    {
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "bench-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello from the mock upstream."},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18},
        "system_fingerprint": None,
    },
    separators=(",", ":"),
).encode()

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024


def _response(status: str, body: bytes, *, close: bool = False) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _error(message: str, code: str) -> bytes:
    document = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
    return json.dumps(document).encode()


OK = _response("200 OK", COMPLETION)
UNAUTHORIZED = _response("401 Unauthorized", _error("Missing or wrong bearer token.", "invalid_api_key"))
NOT_FOUND = _response("404 Not Found", _error("Unknown URL.", "unknown_url"))
BAD_REQUEST = _response("400 Bad Request", _error("Malformed request.", "bad_request"), close=True)


class Stats:
    served = 0
    refused = 0
    streams = 0


@dataclass(frozen=True)
class Timing:
    """How one port behaves: its delay before answering, and the shape of its streams."""

    delay: float = 0.0
    stream_seconds: float = 1.0
    stream_interval: float = 0.5


def _sse(payload: dict) -> bytes:
    data = b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _chunk(delta: dict, finish: str | None = None, usage: dict | None = None) -> bytes:
    document = {
        "id": "chatcmpl-mock",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "bench-model",
        "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage:
        document["usage"] = usage
    return _sse(document)


STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
    b"Connection: keep-alive\r\n\r\n"
)
STREAM_TAIL = (
    _chunk({}, "stop")
    + _chunk({}, usage={"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18})
    + b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n"  # 0xe = len("data: [DONE]\n\n")
)


class MockProtocol(asyncio.Protocol):
    """One connection: buffers bytes, answers each complete request in order."""

    def __init__(self, api_key: str | None, timing: Timing) -> None:
        self._api_key = api_key
        self._timing = timing
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while self._transport is not None:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEADER_BYTES:
                    self._fail()
                return
            head = bytes(self._buffer[:end]).decode("latin-1")
            request_line, _, header_block = head.partition("\r\n")
            headers = {}
            for line in header_block.split("\r\n"):
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if "chunked" in headers.get("transfer-encoding", "").lower():
                self._fail()
                return
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                self._fail()
                return
            if length < 0 or length > MAX_BODY_BYTES:
                self._fail()
                return
            total = end + 4 + length
            if len(self._buffer) < total:
                return  # wait for the rest of the body
            body = bytes(self._buffer[end + 4 : total])
            del self._buffer[:total]
            close = headers.get("connection", "").lower() == "close"
            answer = self._answer(request_line, headers)
            if answer is OK and b'"stream":true' in body.replace(b" ", b""):
                Stats.streams += 1
                asyncio.get_running_loop().create_task(self._stream(self._transport, close))
            elif answer is OK and self._timing.delay:
                asyncio.get_running_loop().call_later(self._timing.delay, self._send, self._transport, answer, close)
            else:
                self._send(self._transport, answer, close)
            if close:
                self._transport = None

    @staticmethod
    def _send(transport: asyncio.Transport, answer: bytes, close: bool) -> None:
        if transport.is_closing():
            return  # the client gave up
        transport.write(answer)
        if close:
            transport.close()

    async def _stream(self, transport: asyncio.Transport, close: bool) -> None:
        timing = self._timing
        await asyncio.sleep(timing.delay)
        pieces = max(1, round(timing.stream_seconds / timing.stream_interval))
        if transport.is_closing():
            return
        transport.write(STREAM_HEAD + _chunk({"role": "assistant", "content": "tok0 "}))
        for n in range(1, pieces):
            await asyncio.sleep(timing.stream_interval)
            if transport.is_closing():
                return  # the client cancelled: stop generating, as a real server does
            transport.write(_chunk({"content": f"tok{n} "}))
        transport.write(STREAM_TAIL)
        if close:
            transport.close()

    def _answer(self, request_line: str, headers: dict[str, str]) -> bytes:
        method, _, rest = request_line.partition(" ")
        path = rest.partition(" ")[0].partition("?")[0]
        if method == "POST" and path.rstrip("/").endswith("/chat/completions"):
            scheme, _, token = headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token or (self._api_key is not None and token != self._api_key):
                Stats.refused += 1
                return UNAUTHORIZED
            Stats.served += 1
            return OK
        if method == "GET" and path == "/stats":
            stats = {"served": Stats.served, "refused": Stats.refused, "streams": Stats.streams}
            return _response("200 OK", json.dumps(stats).encode())
        if method == "GET" and path in ("/health", "/healthz"):
            return _response("200 OK", b'{"status":"ok"}')
        return NOT_FOUND

    def _fail(self) -> None:
        if self._transport is not None:
            self._transport.write(BAD_REQUEST)
            self._transport.close()
            self._transport = None


async def serve(host: str, ports: dict[int, Timing], api_key: str | None) -> None:
    loop = asyncio.get_running_loop()
    servers = []
    for port, timing in ports.items():
        servers.append(
            await loop.create_server(
                lambda timing=timing: MockProtocol(api_key, timing), host, port, backlog=4096, reuse_address=True
            )
        )
        print(f"mock upstream listening on http://{host}:{port}/v1 (delay {timing.delay:g}s)", flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8999)
    parser.add_argument(
        "--delayed-port",
        action="append",
        default=[],
        metavar="PORT=SECONDS",
        help="also listen on PORT, answering after SECONDS (repeatable)",
    )
    parser.add_argument("--stream-seconds", type=float, default=1.0, help="how long a streamed answer lasts")
    parser.add_argument("--stream-interval", type=float, default=0.5, help="seconds between streamed chunks")
    parser.add_argument("--api-key", default=None, help="also require exactly this bearer token")
    args = parser.parse_args(argv)
    shape = {"stream_seconds": args.stream_seconds, "stream_interval": args.stream_interval}
    ports = {args.port: Timing(0.0, **shape)}
    for spec in args.delayed_port:
        port, _, seconds = spec.partition("=")
        ports[int(port)] = Timing(float(seconds), **shape)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, ports, args.api_key))
    return 0


if __name__ == "__main__":
    sys.exit(main())
