"""OpenAI-style errors: `{"error": {"message", "type", "param", "code"}}` with the right status.

`gateway_error_for` is the one place where the inference core's domain errors become HTTP errors."""

from __future__ import annotations

from django.http import JsonResponse

from genai_platform.inference.errors import (
    GuardrailBlocked,
    GuardrailFailed,
    InferenceError,
    InvalidRequest,
    LimitRefused,
    ModelNotFound,
    NotPermitted,
    ProviderFailed,
    ProviderMisbehaved,
    Unavailable,
)
from genai_platform.providers.types import ErrorKind, ProviderError

_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
}


class GatewayError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers or {}


def error_response(error: GatewayError) -> JsonResponse:
    error_type = _TYPE_BY_STATUS.get(error.status, "api_error" if error.status >= 500 else "invalid_request_error")
    response = JsonResponse(
        {"error": {"message": error.message, "type": error_type, "param": error.param, "code": error.code}},
        status=error.status,
    )
    for name, value in error.headers.items():
        response[name] = value
    return response


# How a provider failure looks to the application: its own mistakes are 4xx, ours and the
# provider's are 5xx, and details of our provider accounts (auth, missing models) never leak.
_PROVIDER_ERROR_STATUS: dict[ErrorKind, tuple[int, str]] = {
    ErrorKind.THROTTLED: (429, "The model is overloaded; retry after a moment."),
    ErrorKind.TIMEOUT: (504, "The model did not answer before the request deadline."),
    ErrorKind.UNAVAILABLE: (503, "The model is temporarily unavailable."),
    ErrorKind.CONTEXT_LENGTH_EXCEEDED: (400, ""),
    ErrorKind.CONTENT_FILTERED: (400, "The provider's content filter refused this request."),
    ErrorKind.AUTH: (502, "The platform could not authenticate to the model provider."),
    ErrorKind.BAD_REQUEST: (400, ""),
    ErrorKind.NOT_FOUND: (502, "The model's deployment is misconfigured."),
}


def provider_error_as_gateway_error(error: ProviderError) -> GatewayError:
    status, message = _PROVIDER_ERROR_STATUS[error.kind]
    headers = {}
    if error.kind == ErrorKind.THROTTLED and error.retry_after:
        headers["Retry-After"] = str(max(1, round(error.retry_after)))
    return GatewayError(status, message or error.message, code=error.kind.value, headers=headers)


_STATUS_BY_ERROR: tuple[tuple[type[InferenceError], int], ...] = (
    (InvalidRequest, 400),
    (GuardrailFailed, 503),  # before its parent: a failed check is the platform's fault, not the caller's
    (GuardrailBlocked, 400),
    (NotPermitted, 403),
    (ModelNotFound, 404),
    (LimitRefused, 429),
    (ProviderMisbehaved, 502),
    (Unavailable, 503),
)


def gateway_error_for(error: InferenceError) -> GatewayError:
    """The HTTP error an application sees for a refused or failed model call."""
    if isinstance(error, ProviderFailed):
        mapped = provider_error_as_gateway_error(error.error)
        mapped.headers["x-genai-attempts"] = str(error.attempts)
        return mapped
    status = next((s for kind, s in _STATUS_BY_ERROR if isinstance(error, kind)), 500)
    headers: dict[str, str] = {}
    if isinstance(error, GuardrailBlocked):
        headers["x-genai-guardrail-policy"] = error.policy_version
    if isinstance(error, LimitRefused):
        headers.update(error.rate_headers)
        if error.retry_after:
            headers["Retry-After"] = str(error.retry_after)
    return GatewayError(status, error.message, code=error.code, param=error.param, headers=headers)
