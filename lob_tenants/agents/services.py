"""Writes about agents: the central allow-list, a LOB's tools and agents, sharing, and runs.

Each change is validated here (never in a view), audited in its own transaction, and an agent
that gains a tool under an approved use case sends that use case back to the governance board
(`governance.services.workflow.use_case_material_change`) in the same transaction; so does one that
gains a vector store.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from genai_platform.audit.services import audit_actor, audit_record
from genai_platform.inference.planning import chat_plan
from genai_platform.inference.principal import KeyPrincipal
from genai_platform.providers.types import ChatRequest, Message
from genai_platform.router.channel import reply_channel
from governance.digests import text_digest
from governance.services.workflow import use_case_material_change
from lob_tenants.models import ApiKey, Lob, UseCase
from lob_tenants.selectors import use_case_can_read
from lob_tenants.services import object_share, object_unshare
from lob_tenants.vector_stores.models import VectorStore
from model_catalog.models import Alias

from .models import Agent, AgentRun, Tool, ToolAllowance
from .selectors import tool_endpoint_allowed

#: Fields of a tool whose change reaches every agent that has it attached.
TOOL_FIELDS = (
    "name",
    "description",
    "parameters",
    "endpoint_url",
    "auth_header_name",
    "auth_credential_ref",
    "timeout_seconds",
)
AGENT_FIELDS = ("description", "instructions", "max_steps", "max_tokens", "timeout_seconds")


# ---- the central allow-list ----


@transaction.atomic
def tool_allowance_save(
    *,
    endpoint_prefix: str,
    classifications: list[str],
    description: str = "",
    allowance: ToolAllowance | None = None,
    actor: Any = None,
) -> ToolAllowance:
    """Creates an allowance, or changes `allowance`. Narrowing it does not detach tools: a tool it no
    longer covers is refused at run time, step by step, and recorded as refused."""
    created = allowance is None
    allowance = allowance or ToolAllowance()
    before = None if created else _allowance_state(allowance)
    allowance.endpoint_prefix = endpoint_prefix.strip()
    allowance.classifications = sorted(set(classifications))
    allowance.description = description
    allowance.full_clean()
    allowance.save()
    audit_record(
        actor=audit_actor(actor),
        action="tool_allowance.created" if created else "tool_allowance.updated",
        target=allowance,
        before=before,
        after=_allowance_state(allowance),
    )
    return allowance


@transaction.atomic
def tool_allowance_delete(*, allowance: ToolAllowance, actor: Any = None) -> None:
    audit_record(
        actor=audit_actor(actor), action="tool_allowance.deleted", target=allowance, before=_allowance_state(allowance)
    )
    allowance.delete()


def _allowance_state(allowance: ToolAllowance) -> dict[str, Any]:
    return {"endpoint_prefix": allowance.endpoint_prefix, "classifications": list(allowance.classifications)}


# ---- a LOB's tools ----


@transaction.atomic
def tool_save(*, lob: Lob, tool: Tool | None = None, actor: Any = None, **fields: Any) -> Tool:
    """Creates a tool in `lob`, or changes `tool` (fields not given keep their value).

    A tool attached to agents must stay callable by them: its new endpoint must be allowed for
    each of their use cases' classifications, and a new endpoint under an approved use case is a
    material change, reviewed again like a new tool."""
    unknown = set(fields) - set(TOOL_FIELDS)
    if unknown:
        raise ValueError(f"unknown tool fields: {sorted(unknown)}")
    created = tool is None
    tool = tool or Tool(lob=lob)
    if tool.lob_id != lob.pk:
        raise ValidationError("A tool belongs to the line of business that registered it.")
    before = None if created else _tool_state(tool)
    for name, value in fields.items():
        setattr(tool, name, value)
    tool.full_clean()
    if Tool.objects.filter(lob=lob, name=tool.name).exclude(pk=tool.pk).exists():
        raise ValidationError(f"This line of business already has a tool named {tool.name!r}.")
    tool.save()
    audit_record(
        actor=audit_actor(actor),
        action="tool.created" if created else "tool.updated",
        target=tool,
        lob_slug=lob.slug,
        before=before,
        after=_tool_state(tool),
    )
    if not created and before is not None and before["endpoint_url"] != tool.endpoint_url:
        for agent in tool.agents.select_related("use_case__lob"):
            _require_allowed([tool], agent.use_case)
            what = f"tool {tool.name} of agent {agent.slug} moved to another endpoint"
            _material_change_if_approved(agent.use_case, actor, what)
    return tool


@transaction.atomic
def tool_delete(*, tool: Tool, actor: Any = None) -> None:
    """Deletes a tool; agents that had it lose it (removing a tool is not a material change)."""
    audit_record(
        actor=audit_actor(actor),
        action="tool.deleted",
        target=tool,
        lob_slug=tool.lob.slug,
        before={**_tool_state(tool), "agents": sorted(tool.agents.values_list("slug", flat=True))},
    )
    tool.delete()


#: What the LOB wrote in its own words: the audit log (read centrally) keeps only their digests.
TOOL_AUTHORED = frozenset({"description", "parameters"})
AGENT_AUTHORED = frozenset({"description", "instructions"})


def _tool_state(tool: Tool) -> dict[str, Any]:
    # The credential reference is where a secret lives, not the secret: safe to audit.
    return {
        name: text_digest(getattr(tool, name)) if name in TOOL_AUTHORED else getattr(tool, name) for name in TOOL_FIELDS
    }


# ---- a LOB's agents ----


@transaction.atomic
def agent_save(
    *,
    lob: Lob,
    slug: str,
    use_case: UseCase,
    alias: Alias,
    instructions: str,
    tools: list[Tool] | None = None,
    vector_stores: list[VectorStore] | None = None,
    agent: Agent | None = None,
    actor: Any = None,
    **fields: Any,
) -> Agent:
    """Creates an agent in `lob`, or changes `agent`. `tools` (`vector_stores`) None keeps its tools
    (stores).

    Refuses (ValidationError) a use case of another LOB, a model the use case may not call, a tool
    of another LOB, a tool whose endpoint the allow-list does not open to the use case's data
    classification, and a vector store the use case may not read (neither its LOB's own nor shared
    with it). Gaining a tool or a store under an approved use case sends the use case back to review."""
    unknown = set(fields) - set(AGENT_FIELDS)
    if unknown:
        raise ValueError(f"unknown agent fields: {sorted(unknown)}")
    created = agent is None
    agent = agent or Agent(lob=lob)
    if agent.lob_id != lob.pk:
        raise ValidationError("An agent belongs to the line of business that registered it.")
    if use_case.lob_id != lob.pk:
        raise ValidationError("An agent runs under a use case of its own line of business.")
    if not use_case.aliases.filter(pk=alias.pk).exists():
        raise ValidationError(f"The model {alias.name!r} is not among the models of use case {use_case.slug!r}.")
    before = None if created else _agent_state(agent)
    previous_use_case_id = agent.use_case_id
    previous_tools = set() if created else set(agent.tools.values_list("pk", flat=True))
    previous_stores = set() if created else set(agent.vector_stores.values_list("pk", flat=True))
    agent.slug, agent.use_case, agent.alias, agent.instructions = slug, use_case, alias, instructions
    for name, value in fields.items():
        setattr(agent, name, value)
    agent.full_clean(exclude=["tools", "vector_stores"], validate_unique=False, validate_constraints=False)
    if Agent.objects.filter(lob=lob, slug=slug).exclude(pk=agent.pk).exists():
        raise ValidationError(f"This line of business already has an agent {slug!r}.")
    new_tools = list(tools) if tools is not None else list(agent.tools.all()) if not created else []
    foreign = [t.name for t in new_tools if t.lob_id != lob.pk]
    if foreign:
        raise ValidationError(f"Tools of another line of business cannot be attached: {', '.join(sorted(foreign))}.")
    # Tools the use case gains: new ones, or all of them when the agent moves to another use case.
    # Only those are checked here; tools it keeps are checked at every call, as the allow-list changes.
    kept = previous_tools if previous_use_case_id == use_case.pk else set()
    _require_allowed([t for t in new_tools if t.pk not in kept], use_case)
    if vector_stores is not None:
        new_stores = list(vector_stores)
    else:
        new_stores = [] if created else list(agent.vector_stores.all())
    # As for tools: a store is checked when the use case gains it; a withdrawn share drops it at run time.
    kept_stores = previous_stores if previous_use_case_id == use_case.pk else set()
    gained_stores = [s for s in new_stores if s.pk not in kept_stores]
    _require_readable(gained_stores, use_case)
    agent.save()
    agent.tools.set(new_tools)
    agent.vector_stores.set(new_stores)
    gained = sorted(t.name for t in new_tools if t.pk not in kept)
    audit_record(
        actor=audit_actor(actor),
        action="agent.created" if created else "agent.updated",
        target=agent,
        lob_slug=lob.slug,
        before=before,
        after=_agent_state(agent),
    )
    gains = [f"tool(s) {', '.join(gained)}"] if gained else []
    if gained_stores:
        gains.append(f"vector store(s) {', '.join(sorted(s.public_id for s in gained_stores))}")
    if gains:
        _material_change_if_approved(use_case, actor, f"agent {agent.slug} gains {' and '.join(gains)}")
    return agent


@transaction.atomic
def agent_delete(*, agent: Agent, actor: Any = None) -> None:
    """Deletes an agent that never ran; an agent with runs keeps its record (detach its tools instead)."""
    if agent.runs.exists():
        raise ValidationError("This agent has runs, whose record is kept; it cannot be deleted.")
    audit_record(
        actor=audit_actor(actor),
        action="agent.deleted",
        target=agent,
        lob_slug=agent.lob.slug,
        before=_agent_state(agent),
    )
    agent.delete()


def agent_share(*, agent: Agent, use_case: UseCase, actor: Any) -> None:
    """Lets another use case (of any LOB) run `agent`; only an admin of the agent's LOB may share it."""
    object_share(obj=agent, owner_lob=agent.lob, use_case=use_case, actor=actor)


def agent_unshare(*, agent: Agent, use_case: UseCase, actor: Any) -> None:
    """Withdraws a share: the next run by that use case's keys is a 404."""
    object_unshare(obj=agent, owner_lob=agent.lob, use_case=use_case, actor=actor)


def _agent_state(agent: Agent) -> dict[str, Any]:
    state = {
        name: text_digest(getattr(agent, name)) if name in AGENT_AUTHORED else getattr(agent, name)
        for name in AGENT_FIELDS
    }
    state.update(
        public_id=agent.public_id,
        slug=agent.slug,
        use_case=agent.use_case.slug,
        alias=agent.alias.name,
        tools=sorted(agent.tools.values_list("name", flat=True)) if agent.pk else [],
        vector_stores=sorted(agent.vector_stores.values_list("public_id", flat=True)) if agent.pk else [],
    )
    return state


def _require_allowed(tools: list[Tool], use_case: UseCase) -> None:
    refused = [t for t in tools if not tool_endpoint_allowed(t, use_case.data_classification)]
    if refused:
        names = ", ".join(f"{t.name} ({t.endpoint_url})" for t in refused)
        raise ValidationError(
            f"Not on the central allow-list for {use_case.data_classification} data: {names}. "
            "Ask the platform team to allow the endpoint, or use another tool."
        )


def _require_readable(stores: list[VectorStore], use_case: UseCase) -> None:
    refused = [s for s in stores if not use_case_can_read(use_case, s, s.lob_id)]
    if refused:
        names = ", ".join(sorted(s.public_id for s in refused))  # never another LOB's names
        raise ValidationError(
            f"Use case {use_case.slug!r} may not read these vector stores: {names}. Use a store of this line of "
            "business, or ask the store's owners to share it with the use case."
        )


def _material_change_if_approved(use_case: UseCase, actor: Any, what: str) -> None:
    use_case.refresh_from_db(fields=["status"])
    if use_case.status == UseCase.Status.APPROVED:
        use_case_material_change(use_case=use_case, actor=actor, what=what)


# ---- runs ----


def agent_run_start(
    *, agent: Agent, principal: KeyPrincipal, request_id: str, messages: list[dict[str, str]], actor: Any = None
) -> AgentRun:
    """Starts a run the way the gateway and the portal both do: the gateway's gate first (production
    approval and the agent's model, raising an `InferenceError` when refused), then the queued run
    is recorded and handed to a worker. `actor` is who starts it (a person, or the key's `key:<prefix>`)."""
    chat_plan(principal, ChatRequest(model=agent.alias.name, messages=(Message("user", ""),)))
    run = agent_run_create(agent=agent, principal=principal, request_id=request_id, messages=messages, actor=actor)
    agent_run_enqueue(run)  # after the run's transaction committed: the worker must find it
    return run


@transaction.atomic
def agent_run_create(
    *, agent: Agent, principal: KeyPrincipal, request_id: str, messages: list[dict[str, str]], actor: Any = None
) -> AgentRun:
    """Records a queued run; `agent_run_enqueue` hands it to a worker once this has committed."""
    now = timezone.now()
    run = AgentRun.objects.create(
        agent=agent,
        use_case_id=principal.use_case_id,
        api_key=ApiKey.objects.filter(pk=principal.key_id).first(),
        request_id=request_id,
        input=messages,
        deadline_at=now + dt.timedelta(seconds=agent.timeout_seconds),
    )
    # The input is LOB data: the audit log (read centrally) names the run, never what it was asked.
    audit_record(
        actor=audit_actor(actor or f"key:{principal.prefix}"),
        action="agent_run.started",
        target=run,
        lob_slug=agent.lob.slug,
        request_id=request_id,
        after={"run": run.public_id, "agent": agent.slug, "use_case": principal.use_case_slug, "key": principal.prefix},
    )
    return run


def agent_run_enqueue(run: AgentRun) -> None:
    """Sends the run to the `platform` queue. Call it after `agent_run_create` committed (the worker
    must find the row); in the embedded default the run executes here, before this returns."""
    from .tasks import execute_run

    execute_run.apply_async(args=[run.pk], queue="platform")


def agent_run_wait(*, run: AgentRun, timeout: float) -> AgentRun:
    """Blocks until the run ends or `timeout` seconds pass (whichever first), then returns it as stored."""
    run.refresh_from_db()
    if not run.finished and timeout > 0:
        channel = reply_channel()
        if channel.receive(run_channel_key(run), timeout=timeout) is not None:
            channel.discard(run_channel_key(run), drained=True)
        run.refresh_from_db()
    return run


def agent_run_execute(*, run_id: int) -> AgentRun:
    """Runs a queued run to its end (idempotent: a run already taken is left alone)."""
    from .runner import run_to_completion

    taken = AgentRun.objects.filter(pk=run_id, status=AgentRun.Status.QUEUED).update(
        status=AgentRun.Status.RUNNING, started_at=timezone.now()
    )
    run = AgentRun.objects.select_related("agent__alias", "agent__use_case", "api_key").get(pk=run_id)
    if not taken:
        if run.status == AgentRun.Status.RUNNING and run.deadline_at <= timezone.now():
            # Redelivered after its worker died mid-run: nobody will finish it otherwise.
            agent_run_finish(
                run=run,
                status=AgentRun.Status.TIMED_OUT,
                error_code="timeout",
                error="The worker running it stopped before the run ended.",
            )
        return run
    try:
        run_to_completion(run)
    except Exception as error:
        agent_run_finish(run=run, status=AgentRun.Status.FAILED, error_code="internal_error", error=str(error))
        raise
    return run


def agent_run_cancel(*, run: AgentRun, actor: Any = None) -> AgentRun:
    """Asks a queued or running run to stop; it stops before its next step. `actor` is who asks (a
    person, or the key's `key:<prefix>`); a run that already ended is left alone and nothing is audited."""
    with transaction.atomic():
        asked = not run.finished
        if asked:
            AgentRun.objects.filter(pk=run.pk, status=AgentRun.Status.QUEUED).update(
                status=AgentRun.Status.CANCELLED, finished_at=timezone.now(), error_code="cancelled"
            )
            AgentRun.objects.filter(pk=run.pk, status=AgentRun.Status.RUNNING).update(error_code="cancel_requested")
        run.refresh_from_db()
        if asked:
            audit_record(
                actor=audit_actor(actor),
                action="agent_run.cancel_requested",
                target=run,
                lob_slug=run.agent.lob.slug,
                after={"run": run.public_id, "status": run.status},
            )
    if run.status == AgentRun.Status.CANCELLED:
        _announce_finished(run)
    return run


def agent_run_finish(*, run: AgentRun, status: str, output: str = "", error_code: str = "", error: str = "") -> None:
    """Records how a run ended and wakes whoever waits for it."""
    run.status, run.output, run.error_code, run.error = status, output, error_code, error
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "output", "error_code", "error", "finished_at"])
    _announce_finished(run)


def run_channel_key(run: AgentRun) -> str:
    return f"agent-run:{run.public_id}"


def _announce_finished(run: AgentRun) -> None:
    reply_channel().publish(run_channel_key(run), {"type": "done", "status": run.status})
