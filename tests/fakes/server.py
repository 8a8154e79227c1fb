"""A small threaded HTTP server on 127.0.0.1 for wire-compatible provider fakes.

A fake subclasses `FakeProviderHandler` and implements `handle_request(request)` returning a
`FakeResponse`; it must validate what it receives (path, auth headers or signature, body shape)
and answer malformed requests the way the real service does. Every accepted or rejected request
is recorded, and tests can queue faults (a status with headers and body, or a stall) that the
next well-formed requests receive instead of the normal answer.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeResponse:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: When set, the body is sent as these chunks, flushed one by one (streaming).
    chunks: Iterable[bytes] | None = None
    #: Seconds to wait before answering (to provoke client timeouts).
    delay: float = 0.0

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> FakeResponse:
        return cls(
            status=status,
            headers={"Content-Type": "application/json", **(headers or {})},
            body=json.dumps(payload).encode(),
        )


class FakeServer:
    """Runs a handler function in a background thread; use as a context manager."""

    def __init__(self, handle: Callable[[RecordedRequest], FakeResponse]) -> None:
        self._handle = handle
        self.requests: list[RecordedRequest] = []
        self.faults: deque[FakeResponse] = deque()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                recorded = RecordedRequest(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                with server._lock:
                    server.requests.append(recorded)
                    fault = server.faults.popleft() if server.faults else None
                response = server._handle(recorded)
                # A queued fault replaces only an answer the fake accepted: a malformed request is
                # refused as the real service would, fault or not.
                if fault is not None and response.status < 400:
                    response = fault
                if response.delay:
                    time.sleep(response.delay)
                self._write(response)

            def _write(self, response: FakeResponse) -> None:
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                if response.chunks is None:
                    self.send_header("Content-Length", str(len(response.body)))
                    self.end_headers()
                    self.wfile.write(response.body)
                    return
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for chunk in _nonempty(response.chunks):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, response: FakeResponse, times: int = 1) -> None:
        for _ in range(times):
            self.faults.append(response)

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class _QuietServer(ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: a worker opening hundreds of connections at once
    # (its thread pool) would see connections refused, which no real provider does.
    request_queue_size = 1024

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up on purpose (timeouts, cancelled streams) is not a server error."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _nonempty(chunks: Iterable[bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        if chunk:
            yield chunk
