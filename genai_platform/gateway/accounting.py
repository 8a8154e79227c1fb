"""Metering for one gateway call: admit it against rate limits and budgets before dispatch, then
settle the reservation and write exactly one usage record, whatever the outcome."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings

from genai_platform.metering.limits import Admission, LimitExceeded, LimitPolicy
from genai_platform.metering.metrics import observe_call
from genai_platform.metering.models import UsageRecord
from genai_platform.metering.selectors import limit_policy
from genai_platform.metering.services import limits_admit, limits_settle, usage_cost, usage_record
from genai_platform.providers.types import Usage
from genai_platform.router.dispatch import Served
from governance.capture import capture_for_buffer
from lob_tenants.selectors import KeyPrincipal
from model_catalog.selectors import DeploymentTarget

from .errors import GatewayError


@dataclass
class CallMeter:
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
            status = (
                UsageRecord.Status.BUDGET_EXCEEDED
                if refused.code == "budget_exceeded"
                else UsageRecord.Status.RATE_LIMITED
            )
            self.finish(status=status, error_code=refused.code)
            raise GatewayError(429, refused.message, code=refused.code, headers=refused.headers) from None
        return self.admission.rate_headers

    def finish(
        self,
        *,
        status: str,
        served: Served | None = None,
        usage: Usage | None = None,
        error_code: str = "",
        prompt: str = "",
        output: str = "",
    ) -> Decimal:
        """Settles the reservation and buffers the usage record; safe to call once per call only."""
        if self.finished or not self.enabled:
            return Decimal("0")
        self.finished = True
        usage = usage or Usage()
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
        if self.policy is not None and self.admission is not None:
            limits_settle(self.policy, self.admission, actual_tokens=usage.total_tokens, actual_cost=cost)
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
                "capture": capture_for_buffer(self.principal.prompt_capture, prompt, output),
                "guardrails": self.guardrails,
            }
        )
        return cost
