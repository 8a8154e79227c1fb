"""The one place an agent run calls a tool over HTTP.

The platform POSTs the validated arguments as JSON to the tool's endpoint and reads back at most
`AGENT_TOOL_MAX_RESPONSE_BYTES`. Redirects are never followed: the allow-list approved this URL,
not wherever it might send the call next. The auth header's value is resolved from its credential
reference here, in the process making the call, and appears in no record.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from genai_platform.providers.credentials import resolve_credentials
from genai_platform.providers.types import ProviderError

USER_AGENT = "genai-platform-agent/1"


@dataclass(frozen=True)
class ToolResponse:
    """What the tool answered: `status` is the HTTP status (None when no answer came), `error` is
    empty for a 2xx answer."""

    status: int | None
    body: str
    error: str
    latency_ms: float
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return not self.error


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx itself is returned to the caller as an error


_OPENER = urllib.request.build_opener(_NoRedirects)


def tool_http_call(
    *,
    url: str,
    arguments: dict[str, Any],
    timeout: float,
    max_bytes: int,
    auth_header_name: str = "",
    auth_credential_ref: str = "",
    request_id: str = "",
) -> ToolResponse:
    started = time.monotonic()
    headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": USER_AGENT}
    if request_id:
        headers["X-Request-Id"] = request_id
    if auth_credential_ref:
        try:
            secret = resolve_credentials({"auth": auth_credential_ref}, os.environ)["auth"]
        except ProviderError as error:
            return ToolResponse(None, "", f"the tool's credential is not available: {error.message}", 0.0)
        headers[auth_header_name or "Authorization"] = secret
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked (http/https) when the tool is saved
        url, data=json.dumps(arguments).encode(), headers=headers, method="POST"
    )
    try:
        with _OPENER.open(request, timeout=max(timeout, 0.01)) as response:
            body = response.read(max_bytes + 1)
            status = response.status
    except urllib.error.HTTPError as answered:
        body = answered.read(max_bytes + 1) if answered.fp is not None else b""
        text, truncated = _text(body, max_bytes)
        return ToolResponse(answered.code, text, f"the tool answered HTTP {answered.code}", _since(started), truncated)
    except TimeoutError:
        return ToolResponse(None, "", f"the tool did not answer within {timeout:g} s", _since(started))
    except (urllib.error.URLError, OSError) as failed:
        reason = getattr(failed, "reason", failed)
        if isinstance(reason, TimeoutError):
            return ToolResponse(None, "", f"the tool did not answer within {timeout:g} s", _since(started))
        return ToolResponse(None, "", f"the tool could not be reached: {reason}", _since(started))
    text, truncated = _text(body, max_bytes)
    return ToolResponse(status, text, "", _since(started), truncated)


def _text(body: bytes, max_bytes: int) -> tuple[str, bool]:
    truncated = len(body) > max_bytes
    return body[:max_bytes].decode("utf-8", errors="replace"), truncated


def _since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 3)
