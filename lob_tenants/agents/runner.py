"""The plan-act loop of one agent run: model -> tool calls -> results -> model, until the model
answers, the step limit, the token limit, the timeout, or a cancellation.

Every model step is a call of the inference core (`genai_platform.inference.chat`), step by step
because the run's token budget sits between the plan and the admission: `chat_plan` (production
gate, the key's models, routing), `chat_guard_input` (the run's input checked and masked once;
tool results are checked as they arrive), `chat_admit` (limits and budgets), `chat_wait` (the
provider queues, fallback, deadline) and `chat_finish` (the answer checked), all inside the call's
metering scope (one usage record with its inference audit event). The caller's key is the
principal: the calling use case's limits, budgets and guardrail policy apply, and its ledger pays.

Every step is stored as it happens, so a poll shows a run's progress.
"""

from __future__ import annotations

import dataclasses
import json
import time
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone
from jsonschema import Draft202012Validator, validators

from genai_platform.inference.chat import chat_admit, chat_call, chat_finish, chat_guard_input, chat_wait
from genai_platform.inference.errors import GuardrailBlocked, InferenceError, ProviderFailed
from genai_platform.inference.guarding import CallGuard, call_guard
from genai_platform.inference.planning import chat_plan
from genai_platform.inference.principal import KeyPrincipal
from genai_platform.providers.types import ChatRequest, ChatResponse, ErrorKind, Message, ToolCall, ToolDefinition
from genai_platform.router.dispatch import ChatOutcome
from lob_tenants.vector_stores.retrieval import grounding_context, last_question, with_context

from .models import Agent, AgentRun, AgentStep, Tool
from .selectors import agent_groundings, run_principal, tool_endpoint_allowed
from .services import agent_run_finish
from .tool_calls import tool_http_call

#: The usage ledger's `endpoint` for an agent's model steps (the audit action is `inference.agent`).
METERED_ENDPOINT = "agent"
S = AgentRun.Status


def run_initial_messages(agent: Agent, run: AgentRun) -> list[Message]:
    """The messages a run starts from: the agent's instructions as the system message, then the
    run's input. A run of an agent with vector stores then adds the retrieved sources between the
    two (`_Loop._retrieval_step`), in the gateway's format (`retrieval.grounding_context`)."""
    messages = [Message(role="system", content=agent.instructions)]
    messages.extend(Message(role=m["role"], content=m["content"]) for m in run.input)
    return messages


def run_to_completion(run: AgentRun) -> None:
    principal = run_principal(run)
    if principal is None:
        agent_run_finish(
            run=run,
            status=S.FAILED,
            error_code="invalid_api_key",
            error="The API key that started the run was revoked, has expired or no longer exists.",
        )
        return
    _Loop(run, principal).run()


@dataclasses.dataclass
class _Ending:
    status: str
    output: str = ""
    error_code: str = ""
    error: str = ""


class _Loop:
    def __init__(self, run: AgentRun, principal: KeyPrincipal) -> None:
        self.run_record = run
        self.agent = run.agent
        self.principal = principal
        # One policy and one masking session for the whole run: a value masked in the input keeps
        # its placeholder in every later step.
        self.base_guard = call_guard(principal)
        self.messages = run_initial_messages(self.agent, run)
        self.input_checked = False
        self.next_index = 0
        self.model_steps = 0
        self.deadline = run.deadline_at.timestamp()

    # ---- the loop ----

    def run(self) -> None:
        ending = self._retrieval_step()
        while ending is None:
            ending = self._stop_before_model_step()
            if ending is not None:
                break
            response_or_ending = self._model_step()
            if isinstance(response_or_ending, _Ending):
                ending = response_or_ending
                break
            response = response_or_ending
            if not response.tool_calls:
                ending = _Ending(S.SUCCEEDED, output=response.content)
                break
            if self.model_steps >= self.agent.max_steps:
                ending = _Ending(
                    S.STEP_LIMIT_REACHED,
                    error_code="step_limit_reached",
                    error=f"The model still wanted tools after {self.agent.max_steps} model step(s), its limit.",
                )
                break
            if self.run_record.total_tokens >= self.agent.max_tokens:
                ending = self._token_limit()
                break
            for call in response.tool_calls:
                ending = self._stop_between_steps()
                if ending is not None:
                    break
                self.messages.append(self._tool_step(call))
        record = self.run_record
        agent_run_finish(
            run=record, status=ending.status, output=ending.output, error_code=ending.error_code, error=ending.error
        )

    def _stop_between_steps(self) -> _Ending | None:
        if AgentRun.objects.filter(pk=self.run_record.pk, error_code="cancel_requested").exists():
            return _Ending(S.CANCELLED, error_code="cancelled", error="Cancelled while running.")
        if time.time() >= self.deadline:
            return _Ending(
                S.TIMED_OUT,
                error_code="timeout",
                error=f"The run did not finish within the agent's {self.agent.timeout_seconds} s.",
            )
        return None

    def _stop_before_model_step(self) -> _Ending | None:
        return self._stop_between_steps()

    def _token_limit(self) -> _Ending:
        return _Ending(
            S.FAILED,
            error_code="token_limit_reached",
            error=f"The run used {self.run_record.total_tokens} of the agent's {self.agent.max_tokens} tokens.",
        )

    # ---- a model step ----

    def _model_step(self) -> ChatResponse | _Ending:
        agent, record = self.agent, self.run_record
        tools = list(agent.tools.order_by("name"))  # read now: tools can be detached while a run goes on
        request = ChatRequest(
            model=agent.alias.name,
            messages=tuple(self.messages),
            tools=tuple(ToolDefinition(t.name, t.description, t.parameters) for t in tools),
            tool_choice="auto" if tools else None,
        )
        step = AgentStep(run=record, index=self._take_index(), kind=AgentStep.Kind.MODEL)
        step.inputs = {"message_count": len(request.messages), "tools": [t.name for t in tools]}
        started = time.monotonic()
        try:
            plan = chat_plan(self.principal, request)
        except InferenceError as refused:
            return self._failed_step(step, started, refused.code or "refused", refused.message)
        remaining = agent.max_tokens - record.total_tokens
        if plan.prompt_tokens >= remaining:
            self.next_index -= 1  # nothing was sent: no step to record
            return self._token_limit()
        if remaining - plan.prompt_tokens < min(t.max_output_tokens for t in plan.targets):
            request = dataclasses.replace(request, max_tokens=remaining - plan.prompt_tokens)
        step_request_id = f"{record.request_id}.{step.index}"[:64]
        step.usage_request_id = step_request_id
        call = chat_call(
            self.principal,
            request,
            request_id=step_request_id,
            endpoint=METERED_ENDPOINT,
            plan=plan,
            guard=self._step_guard(),
        )
        call.deadline = min(self.deadline, time.time() + settings.GATEWAY_REQUEST_DEADLINE_SECONDS)
        outcome: ChatOutcome | None = None
        try:
            with call.meter:
                if not self.input_checked:
                    chat_guard_input(call)  # the provider receives masked text, or nothing
                    self.messages, self.input_checked = list(call.request.messages), True
                    step.inputs["input"] = [  # the sources are the retrieval step's
                        {"role": m.role, "content": m.content} for m in call.request.messages[1:] if m.role != "system"
                    ]
                chat_admit(call)
                outcome = chat_wait(call)
                response = chat_finish(call, outcome)
        except InferenceError as failed:
            step.guardrails = call.guard.summary()
            if outcome is not None:  # the answer came and was blocked: its tokens were spent
                usage = outcome.response.usage
                self._count(step, usage.input_tokens, usage.output_tokens, Decimal("0"))
            timed_out = isinstance(failed, ProviderFailed) and failed.error.kind == ErrorKind.TIMEOUT
            if timed_out and time.time() >= self.deadline:
                self._failed_step(step, started, "timeout", failed.message)
                return _Ending(
                    S.TIMED_OUT,
                    error_code="timeout",
                    error=f"The run did not finish within the agent's {agent.timeout_seconds} s.",
                )
            blocked = isinstance(failed, GuardrailBlocked)
            return self._failed_step(step, started, failed.code or "refused", failed.message, blocked=blocked)
        assert outcome is not None
        usage, cost, content = response.usage, call.meter.cost, response.content
        step.outputs = {
            "content": content,
            "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in response.tool_calls],
            "finish_reason": response.finish_reason,
            "deployment": outcome.served.target.deployment,
            "provider": outcome.served.target.provider,
        }
        step.guardrails = call.guard.summary()
        self._count(step, usage.input_tokens, usage.output_tokens, cost)
        self._save(step, started)
        self.model_steps += 1
        self.messages.append(Message(role="assistant", content=content, tool_calls=response.tool_calls))
        return response

    def _failed_step(
        self, step: AgentStep, started: float, code: str, message: str, *, blocked: bool = False
    ) -> _Ending:
        step.outcome = AgentStep.Outcome.BLOCKED if blocked else AgentStep.Outcome.ERROR
        step.error = f"{code}: {message}"
        self._save(step, started)
        return _Ending(S.FAILED, error_code=code, error=message)

    # ---- the retrieval step ----

    def _retrieval_step(self) -> _Ending | None:
        """Grounds the run in the agent's vector stores: searches them for the run's question (masked
        by the guardrails first, as the gateway does) and places the numbered sources after the
        instructions. One step records the query and the sources; nothing happens for an agent
        without stores (or whose stores its use case may no longer read)."""
        groundings = agent_groundings(self.agent)
        question = last_question(self.messages)
        if not groundings or not question.strip():
            return None
        step = AgentStep(run=self.run_record, index=self._take_index(), kind=AgentStep.Kind.RETRIEVAL)
        step.inputs = {"vector_stores": [g.store.public_id for g in groundings]}
        started = time.monotonic()
        guard = self._step_guard()
        try:
            checked = guard.check_input(ChatRequest(model="", messages=(Message(role="user", content=question),)))
        except GuardrailBlocked as blocked:
            step.guardrails = guard.summary()
            return self._failed_step(step, started, "guardrail_blocked", blocked.message, blocked=True)
        step.guardrails = guard.summary()
        step.inputs["query"] = query = checked.messages[0].content
        # Each store's query embedding is a usage record of the caller's, `<this>-g<n>-r0`.
        step.usage_request_id = f"{self.run_record.request_id}.{step.index}"[:48]
        try:
            context, sources = grounding_context(
                self.principal, query, groundings, step.usage_request_id, screen=guard.screen_retrieved
            )
        except InferenceError as failed:
            step.guardrails = guard.summary()
            blocked = isinstance(failed, GuardrailBlocked)
            return self._failed_step(step, started, failed.code or "retrieval_failed", failed.message, blocked=blocked)
        step.guardrails = guard.summary()  # with the decisions on the retrieved chunks
        self.messages = list(with_context(self.messages, context))
        step.outputs = {"sources": sources}
        self._save(step, started)
        return None

    # ---- a tool step ----

    def _tool_step(self, call: ToolCall) -> Message:
        """Calls one tool the model asked for, or refuses to; either way the model gets a tool result."""
        step = AgentStep(run=self.run_record, index=self._take_index(), kind=AgentStep.Kind.TOOL)
        step.inputs = {"tool": call.name, "call_id": call.id, "arguments": call.arguments}
        started = time.monotonic()
        tool = self.agent.tools.filter(name=call.name).first()
        refusal = self._refusal(call, tool)
        if refusal is not None:
            return self._tool_error(step, started, call, refusal, AgentStep.Outcome.REFUSED)
        assert tool is not None
        step.inputs["endpoint"] = tool.endpoint_url
        try:
            arguments = json.loads(call.arguments or "{}")
        except json.JSONDecodeError as error:
            return self._tool_error(step, started, call, f"the arguments are not valid JSON: {error.msg}")
        problem = _schema_problem(tool.parameters, arguments)
        if problem is not None:
            return self._tool_error(step, started, call, f"the arguments do not match the tool's schema: {problem}")
        step.inputs["arguments"] = arguments
        answer = tool_http_call(
            url=tool.endpoint_url,
            arguments=arguments,
            timeout=min(tool.timeout_seconds, max(self.deadline - time.time(), 0.01)),
            max_bytes=settings.AGENT_TOOL_MAX_RESPONSE_BYTES,
            auth_header_name=tool.auth_header_name,
            auth_credential_ref=tool.auth_credential_ref,
            request_id=f"{self.run_record.request_id}.{step.index}",
        )
        step.outputs = {"status": answer.status, "truncated": answer.truncated}
        if not answer.ok:
            step.outputs["content"] = answer.body[:2000]
            return self._tool_error(step, started, call, answer.error)
        guard = self._step_guard()
        try:
            checked = guard.check_input(
                ChatRequest(model="", messages=(Message(role="tool", content=answer.body, tool_call_id=call.id),))
            )
        except GuardrailBlocked as blocked:
            step.guardrails = guard.summary()
            return self._tool_error(step, started, call, blocked.message, AgentStep.Outcome.BLOCKED)
        content = checked.messages[0].content
        step.outputs["content"] = content
        step.guardrails = guard.summary()
        self._save(step, started)
        return Message(role="tool", content=content, tool_call_id=call.id, name=call.name)

    def _refusal(self, call: ToolCall, tool: Tool | None) -> str | None:
        if tool is None:
            return f"the tool {call.name!r} is not attached to this agent"
        classifications = {self.agent.use_case.data_classification, self.principal.data_classification}
        for classification in sorted(classifications):
            if not tool_endpoint_allowed(tool, classification):
                return f"the tool's endpoint is not on the central allow-list for {classification} data"
        return None

    def _tool_error(
        self, step: AgentStep, started: float, call: ToolCall, reason: str, outcome: str = AgentStep.Outcome.ERROR
    ) -> Message:
        step.outcome, step.error = outcome, reason
        self._save(step, started)
        content = json.dumps({"error": f"{call.name}: {reason}"})
        return Message(role="tool", content=content, tool_call_id=call.id, name=call.name)

    # ---- bookkeeping ----

    def _step_guard(self) -> CallGuard:
        """A guard for one step: the run's policy and masking session, with this step's own actions."""
        return CallGuard(effective=self.base_guard.effective, session=self.base_guard.session)

    def _take_index(self) -> int:
        index = self.next_index
        self.next_index += 1
        return index

    def _count(self, step: AgentStep, input_tokens: int, output_tokens: int, cost: Decimal) -> None:
        step.input_tokens, step.output_tokens, step.cost = input_tokens, output_tokens, cost
        record = self.run_record
        record.input_tokens += input_tokens
        record.output_tokens += output_tokens
        record.cost += cost
        record.save(update_fields=["input_tokens", "output_tokens", "cost"])

    def _save(self, step: AgentStep, started: float) -> None:
        step.latency_ms = round((time.monotonic() - started) * 1000, 3)
        step.created_at = timezone.now()
        step.save()


def _schema_problem(schema: dict[str, Any], arguments: Any) -> str | None:
    """The first way `arguments` breaks the tool's JSON schema, or None when they fit."""
    validator_class = validators.validator_for(schema, default=Draft202012Validator)
    error = next(iter(sorted(validator_class(schema).iter_errors(arguments), key=lambda e: list(e.path))), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.path)
    return f"{where}: {error.message}" if where else error.message
