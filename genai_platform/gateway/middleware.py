"""Gateway middleware: a request id on every response, and OpenAI-style errors for anything under
/v1/ that Django would otherwise answer with an HTML page."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .errors import GatewayError, error_response

logger = logging.getLogger(__name__)

API_PREFIX = "/v1/"


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.request_id = f"req_{uuid.uuid4().hex}"
        response = self.get_response(request)
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


def _fallback_error(request: HttpRequest, status: int) -> GatewayError:
    if status == 404:
        return GatewayError(404, f"Unknown request URL: {request.method} {request.path}.", code="unknown_url")
    return GatewayError(
        500, f"The server had an error processing your request (request id {request.request_id}).", code="server_error"
    )
