"""Guardrails on every model call: the use case's effective policy checks every user and tool
message before dispatch (masked text is what the provider receives) and the answer after it,
whole or streamed; retrieved chunks and tool results are screened item by item for instructions."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from genai_platform.metering.metrics import observe_guardrail, observe_guardrail_error
from genai_platform.providers.types import ChatRequest
from governance.capture import redaction_covered
from governance.guardrails.context import ContextKind, ContextScreen, screen_items
from governance.guardrails.masking import MaskingSession
from governance.guardrails.policy import Check, Direction, GuardrailPolicy
from governance.guardrails.results import GuardrailResult
from governance.guardrails.shadow import shadow_evaluate
from governance.guardrails.streaming import StreamingGuard
from governance.services.guardrail_policies import EffectivePolicy, effective_policy, guardrail_engine, shadow_tally

from .errors import GuardrailBlocked, GuardrailFailed
from .principal import KeyPrincipal

CHECKED_ROLES = ("user", "tool")
#: What the model reads instead of a tool result the indirect_injection rule dropped.
TOOL_RESULT_WITHHELD = "[The tool result was withheld by the guardrail policy: it carried instructions.]"


@dataclass
class CallGuard:
    """The guardrail state of one call: its policy, the masking session shared by input and output,
    and what the checks did (for headers, the audit event and metrics)."""

    effective: EffectivePolicy
    session: MaskingSession = field(default_factory=MaskingSession)
    actions: dict[str, str] = field(default_factory=dict)
    #: Item-by-item decisions on retrieved chunks and tool results (`ContextScreen.to_dict()`).
    context: list[dict[str, Any]] = field(default_factory=list)
    #: Texts this call's checks masked under rules covering the prompt-capture redaction: a redacted
    #: capture keeps them as they are instead of scanning them again in the flusher.
    redacted_texts: set[str] = field(default_factory=set)
    _summary: dict[str, Any] | None = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        """For the call's audit event: which versions applied and what acted (never the text). Always
        the same dict, so what later checks decide (actions, `context` decisions) is recorded too."""
        if not self.active:
            return {}
        if self._summary is None:
            self._summary = {"policy": self.version, "actions": self.actions}
        return self._summary

    @property
    def active(self) -> bool:
        return self.effective.policy is not None

    @property
    def version(self) -> str:
        return self.effective.label or "none"

    def check_input(self, request: ChatRequest) -> ChatRequest:
        """The request with user and tool messages masked, or `GuardrailBlocked` 400 `guardrail_blocked`."""
        if not self.active:
            return request
        messages = []
        for message in request.messages:
            if message.role == "tool" and message.content and self._screens_context:
                message = dataclasses.replace(message, content=self._checked_tool_result(message.content))
            elif message.role in CHECKED_ROLES and message.content:
                result = self._evaluate(message.content, Direction.INPUT)
                message = dataclasses.replace(message, content=result.text)
            messages.append(message)
        return dataclasses.replace(request, messages=tuple(messages))

    def check_texts(self, texts: tuple[str, ...]) -> tuple[str, ...]:
        """Texts the caller sends for a model to read without a chat (embeddings input, a search
        query), checked like user messages: masked, or `GuardrailBlocked`."""
        if not self.active:
            return texts
        return tuple(self._evaluate(text, Direction.INPUT).text if text else text for text in texts)

    def screen_retrieved(self, texts: list[str]) -> list[str | None]:
        """Retrieved chunks as the model may read them (quoted, or None when dropped), by the
        policy's indirect_injection rule; `GuardrailBlocked` when the rule (or a failed check) blocks."""
        return self._screen(texts, ContextKind.RETRIEVED)

    def screen_tool_result(self, text: str) -> str | None:
        """A tool's (or an MCP server's) result as the model may read it (quoted, or None when
        dropped); see screen_retrieved."""
        return self._screen([text], ContextKind.TOOL)[0]

    @property
    def _screens_context(self) -> bool:
        policy = self.effective.policy
        return policy is not None and policy.rule(Check.INDIRECT_INJECTION, Direction.INPUT) is not None

    def _checked_tool_result(self, content: str) -> str:
        """A tool's result (from an agent's tool, an MCP server, or a client's tool message):
        screened by the indirect_injection rule (quoted, withheld, or `GuardrailBlocked`), then checked
        by the other input rules. The direct-injection rule is left out for it: instructions in
        data are the indirect rule's to decide, so a quoted result is not then blocked for them."""
        screened = self.screen_tool_result(content)
        if screened is None:
            return TOOL_RESULT_WITHHELD
        policy = self.effective.policy
        assert policy is not None
        rest = dataclasses.replace(policy, rules=tuple(r for r in policy.rules if r.check is not Check.INJECTION))
        return self._evaluate(screened, Direction.INPUT, policy=rest).text

    def _screen(self, texts: list[str], kind: ContextKind) -> list[str | None]:
        if not self.active or not texts:
            return list(texts)
        screen = screen_items(texts, self.effective.policy, kind=kind, engine=guardrail_engine())
        self._record_screen(screen)
        if screen.blocked:
            code = "guardrail_error" if screen.failed else "guardrail_blocked"
            raise self._refusal("indirect_injection", Direction.INPUT, code, what=f"a {kind.value} item")
        return screen.texts()

    def _record_screen(self, screen: ContextScreen) -> None:
        if not screen.checked:
            return
        for decision in screen.decisions:
            if decision.error:
                observe_guardrail_error(check="indirect_injection", direction="input", error=decision.error)
        if screen.strongest is not None:
            self._note(f"indirect_injection.{screen.kind.value}", screen.strongest.value, Direction.INPUT)
            self.context.append(screen.to_dict())
            self.summary()["context"] = self.context

    def check_values(self, values: dict[str, Any]) -> dict[str, Any]:
        """Prompt variables checked like user messages (they are the caller's words, rendered into a
        system message): the values masked, or `GuardrailBlocked` 400 `guardrail_blocked`."""
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

    def headers(self) -> dict[str, str]:
        if not self.active:
            return {}
        headers = {"x-genai-guardrail-policy": self.version}
        if self.actions:
            headers["x-genai-guardrail-actions"] = ",".join(f"{k}={v}" for k, v in sorted(self.actions.items()))
        return headers

    def record_stream_outcome(self, guard: StreamingGuard) -> None:
        for check, error in guard.errors.items():
            observe_guardrail_error(check=check.value, direction="output", error=error)
        if guard.blocked and guard.blocked_by is not None:
            action = "error" if guard.blocked_by in guard.errors else "block"
            self._note(guard.blocked_by.value, action, Direction.OUTPUT)

    def _evaluate(
        self, text: str, direction: Direction, context: str | None = None, *, policy: GuardrailPolicy | None = None
    ) -> GuardrailResult:
        policy = policy or self.effective.policy
        result = guardrail_engine().evaluate(text, policy, direction, context, session=self.session)
        if self.effective.shadow is not None:
            # The candidate runs detect-only beside the enforced policy; only its verdicts are counted.
            comparison = shadow_evaluate(
                text, self.effective.shadow, direction, result, context, engine=guardrail_engine()
            )
            shadow_tally().record(self.effective.shadow_label, comparison)
        for outcome in result.outcomes:
            if outcome.error:  # counted and noted whether the policy blocks on it or lets it through
                observe_guardrail_error(check=outcome.check.value, direction=direction.value, error=outcome.error)
                self._note(outcome.check.value, "error", direction)
            elif outcome.action is not None and outcome.findings:
                self._note(outcome.check.value, outcome.action.value, direction)
        if result.blocked:
            check = result.blocked_by.value if result.blocked_by else "policy"
            raise self._refusal(check, direction, "guardrail_error" if result.failed else "guardrail_blocked")
        if redaction_covered(policy, direction, result):
            self.redacted_texts.add(result.text)
        return result

    def _refusal(self, check: str, direction: Direction, code: str, what: str = "") -> GuardrailBlocked:
        """`GuardrailBlocked` (the content was refused) or `GuardrailFailed` (`guardrail_error`: a check
        failed and the policy fails closed); never echoes the text."""
        noun = what or ("request" if direction is Direction.INPUT else "response")
        if code == "guardrail_error":
            message = f"The {noun} was refused because the '{check}' check of guardrail policy {self.version} failed."
            return GuardrailFailed(message, policy_version=self.version)
        message = f"The {noun} was blocked by the '{check}' check of guardrail policy {self.version}."
        return GuardrailBlocked(message, policy_version=self.version)

    def _note(self, check: str, action: str, direction: Direction) -> None:
        self.actions[f"{direction.value}.{check}"] = action
        observe_guardrail(check=check, action=action, direction=direction.value)


def call_guard(principal: KeyPrincipal) -> CallGuard:
    return CallGuard(effective_policy(lob_id=principal.lob_id, use_case_id=principal.use_case_id))
