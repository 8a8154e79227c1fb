"""OCI failures -> `ProviderError`: service errors by status and message, and whatever the SDK's
vendored requests/urllib3 stack raises (timeouts nested inside connection errors included)."""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Callable
from typing import Any

import oci

from genai_platform.providers.types import (
    ErrorKind,
    ProviderError,
)

_CONTEXT_TOO_LONG = re.compile(
    r"context (length|window)|too long|too many (input )?tokens|reduce the length|maximum (context|input|prompt)"
    r"|exceeds? the (maximum|max|limit)",
    re.IGNORECASE,
)
_CONTENT_FILTERED = re.compile(
    r"content (moderation|filter|policy)|inappropriate|unsafe content|toxic|blocked by (the )?(safety|guardrail)",
    re.IGNORECASE,
)


def invoke(operation: Callable[[Any], Any], details: Any) -> Any:
    try:
        return operation(details)
    except Exception as exc:
        raise provider_error(exc) from exc


def provider_error(exc: BaseException) -> ProviderError:
    """Maps every failure the SDK (or its vendored requests/urllib3 stack) can raise onto ErrorKind."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, oci.exceptions.ServiceError):
        return _service_error(exc)
    if isinstance(exc, oci.exceptions.ClientError):
        return ProviderError(ErrorKind.AUTH, f"OCI client configuration error: {exc}")
    if _is_timeout(exc):
        return ProviderError(ErrorKind.TIMEOUT, f"OCI request timed out: {_describe(exc)}")
    if isinstance(exc, ValueError | TypeError):
        return ProviderError(ErrorKind.BAD_REQUEST, f"OCI rejected the request locally: {exc}")
    return ProviderError(ErrorKind.UNAVAILABLE, f"OCI request failed: {_describe(exc)}")


def _service_error(exc: Any) -> ProviderError:
    status = int(exc.status) if isinstance(exc.status, int) else None
    message = f"OCI {status} {exc.code}: {exc.message}"
    if status == 400 or status == 422:
        if _CONTENT_FILTERED.search(exc.message or ""):
            return ProviderError(ErrorKind.CONTENT_FILTERED, message, status_code=status)
        if _CONTEXT_TOO_LONG.search(exc.message or ""):
            return ProviderError(ErrorKind.CONTEXT_LENGTH_EXCEEDED, message, status_code=status)
        return ProviderError(ErrorKind.BAD_REQUEST, message, status_code=status)
    if status in (401, 403):
        return ProviderError(ErrorKind.AUTH, message, status_code=status)
    if status == 404:
        return ProviderError(ErrorKind.NOT_FOUND, message, status_code=status)
    if status == 408:
        return ProviderError(ErrorKind.TIMEOUT, message, status_code=status)
    if status == 429:
        headers = exc.headers or {}
        return ProviderError(
            ErrorKind.THROTTLED, message, retry_after=_retry_after(headers.get("retry-after")), status_code=status
        )
    if status is not None and 400 <= status < 500:
        return ProviderError(ErrorKind.BAD_REQUEST, message, status_code=status)
    return ProviderError(ErrorKind.UNAVAILABLE, message, status_code=status)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _is_timeout(exc: BaseException) -> bool:
    """The SDK wraps requests' and urllib3's timeouts (sometimes inside ConnectionError); look through."""
    seen: set[int] = set()
    pending: list[Any] = [exc]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, TimeoutError) or "Timeout" in type(current).__name__:
            return True
        pending.extend([current.__cause__, current.__context__, *current.args])
        pending.append(getattr(current, "reason", None))
    return False


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]
