"""A whole (non-streamed) JSON request to an OpenAI-compatible server, over a urllib3 connection pool.

The `openai` SDK spends ~1.05 ms of CPU on one such POST (request options, header building, httpx,
httpcore and h11) against ~0.4 ms for urllib3 (already installed: botocore depends on it), measured
against the benchmark's mock upstream on one thread (docs/performance.md). A provider worker at a
few hundred calls a second runs every call under one GIL, so that difference is ~13 % of its CPU
per call. Streams and embeddings stay on the SDK.

The request is what the SDK sends that servers act on: the JSON body, Bearer auth, the
organization and project headers, the account's default headers and the SDK's User-Agent (the
client's own `default_headers` and `auth_headers`). A status error is raised as `StatusError`, holding what the SDK's
`APIStatusError` would (the adapter maps both with one function); a timeout is a timeout, anything
else on the way is `unavailable`. The pool follows redirects as httpx does for the SDK, and retries nothing: the
router owns retries.

A proxy from the environment (`HTTPS_PROXY` and friends, which httpx honours) is not spoken here:
an account whose endpoint would go through one keeps the SDK for every call (`json_poster`
returns None).
"""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

import certifi
import httpx
import openai
import urllib3

from .types import ErrorKind, ProviderError


class StatusError(Exception):
    """An answer with an error status, as the SDK would have read it into `APIStatusError`."""

    def __init__(self, status: int, error: Any, message: str, headers: Mapping[str, str]) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.headers = status, error, message, headers


class JsonPoster:
    """POSTs JSON bodies under one base URL; thread-safe, one per adapter."""

    def __init__(self, base_url: str, headers: Mapping[str, str], *, timeout: float, size: int) -> None:
        self._base_url = base_url.rstrip("/")
        self._headers = {"Accept": "application/json", "Content-Type": "application/json", **headers}
        self._pools = urllib3.PoolManager(
            # As many kept connections as the worker runs calls; beyond that one is opened and closed.
            maxsize=size,
            block=False,
            retries=urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=5),
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
            ca_cert_dir=os.environ.get("SSL_CERT_DIR"),
        )

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        """The server's JSON answer; `StatusError` for an error status, `ProviderError` for a timeout,
        a broken exchange or an answer that is not JSON."""
        try:
            response = self._pools.request(
                "POST", self._base_url + path, body=json.dumps(body).encode(), headers=self._headers
            )
        except urllib3.exceptions.MaxRetryError as exc:
            raise _transport_error(exc.reason or exc) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise _transport_error(exc) from exc
        if response.status >= 300:
            raise _status_error(response)
        try:
            return json.loads(response.data)
        except ValueError as exc:
            raise ProviderError(ErrorKind.UNAVAILABLE, f"malformed reply from the endpoint: {exc}") from exc


def json_poster(client: openai.OpenAI, *, size: int) -> JsonPoster | None:
    """A poster sending what `client` would send to the same base URL, or None when the
    environment routes that URL through a proxy (the SDK then keeps every call)."""
    base_url = str(client.base_url)
    host = urllib.parse.urlsplit(base_url).hostname or ""
    scheme = urllib.parse.urlsplit(base_url).scheme
    proxies = urllib.request.getproxies()  # HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, as httpx reads them
    if (scheme in proxies or "all" in proxies) and not urllib.request.proxy_bypass(host):
        return None
    sent = {**client.default_headers, **client.auth_headers}
    headers = {name: value for name, value in sent.items() if isinstance(value, str)}
    timeout = client.timeout
    if isinstance(timeout, httpx.Timeout):  # the SDK's own default when none was given: read it
        timeout = timeout.read
    return JsonPoster(base_url, headers, timeout=float(timeout or 600.0), size=size)


def _transport_error(exc: BaseException) -> ProviderError:
    # urllib3 makes a refused or unresolvable connection (NewConnectionError) a kind of connect timeout.
    timed_out = isinstance(exc, urllib3.exceptions.TimeoutError | TimeoutError)
    if timed_out and not isinstance(exc, urllib3.exceptions.NewConnectionError):
        return ProviderError(ErrorKind.TIMEOUT, "the request timed out")
    return ProviderError(ErrorKind.UNAVAILABLE, f"cannot reach the endpoint: {type(exc).__name__}: {exc}")


def _status_error(response: urllib3.BaseHTTPResponse) -> StatusError:
    text = response.data.decode("utf-8", errors="replace").strip()
    try:
        body: Any = json.loads(text)
    except ValueError:
        body = text
    # What the SDK makes of an error body: its `error` object, else the whole body.
    error = body.get("error", body) if isinstance(body, dict) else body
    return StatusError(response.status, error, f"Error code: {response.status} - {body}", response.headers)
