"""Guardrails on every model call: the use case's effective policy checks every user and tool
message before dispatch (masked text is what the provider receives) and the answer after it,
whole or streamed."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from genai_platform.metering.metrics import observe_guardrail
from genai_platform.providers.types import ChatRequest
from governance.guardrails.masking import MaskingSession
from governance.guardrails.policy import Direction
from governance.guardrails.results import GuardrailResult
from governance.guardrails.shadow import shadow_evaluate
from governance.guardrails.streaming import StreamingGuard
from governance.services.guardrail_policies import EffectivePolicy, effective_policy, guardrail_engine, shadow_tally
from lob_tenants.selectors import KeyPrincipal

from .errors import GuardrailBlocked

CHECKED_ROLES = ("user", "tool")


@dataclass
class CallGuard:
    """The guardrail state of one call: its policy, the masking session shared by input and output,
    and what the checks did (for headers, the audit event and metrics)."""

    effective: EffectivePolicy
    session: MaskingSession = field(default_factory=MaskingSession)
    actions: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """For the call's audit event: which versions applied and what acted (never the text)."""
        return {"policy": self.version, "actions": self.actions} if self.active else {}

    @property
    def active(self) -> bool:
        return self.effective.policy is not None

    @property
    def version(self) -> str:
        return self.effective.label or "none"

    def check_input(self, request: ChatRequest) -> ChatRequest:
        """The request with user and tool messages masked, or `GuardrailBlocked`."""
        if not self.active:
            return request
        messages = []
        for message in request.messages:
            if message.role in CHECKED_ROLES and message.content:
                result = self._evaluate(message.content, Direction.INPUT)
                message = dataclasses.replace(message, content=result.text)
            messages.append(message)
        return dataclasses.replace(request, messages=tuple(messages))

    def check_values(self, values: dict[str, Any]) -> dict[str, Any]:
        """Prompt variables checked like user messages (they are the caller's words, rendered into a
        system message): the values masked, or `GuardrailBlocked`."""
        if not self.active:
            return values
        return {name: self._checked_value(value) for name, value in values.items()}

    def _checked_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._evaluate(value, Direction.INPUT).text if value else value
        if isinstance(value, list):
            return [self._checked_value(item) for item in value]
        if isinstance(value, dict):
            return {key: self._checked_value(item) for key, item in value.items()}
        return value

    def apply(self, texts: tuple[str, ...], direction: Direction, context: str | None = None) -> dict[str, Any]:
        """The standalone check: what each text would become, and what acted, without raising on a block."""
        if not self.active:
            return {"policy": self.version, "action": "none", "outputs": [{"text": t} for t in texts], "checks": []}
        outputs, checks, blocked_by = [], [], None
        for text in texts:
            result = guardrail_engine().evaluate(text, self.effective.policy, direction, context, session=self.session)
            outputs.append({"text": "" if result.blocked else result.text})
            for outcome in result.outcomes:
                if outcome.action is not None and outcome.findings:
                    self._note(outcome.check.value, outcome.action.value, direction)
                    checks.append(
                        {
                            "check": outcome.check.value,
                            "action": outcome.action.value,
                            "findings": [
                                {"type": f.entity_type, "start": f.start, "end": f.end} for f in outcome.findings
                            ],
                        }
                    )
            if result.blocked and blocked_by is None:
                blocked_by = result.blocked_by.value if result.blocked_by else "policy"
        actions = {c["action"] for c in checks}
        action = "blocked" if blocked_by else "masked" if "mask" in actions else "flagged" if actions else "none"
        return {
            "policy": self.version,
            "action": action,
            "blocked_by": blocked_by,
            "outputs": outputs,
            "checks": checks,
        }

    def check_output(self, text: str, context: str | None = None) -> str:
        if not self.active or not text:
            return text
        return self._evaluate(text, Direction.OUTPUT, context).text

    def stream(self) -> StreamingGuard | None:
        if not self.active:
            return None
        return StreamingGuard(self.effective.policy, engine=guardrail_engine(), session=self.session)

    def record_stream_outcome(self, guard: StreamingGuard) -> None:
        if guard.blocked and guard.blocked_by is not None:
            self._note(guard.blocked_by.value, "block", Direction.OUTPUT)

    def _evaluate(self, text: str, direction: Direction, context: str | None = None) -> GuardrailResult:
        result = guardrail_engine().evaluate(text, self.effective.policy, direction, context, session=self.session)
        if self.effective.shadow is not None:
            # The candidate runs detect-only beside the enforced policy; only its verdicts are counted.
            comparison = shadow_evaluate(
                text, self.effective.shadow, direction, result, context, engine=guardrail_engine()
            )
            shadow_tally().record(self.effective.shadow_label, comparison)
        for outcome in result.outcomes:
            if outcome.action is not None and outcome.findings:
                self._note(outcome.check.value, outcome.action.value, direction)
        if result.blocked:
            check = result.blocked_by.value if result.blocked_by else "policy"
            noun = "request" if direction is Direction.INPUT else "response"
            raise GuardrailBlocked(
                f"The {noun} was blocked by the '{check}' check of guardrail policy {self.version}.",
                policy_version=self.version,
            )
        return result

    def _note(self, check: str, action: str, direction: Direction) -> None:
        self.actions[f"{direction.value}.{check}"] = action
        observe_guardrail(check=check, action=action, direction=direction.value)


def call_guard(principal: KeyPrincipal) -> CallGuard:
    return CallGuard(effective_policy(lob_id=principal.lob_id, use_case_id=principal.use_case_id))
