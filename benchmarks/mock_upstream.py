"""A fast, local, OpenAI-compatible mock upstream for load benchmarks.

`POST /v1/chat/completions` answers a fixed, small `chat.completion` document with usage, after
checking that an `Authorization: Bearer ...` header is present (401 otherwise, or when `--api-key`
is given and the key differs). `GET /stats` returns how many completions it served and how many it
refused, so a benchmark can check that its calls really reached the upstream.

It is a raw asyncio protocol server (HTTP/1.1, keep-alive, pipelining-safe) with no framework on
the request path, so it costs a few tens of microseconds of CPU per request and is never the
bottleneck of a gateway benchmark. Standard library only.

    python benchmarks/mock_upstream.py --port 8999 [--api-key KEY]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys

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


class MockProtocol(asyncio.Protocol):
    """One connection: buffers bytes, answers each complete request in order."""

    def __init__(self, api_key: str | None) -> None:
        self._api_key = api_key
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
            del self._buffer[:total]
            close = headers.get("connection", "").lower() == "close"
            self._transport.write(self._answer(request_line, headers))
            if close:
                self._transport.close()
                self._transport = None

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
            return _response("200 OK", json.dumps({"served": Stats.served, "refused": Stats.refused}).encode())
        if method == "GET" and path in ("/health", "/healthz"):
            return _response("200 OK", b'{"status":"ok"}')
        return NOT_FOUND

    def _fail(self) -> None:
        if self._transport is not None:
            self._transport.write(BAD_REQUEST)
            self._transport.close()
            self._transport = None


async def serve(host: str, port: int, api_key: str | None) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: MockProtocol(api_key), host, port, backlog=1024, reuse_address=True)
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(f"mock upstream listening on http://{host}:{port}/v1", flush=True)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8999)
    parser.add_argument("--api-key", default=None, help="also require exactly this bearer token")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, args.api_key))
    return 0


if __name__ == "__main__":
    sys.exit(main())
