"""The agents' inference API under `/v1/` (API-key authentication, OpenAI-style errors):

- `POST /v1/agents/{agent_id}/runs` starts a run. `{"input": "text" | [messages], "wait": bool,
  "timeout": seconds}`. With `wait` it answers when the run ends (200) or at the deadline with the
  run still going (202); without it, 202 at once.
- `GET /v1/agents/{agent_id}/runs/{run_id}` is the run with its steps, for polling.
- `POST /v1/agents/{agent_id}/runs/{run_id}/cancel` asks a run to stop before its next step.

Only the agent's own use case's keys, and keys of use cases it was shared with, may run it; any
other agent id (another LOB's or an unknown one) is a 404. A run is read back only by keys of the
use case that started it. Production keys pass the same gate as chat completions.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from pydantic import BaseModel, ConfigDict, Field

from genai_platform.inference.principal import KeyPrincipal
from lob_tenants.agents.models import Agent, AgentRun, AgentStep
from lob_tenants.agents.selectors import agent_for_principal, agent_run_for_principal
from lob_tenants.agents.services import agent_run_cancel, agent_run_start, agent_run_wait

from . import pipeline
from .apis import OpenAIApi
from .errors import GatewayError
from .schemas import parse_body

MAX_INPUT_MESSAGES = 100


class RunMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    role: Literal["user", "assistant"]
    content: Annotated[str, Field(min_length=1)]


class RunCreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    input: str | list[RunMessageIn]
    wait: bool = False
    #: Seconds to wait with `wait`; capped by the agent's timeout and AGENT_RUN_MAX_WAIT_SECONDS.
    timeout: Annotated[float, Field(gt=0, le=3600)] | None = None

    def messages(self) -> list[dict[str, str]]:
        if not self.input:
            raise GatewayError(400, "The input must not be empty.", param="input", code="invalid_value")
        if isinstance(self.input, str):
            return [{"role": "user", "content": self.input}]
        if len(self.input) > MAX_INPUT_MESSAGES:
            message = f"At most {MAX_INPUT_MESSAGES} input messages are accepted."
            raise GatewayError(400, message, param="input", code="invalid_value")
        if self.input[-1].role != "user":
            raise GatewayError(400, "The last input message must be the user's.", param="input", code="invalid_value")
        return [{"role": m.role, "content": m.content} for m in self.input]


class _AgentApi(OpenAIApi):
    def agent_for(self, request: HttpRequest, agent_id: str) -> tuple[KeyPrincipal, Agent]:
        principal = pipeline.authenticate(request.headers.get("Authorization"))
        agent = agent_for_principal(public_id=agent_id, principal=principal)
        if agent is None:
            raise GatewayError(
                404, f"No agent '{agent_id}' exists that you have access to.", param="agent_id", code="agent_not_found"
            )
        return principal, agent

    def run_for(self, principal: KeyPrincipal, agent: Agent, run_id: str) -> AgentRun:
        run = agent_run_for_principal(agent=agent, public_id=run_id, principal=principal)
        if run is None:
            message = f"No run '{run_id}' of this agent was started by your use case."
            raise GatewayError(404, message, param="run_id", code="run_not_found")
        return run


class AgentRunCreateApi(_AgentApi):
    def post(self, request: HttpRequest, agent_id: str) -> HttpResponse:
        principal, agent = self.agent_for(request, agent_id)
        body = parse_body(RunCreateIn, self.read_json_body(request))
        messages = body.messages()
        run = agent_run_start(agent=agent, principal=principal, request_id=request.request_id, messages=messages)
        if body.wait:
            asked = body.timeout or agent.timeout_seconds
            limit = min(asked, agent.timeout_seconds, settings.AGENT_RUN_MAX_WAIT_SECONDS)
            run = agent_run_wait(run=run, timeout=limit)
        else:
            run.refresh_from_db()
        return run_response(run)


class AgentRunDetailApi(_AgentApi):
    def get(self, request: HttpRequest, agent_id: str, run_id: str) -> HttpResponse:
        principal, agent = self.agent_for(request, agent_id)
        return run_response(self.run_for(principal, agent, run_id))


class AgentRunCancelApi(_AgentApi):
    def post(self, request: HttpRequest, agent_id: str, run_id: str) -> HttpResponse:
        principal, agent = self.agent_for(request, agent_id)
        run = self.run_for(principal, agent, run_id)
        return run_response(agent_run_cancel(run=run, actor=f"key:{principal.prefix}"))


def run_response(run: AgentRun) -> JsonResponse:
    """200 for a run that ended, 202 for one still queued or running."""
    return JsonResponse(run_document(run), status=200 if run.finished else 202)


def run_document(run: AgentRun) -> dict[str, Any]:
    return {
        "id": run.public_id,
        "object": "agent.run",
        "agent_id": run.agent.public_id,
        "status": run.status,
        "input": run.input,
        "output": run.output or None,
        "error": {"code": run.error_code, "message": run.error} if run.error_code else None,
        "usage": {
            "prompt_tokens": run.input_tokens,
            "completion_tokens": run.output_tokens,
            "total_tokens": run.total_tokens,
        },
        "cost_usd": f"{run.cost:.8f}",
        "request_id": run.request_id,
        "created_at": int(run.created_at.timestamp()),
        "started_at": int(run.started_at.timestamp()) if run.started_at else None,
        "finished_at": int(run.finished_at.timestamp()) if run.finished_at else None,
        "steps": [step_document(step) for step in run.steps.order_by("index")],
    }


def step_document(step: AgentStep) -> dict[str, Any]:
    return {
        "index": step.index,
        "kind": step.kind,
        "outcome": step.outcome,
        "inputs": step.inputs,
        "outputs": step.outputs,
        "usage": {"prompt_tokens": step.input_tokens, "completion_tokens": step.output_tokens},
        "cost_usd": f"{step.cost:.8f}",
        "guardrails": step.guardrails,
        "latency_ms": step.latency_ms,
        "error": step.error or None,
    }
