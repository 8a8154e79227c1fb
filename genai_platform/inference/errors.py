"""Why a model call did not happen or did not finish, in the platform's own terms.

The core raises only these; the gateway maps each class to an OpenAI-style HTTP error in one place
(`gateway/errors.py`, `gateway_error_for`), and other callers (agent runs, ingestion) read `code`,
`message` and `retryable` without knowing anything of HTTP.
"""

from __future__ import annotations

from genai_platform.providers.types import ErrorKind, ProviderError


class InferenceError(Exception):
    """A refused or failed call. `code` is the stable machine-readable reason, `param` the request
    field at fault (if one is), `retryable` whether the same call may succeed later."""

    retryable = False

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param


class InvalidRequest(InferenceError):
    """The request cannot be served as asked (capability, context window, prompt variables)."""


class ModelNotFound(InferenceError):
    """The alias does not exist or the key may not see it: the two are indistinguishable on purpose."""


class NotPermitted(InferenceError):
    """Governance forbids the call: the use case is not approved, or not for this model or data."""


class GuardrailBlocked(InferenceError):
    """The use case's guardrail policy blocked the request or the answer."""

    def __init__(self, message: str, *, policy_version: str) -> None:
        super().__init__(message, code="guardrail_blocked")
        self.policy_version = policy_version


class GuardrailFailed(GuardrailBlocked):
    """A guardrail check could not give a verdict (it raised or overran) and the policy fails closed:
    refused with `guardrail_error`, never let through unchecked."""

    retryable = True

    def __init__(self, message: str, *, policy_version: str) -> None:
        super().__init__(message, policy_version=policy_version)
        self.code = "guardrail_error"


class LimitRefused(InferenceError):
    """A rate limit or budget refused the call; `retry_after` seconds until it may pass, if known."""

    retryable = True

    def __init__(
        self, message: str, *, code: str, retry_after: int | None = None, rate_headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after
        #: The x-ratelimit-* state at the refusal (OpenAI sends it on 429s too).
        self.rate_headers = rate_headers or {}


class Unavailable(InferenceError):
    """Something the call needs is missing or down (no live deployment, a vector store, an alias)."""

    retryable = True


class ProviderMisbehaved(InferenceError):
    """A provider answered, but not as the platform requires (e.g. an embedding of the wrong size)."""

    retryable = True


#: Provider failures that are the caller's own doing: repeating the same call cannot help.
CALLERS_FAULTS = frozenset({ErrorKind.CONTEXT_LENGTH_EXCEEDED, ErrorKind.CONTENT_FILTERED, ErrorKind.BAD_REQUEST})


class ProviderFailed(InferenceError):
    """Every attempt failed: `error` is the last provider error, `attempts` how many were made."""

    def __init__(self, error: ProviderError, *, attempts: int) -> None:
        super().__init__(error.message, code=error.kind.value)
        self.error = error
        self.attempts = attempts

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        return self.error.kind not in CALLERS_FAULTS
