"""Gateway middleware: a request id on every response, OpenAI-style errors for anything under
/v1/ that Django would otherwise answer with an HTML page, and the edge's refusals that come before
any view: a path holding a NUL character (no id can contain one: 404 rather than a database error)
and a `/v1/` body that is not declared JSON (415)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

from .errors import GatewayError, error_response

logger = logging.getLogger(__name__)

API_PREFIX = "/v1/"
MANAGEMENT_API_PREFIX = "/api/"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class RequestIdMiddleware:
    # Async-capable: a sync-only middleware would hold a thread for each async view's whole wait.
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if iscoroutinefunction(self):
            return self._acall(request)
        request.request_id = f"req_{uuid.uuid4().hex}"
        return self._answered(request, self._refusal(request) or self.get_response(request))

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        request.request_id = f"req_{uuid.uuid4().hex}"
        return self._answered(request, self._refusal(request) or await self.get_response(request))

    @staticmethod
    def _answered(request: HttpRequest, response: HttpResponse) -> HttpResponse:
        is_json = response.get("Content-Type", "").startswith("application/json")
        if request.path.startswith(API_PREFIX) and response.status_code in (404, 500) and not is_json:
            response = error_response(_fallback_error(request, response.status_code))
        response["x-request-id"] = request.request_id
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith(API_PREFIX):
            return None
        logger.exception("unhandled error in %s %s (%s)", request.method, request.path, request.request_id)
        return error_response(_fallback_error(request, 500))

    @staticmethod
    def _refusal(request: HttpRequest) -> HttpResponse | None:
        if "\x00" in request.path:
            # PostgreSQL cannot even compare text holding NUL: a lookup by such an id would fail
            # with a DataError, so it is refused as the unknown URL it is.
            if request.path.startswith(API_PREFIX):
                return error_response(_fallback_error(request, 404))
            if request.path.startswith(MANAGEMENT_API_PREFIX):
                return JsonResponse({"detail": "Not found."}, status=404)
            raise Http404("No such page.")
        if _is_v1_body(request) and request.content_type != "application/json":
            declared = request.content_type or "none"
            return error_response(
                GatewayError(
                    415,
                    f"Unsupported Content-Type '{declared}': send the request body as JSON with "
                    "'Content-Type: application/json'.",
                    code="unsupported_media_type",
                )
            )
        return None


def _is_v1_body(request: HttpRequest) -> bool:
    """A `/v1/` request carrying a body (a body-less POST, such as a cancel, needs no type)."""
    if not request.path.startswith(API_PREFIX) or request.method not in _BODY_METHODS:
        return False
    length = request.META.get("CONTENT_LENGTH") or ""
    return (length.isdigit() and int(length) > 0) or "HTTP_TRANSFER_ENCODING" in request.META


def _fallback_error(request: HttpRequest, status: int) -> GatewayError:
    if status == 404:
        path = request.path.replace("\x00", "\\u0000")
        return GatewayError(404, f"Unknown request URL: {request.method} {path}.", code="unknown_url")
    return GatewayError(
        500, f"The server had an error processing your request (request id {request.request_id}).", code="server_error"
    )
