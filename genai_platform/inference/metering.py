"""Metering for one model call: admit it against rate limits and budgets before dispatch, then
settle the reservation and write exactly one usage record, whatever ends the call.

`CallMeter` is a context manager around the call (`with meter: ...`): the steps of the call say
what they learned (`served`, `usage`, `prompt`, `output`, or a `status` other than success) and
leaving the block records it, or records the exception that ended the call. Nothing calls a
`finish()` on each way out."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from dataclasses import dataclass, field
from decimal import Decimal
from types import TracebackType
from typing import Any, Self

from django.conf import settings
from opentelemetry.trace import SpanKind

from genai_platform import telemetry
from genai_platform.ledger.services import usage_record
from genai_platform.metering.limits import Admission, LimitExceeded, LimitPolicy
from genai_platform.metering.metrics import observe_call
from genai_platform.metering.models import UsageRecord
from genai_platform.metering.selectors import limit_policy
from genai_platform.metering.services import PendingSettlement, limits_admit, usage_cost
from genai_platform.providers.types import Usage
from genai_platform.router.dispatch import Served
from governance.capture import capture_for_buffer
from model_catalog.selectors import DeploymentTarget

from .errors import GuardrailBlocked, InferenceError, LimitRefused
from .principal import KeyPrincipal


@dataclass
class CallMeter:
    """The metering scope of one call. Entered before anything is reserved; left once the call is over."""

    principal: KeyPrincipal
    request_id: str
    endpoint: str
    alias: str
    end_user: str = ""
    stream: bool = False
    started: float = field(default_factory=time.monotonic)
    policy: LimitPolicy | None = None
    admission: Admission | None = None
    finished: bool = False
    #: What the guardrails did on this call (policy versions and actions), for the audit event.
    guardrails: dict[str, Any] = field(default_factory=dict)
    # What the call's steps learned, recorded when the scope ends.
    status: str = UsageRecord.Status.SUCCESS
    error_code: str = ""
    served: Served | None = None
    usage: Usage | None = None
    prompt: str = ""
    output: str = ""
    #: Texts of `prompt` and `output` the call's guardrails already redacted (`CallGuard.redacted_texts`).
    redacted_texts: set[str] = field(default_factory=set)
    #: The call's cost at the deployment's price, known once the scope ended.
    cost: Decimal = Decimal("0")
    #: The call's span and GenAI metrics (no-ops unless OpenTelemetry is on).
    _trace_scope: Any = field(default=None, repr=False)
    _traced: telemetry.ModelCall | None = field(default=None, repr=False)

    def __enter__(self) -> Self:
        self._trace_scope = telemetry.model_call(
            operation=_OPERATION_NAMES.get(self.endpoint, self.endpoint),
            provider="",
            request_model=self.alias,
            kind=SpanKind.SERVER,
            attributes={"genai_platform.lob": self.principal.lob_slug, "genai_platform.request_id": self.request_id},
        )
        self._traced = self._trace_scope.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if exc is not None:
            self.status, self.error_code = _failure_of(exc, self.status, self.error_code)
        try:
            self.cost = self._record()
        finally:
            self._end_trace(exc_type, exc, traceback)

    def first_chunk(self) -> None:
        """A stream's first chunk reached the caller (its time is the GenAI time to first chunk)."""
        if self._traced is not None:
            self._traced.first_chunk()

    def _end_trace(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        traced, scope = self._traced, self._trace_scope
        if traced is None or scope is None:
            return
        self._traced = self._trace_scope = None
        if self.served is not None:
            traced.served(provider=self.served.target.provider, response_model=self.served.target.provider_model_id)
        if self.usage is not None:
            traced.usage(input_tokens=self.usage.input_tokens, output_tokens=self.usage.output_tokens)
        if self.status not in (UsageRecord.Status.SUCCESS, UsageRecord.Status.CACHE_HIT):
            traced.failed(self.error_code or str(self.status))
        scope.__exit__(exc_type, exc, traceback)

    @property
    def enabled(self) -> bool:
        return settings.METERING_ENABLED

    def admit(
        self,
        targets: tuple[DeploymentTarget, ...] | list[DeploymentTarget],
        *,
        input_tokens: int,
        max_output_tokens: int | None,
    ) -> dict[str, str]:
        """Counts the call against every limit and reserves its worst-case cost; returns the rate headers."""
        if not self.enabled or not targets:
            return {}
        self.policy = limit_policy(
            key_id=self.principal.key_id, use_case_id=self.principal.use_case_id, lob_id=self.principal.lob_id
        )
        if not self.policy.rates and not self.policy.budgets:
            return {}
        output_ceiling = max_output_tokens or max(t.max_output_tokens for t in targets)
        worst_case = max(
            usage_cost(
                input_tokens=input_tokens,
                output_tokens=output_ceiling,
                input_price_per_million=t.input_price_per_million,
                output_price_per_million=t.output_price_per_million,
            )
            for t in targets
        )
        try:
            self.admission = limits_admit(
                self.policy, tokens=input_tokens + (max_output_tokens or 0), reserve=worst_case
            )
        except LimitExceeded as refused:
            raise LimitRefused(
                refused.message, code=refused.code, retry_after=refused.retry_after, rate_headers=refused.rate_headers
            ) from None
        return self.admission.rate_headers

    def _record(self) -> Decimal:
        """Settles the reservation and buffers the usage record, once."""
        if self.finished or not self.enabled:
            return Decimal("0")
        self.finished = True
        status, served, error_code = self.status, self.served, self.error_code
        usage = self.usage or Usage()
        target = served.target if served is not None else None
        cost = (
            usage_cost(
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                input_price_per_million=target.input_price_per_million,
                output_price_per_million=target.output_price_per_million,
            )
            if target is not None
            else Decimal("0")
        )
        settlement = (
            PendingSettlement(self.policy, self.admission, actual_tokens=usage.total_tokens, actual_cost=cost)
            if self.policy is not None and self.admission is not None
            else None
        )
        latency = time.monotonic() - self.started
        observe_call(
            endpoint=self.endpoint,
            provider=target.provider if target else "",
            deployment=target.deployment if target else "",
            status=status,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost=cost,
            latency_seconds=latency,
            error_code=error_code,
        )
        usage_record(
            {
                "request_id": self.request_id,
                "occurred_at": dt.datetime.now(dt.UTC).isoformat(),
                "lob_id": self.principal.lob_id,
                "use_case_id": self.principal.use_case_id,
                "api_key_id": self.principal.key_id,
                "end_user": self.end_user,
                "endpoint": self.endpoint,
                "alias": self.alias,
                "deployment": target.deployment if target else "",
                "provider": target.provider if target else "",
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "tokens_estimated": usage.estimated,
                "input_price_per_million": str(target.input_price_per_million) if target else "0",
                "output_price_per_million": str(target.output_price_per_million) if target else "0",
                "cost": str(cost),
                "latency_ms": round(latency * 1000, 3),
                "attempts": served.attempts if served is not None else 0,
                "stream": self.stream,
                "status": status,
                "error_code": error_code,
                "lob_slug": self.principal.lob_slug,
                "key_prefix": self.principal.prefix,
                "capture": capture_for_buffer(
                    self.principal.prompt_capture, self.prompt, self.output, redacted=self.redacted_texts
                ),
                "guardrails": self.guardrails,
            },
            # Settled in the round trip that buffers the record (after it: billing first).
            settlement=settlement,
        )
        return cost


#: The meter's endpoint -> `gen_ai.operation.name`.
_OPERATION_NAMES = {"chat": "chat", "responses": "chat", "embeddings": "embeddings", "agent": "invoke_agent"}


#: The message of the cancellation a draining gateway ends an open stream with (gateway/draining.py).
GATEWAY_SHUTDOWN = "gateway_shutdown"


def _failure_of(exc: BaseException, status: str, error_code: str) -> tuple[str, str]:
    """The usage status and error code of a call that `exc` ended."""
    if isinstance(exc, GuardrailBlocked):  # `guardrail_error` when a check failed closed
        return UsageRecord.Status.GUARDRAIL_BLOCKED, exc.code or "guardrail_blocked"
    if isinstance(exc, LimitRefused):
        limited = exc.code == "budget_exceeded"
        return (UsageRecord.Status.BUDGET_EXCEEDED if limited else UsageRecord.Status.RATE_LIMITED), exc.code or ""
    if isinstance(exc, InferenceError):
        return UsageRecord.Status.PROVIDER_ERROR, exc.code or "error"
    if isinstance(exc, Exception):
        return UsageRecord.Status.PROVIDER_ERROR, "internal_error"
    if isinstance(exc, asyncio.CancelledError) and exc.args == (GATEWAY_SHUTDOWN,):
        return UsageRecord.Status.CANCELLED, GATEWAY_SHUTDOWN
    # A stream the client stopped reading (GeneratorExit) keeps what its relay said it was so far.
    return status, error_code
