"""Reads about agents, always scoped: to one LOB for its members, to one calling use case for the
inference API. Another LOB's agent and an unknown one look the same (None)."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from genai_platform.inference.principal import KeyPrincipal, key_principal_by_prefix
from lob_tenants.models import Lob
from lob_tenants.vector_stores.selectors import GroundingRef, readable_groundings

from .endpoints import endpoint_allowed
from .models import Agent, AgentGroupObjectPermission, AgentRun, AgentStep, Tool, ToolAllowance

VIEW_AGENT = "view_agent"
#: Chunks a run is given from its agent's vector stores (the best of all stores together).
AGENT_GROUNDING_TOP_K = 4


# ---- the allow-list ----


def allowed_prefixes(classification: str) -> list[str]:
    """The endpoint prefixes that may receive data of `classification`."""
    return [
        allowance.endpoint_prefix
        for allowance in ToolAllowance.objects.all()
        if classification in (allowance.classifications or [])
    ]


def tool_endpoint_allowed(tool: Tool, classification: str) -> bool:
    """Whether the central allow-list lets `tool` receive data of `classification` (read now: the
    allow-list can change between attaching a tool and calling it)."""
    return endpoint_allowed(tool.endpoint_url, allowed_prefixes(classification))


def tool_allowances() -> QuerySet[ToolAllowance]:
    return ToolAllowance.objects.order_by("endpoint_prefix")


# ---- a LOB's own objects (management API and portal) ----


def tools_of(lob: Lob) -> QuerySet[Tool]:
    return Tool.objects.filter(lob=lob).select_related("lob").order_by("name")


def agents_of(lob: Lob) -> QuerySet[Agent]:
    return (
        Agent.objects.filter(lob=lob)
        .select_related("lob", "use_case", "alias")
        .prefetch_related("tools", "vector_stores")
        .order_by("slug")
    )


def agent_runs_of(lob: Lob) -> QuerySet[AgentRun]:
    """Runs of the LOB's agents, whoever started them (its own use case or one it shared the agent with)."""
    return (
        AgentRun.objects.filter(agent__lob=lob)
        .select_related("agent", "use_case__lob", "api_key")
        .prefetch_related(Prefetch("steps", queryset=AgentStep.objects.order_by("index")))
        .order_by("-created_at", "-id")
    )


# ---- the inference API: what a calling use case may run ----


def agent_for_principal(*, public_id: str, principal: KeyPrincipal) -> Agent | None:
    """The agent if the caller's use case may run it: it is the agent's own use case, or the agent
    was shared with it (an object grant to its grant group). Otherwise None, like an unknown id."""
    agent = (
        Agent.objects.filter(public_id=public_id)
        .select_related("lob", "use_case__lob", "alias")
        .prefetch_related("tools")
        .first()
    )
    if agent is None:
        return None
    if agent.use_case_id == principal.use_case_id or agent_granted_to(agent, principal.use_case_id):
        return agent
    return None


def agent_granted_to(agent: Agent, use_case_id: int) -> bool:
    return AgentGroupObjectPermission.objects.filter(
        content_object=agent, group__use_case__id=use_case_id, permission__codename=VIEW_AGENT
    ).exists()


def agent_run_for_principal(*, agent: Agent, public_id: str, principal: KeyPrincipal) -> AgentRun | None:
    """One of the runs the caller's own use case started; another use case's runs are not its to read."""
    return (
        AgentRun.objects.filter(agent=agent, public_id=public_id, use_case_id=principal.use_case_id)
        .prefetch_related(Prefetch("steps", queryset=AgentStep.objects.order_by("index")))
        .first()
    )


def agent_groundings(agent: Agent) -> tuple[GroundingRef, ...]:
    """The agent's vector stores its use case may still read (read now: a share can be withdrawn
    after the store was attached, and the run then goes on without that store)."""
    stores = agent.vector_stores.select_related("lob", "embedding_alias").order_by("pk")
    return readable_groundings(agent.use_case, stores, top_k=AGENT_GROUNDING_TOP_K)


def run_principal(run: AgentRun) -> KeyPrincipal | None:
    """The key that started `run` as the gateway sees it now (cached like the gateway's lookup), or
    None when it was deleted, revoked or has expired: a run never outlives its key's rights."""
    if run.api_key is None:
        return None
    return key_principal_by_prefix(run.api_key.prefix)
