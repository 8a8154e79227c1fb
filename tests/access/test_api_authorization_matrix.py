"""The authorization matrix of /api/v1/, generated from the URL configuration.

Every route under /api/v1/ must have an entry in EXPECTATIONS (its access object and whether it is
LOB-scoped, central, ...): a new endpoint without one fails `test_every_api_endpoint_has_an_expectation`.
Then every endpoint is called by every role, against its own LOB, another LOB, an unknown LOB, its
own LOB with another LOB's object ids, and central, with each method it implements. What is allowed
comes from the default policy (`policy.DEFAULT_POLICY`, read here by a matcher independent of
casbin); an allowed call must succeed; a list must hold no row and no count from another LOB.

One world is built per module (inside a transaction rolled back at the end) and every call runs in
its own rolled-back savepoint, so a write (a revoked key, a removed member) never leaks into the
next call.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.db import transaction
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from genai_platform.access import services as access
from genai_platform.access.enforcer import policy_enforcer
from genai_platform.access.models import PolicyRule
from genai_platform.access.permissions import RolePermission
from genai_platform.access.policy import DEFAULT_POLICY, READ, WRITE
from genai_platform.access.tokens import personal_token_issue
from genai_platform.metering.models import UsageRecord
from governance.models import GuardrailPolicyRecord, GuardrailPolicyVersion, Review
from governance.services import workflow
from lob_tenants import services as tenant_services
from lob_tenants.agents.models import AgentRun
from lob_tenants.agents.services import agent_share
from lob_tenants.models import PromptTemplate, UseCase
from lob_tenants.services import api_key_issue
from lob_tenants.vector_stores.models import Document, Grounding, IngestionJob
from lob_tenants.vector_stores.services import vector_store_share
from model_catalog.models import Alias
from tests.factories import (
    AgentFactory,
    AliasFactory,
    LobFactory,
    ToolAllowanceFactory,
    ToolFactory,
    UseCaseFactory,
    UserFactory,
    embedding_alias,
    vector_store,
)

pytestmark = pytest.mark.django_db

ROLES = ("platform_admin", "governance_reviewer", "lob_admin", "lob_developer", "lob_viewer", "no_role", "anonymous")
LOB_ROLES = frozenset({"lob_admin", "lob_developer", "lob_viewer"})
CENTRAL_ROLES = frozenset({"platform_admin", "governance_reviewer"})
METHODS = ("get", "post", "put", "patch", "delete")
NOT_FOUND, FORBIDDEN, UNAUTHENTICATED = 404, 403, 403  # session authentication: DRF answers 403, not 401
REASON = "Investigating incident INC-4411: a leaked prompt was reported"

# Scopes: "lob" (the URL names a LOB: the domain is lob:<slug>), "central" (domain `central`),
# "lob_or_central" (no LOB in the URL; the view scopes rows to the LOBs where the caller may act,
# all of them when allowed centrally), "signed_in" (any signed-in user; rows scoped by selectors),
# "public" (the schema and its documentation page).


@dataclass(frozen=True)
class Expectation:
    access_object: str | None
    scope: str
    #: The action when a view does not take it from the method.
    action: str | None = None
    #: URL parameter -> key in a target's objects, where it is not the parameter's own name.
    objects: dict[str, str] = field(default_factory=dict)
    #: The JSON body of a write, from the target's objects.
    body: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    query: dict[str, str] = field(default_factory=dict)
    success: int = 200


EXPECTATIONS: dict[str, Expectation] = {
    "tenants:lob-list": Expectation(None, "signed_in"),
    "tenants:use-case-list": Expectation("use_case", "lob"),
    "tenants:use-case-create": Expectation(
        "use_case", "lob", body=lambda o: {"slug": "brand-new", "name": "Brand new"}, success=201
    ),
    "tenants:use-case-detail": Expectation("use_case", "lob"),
    "tenants:use-case-update": Expectation("use_case", "lob", body=lambda o: {"name": "Renamed"}),
    "tenants:api-key-list": Expectation("api_key", "lob"),
    "tenants:api-key-issue": Expectation("api_key", "lob", body=lambda o: {"name": "new key"}, success=201),
    "tenants:api-key-revoke": Expectation("api_key", "lob"),
    "tenants:api-key-rotate": Expectation("api_key", "lob", body=lambda o: {"overlap_minutes": 5}, success=201),
    "tenants:api-key-scope": Expectation("api_key", "lob", body=lambda o: {"aliases": []}),
    "tenants:api-key-expiry": Expectation("api_key", "lob", body=lambda o: {"expires_at": None}),
    "tenants:use-case-prompt-pin": Expectation(
        "use_case", "lob", body=lambda o: {"template": o["prompt"], "version": 1}
    ),
    "tenants:prompt-template-list": Expectation("lob_data", "lob"),
    "tenants:prompt-template-save": Expectation(
        "use_case",
        "lob",
        body=lambda o: {
            "name": "welcome",
            "template": "Hi {{ who }}",
            "variables": [{"name": "who", "type": "string"}],
        },
        success=201,
    ),
    "tenants:prompt-template-detail": Expectation("lob_data", "lob", objects={"template": "prompt"}),
    "tenants:prompt-template-render": Expectation(
        "lob_data", "lob", action=READ, objects={"template": "prompt"}, body=lambda o: {"variables": {}}
    ),
    "access:member-list": Expectation("member", "lob"),
    "access:member-set": Expectation("member", "lob", body=lambda o: {"username": "newcomer", "role": "lob_viewer"}),
    "access:member-remove": Expectation("member", "lob", success=204),
    "access:grant-list": Expectation("grant", "lob"),
    "access:grant-share": Expectation(
        "grant",
        "lob",
        body=lambda o: {"template": o["template"], "version": 1, "use_case": "partner/spare"},
        success=201,
    ),
    "access:grant-unshare": Expectation(
        "grant",
        "lob",
        body=lambda o: {"template": o["template"], "version": 1, "use_case": "partner/app"},
        success=204,
    ),
    "access:lob-break-glass-list": Expectation("break_glass", "lob", action=WRITE),
    "access:break-glass-approve": Expectation("break_glass", "lob", objects={"request_id": "pending_request"}),
    "access:break-glass-deny": Expectation("break_glass", "lob", objects={"request_id": "pending_request"}),
    "access:lob-break-glass-revoke": Expectation("break_glass", "lob", objects={"request_id": "approved_request"}),
    "access:break-glass-list": Expectation("break_glass", "central"),
    "access:break-glass-request": Expectation(
        "break_glass",
        "central",
        body=lambda o: {"lob": "retail", "reason": REASON, "duration_minutes": 5},
        success=201,
    ),
    "access:break-glass-revoke": Expectation("break_glass", "central", objects={"request_id": "own_request"}),
    # No policy line grants these: only superusers (not a role of the matrix) pass; see test_roles_api.
    "access:central-role-list": Expectation("central_role", "central"),
    "access:central-role-grant": Expectation(
        "central_role", "central", body=lambda o: {"username": "newcomer", "role": "platform_admin"}
    ),
    "access:policy-rule-list": Expectation("policy", "central"),
    "access:policy-rule-add": Expectation(
        "policy",
        "central",
        body=lambda o: {"role": "auditor", "domain": "central", "obj": "audit", "act": "read"},
        success=201,
    ),
    "access:policy-rule-remove": Expectation("policy", "central", objects={"rule_id": "policy_rule"}, success=204),
    "metering:chargeback": Expectation(
        "usage", "lob_or_central", query={"start": "2025-03-01", "end": "2025-03-31", "group_by": "lob,use_case"}
    ),
    "agents:tool-list": Expectation("agent", "lob"),
    "agents:tool-create": Expectation(
        "agent",
        "lob",
        body=lambda o: {"name": "new_tool", "parameters": {"type": "object"}, "endpoint_url": "https://t.example/x"},
        success=201,
    ),
    "agents:tool-detail": Expectation("agent", "lob"),
    "agents:tool-update": Expectation("agent", "lob", body=lambda o: {"description": "Changed."}),
    "agents:tool-delete": Expectation("agent", "lob", success=204),
    "agents:agent-list": Expectation("agent", "lob"),
    "agents:agent-create": Expectation(
        "agent",
        "lob",
        body=lambda o: {"slug": "new-agent", "use_case": o["use_case"], "alias": "matrix-chat", "instructions": "Hi"},
        success=201,
    ),
    "agents:agent-detail": Expectation("agent", "lob"),
    "agents:agent-update": Expectation("agent", "lob", body=lambda o: {"instructions": "Changed."}),
    "agents:agent-delete": Expectation("agent", "lob", objects={"agent": "spare_agent"}, success=204),
    "agents:agent-share": Expectation("grant", "lob", body=lambda o: {"use_case": "partner/spare"}, success=201),
    "agents:agent-unshare": Expectation("grant", "lob", body=lambda o: {"use_case": "partner/app"}, success=204),
    "agents:agent-run-list": Expectation("lob_data", "lob"),
    "agents:agent-run-detail": Expectation("lob_data", "lob"),
    "agents:tool-allowance-list": Expectation("tool_allowance", "central"),
    "agents:tool-allowance-create": Expectation(
        "tool_allowance",
        "central",
        body=lambda o: {"endpoint_prefix": "https://tools.example.com/new", "classifications": ["internal"]},
        success=201,
    ),
    "agents:tool-allowance-detail": Expectation("tool_allowance", "central"),
    "agents:tool-allowance-update": Expectation(
        "tool_allowance",
        "central",
        body=lambda o: {"endpoint_prefix": "https://tools.example.com/moved", "classifications": ["public"]},
    ),
    "agents:tool-allowance-delete": Expectation("tool_allowance", "central", success=204),
    "vector_stores:vector-store-list": Expectation("vector_store", "lob"),
    "vector_stores:vector-store-create": Expectation(
        "vector_store",
        "lob",
        body=lambda o: {
            "slug": "new-store",
            "name": "New store",
            "embedding_alias": "matrix-embed",
            "dimensions": 8,
            "ingestion_use_case": o["use_case"],
        },
        success=201,
    ),
    "vector_stores:vector-store-detail": Expectation("vector_store", "lob"),
    "vector_stores:vector-store-delete": Expectation(
        "vector_store", "lob", objects={"store": "spare_store"}, success=204
    ),
    "vector_stores:vector-store-share": Expectation(
        "grant", "lob", body=lambda o: {"use_case": "partner/spare"}, success=201
    ),
    "vector_stores:vector-store-unshare": Expectation(
        "grant", "lob", body=lambda o: {"use_case": "partner/app"}, success=204
    ),
    "vector_stores:grounding-attach": Expectation(
        "vector_store", "lob", body=lambda o: {"use_case": o["draft_use_case"]}, success=201
    ),
    "vector_stores:grounding-detach": Expectation(
        "vector_store", "lob", body=lambda o: {"use_case": o["use_case"]}, success=204
    ),
    "vector_stores:document-list": Expectation("vector_store", "lob"),
    "vector_stores:document-upload": Expectation(
        "vector_store", "lob", body=lambda o: {"documents": [{"id": "new-doc", "text": "Hello."}]}, success=202
    ),
    "vector_stores:document-delete": Expectation("vector_store", "lob"),
    "vector_stores:ingestion-job-list": Expectation("vector_store", "lob"),
    "vector_stores:ingestion-job-detail": Expectation("vector_store", "lob"),
    "tenants:use-case-governance": Expectation("use_case", "lob"),
    "tenants:use-case-intake-save": Expectation("use_case", "lob", body=lambda o: INTAKE_BODY),
    "tenants:use-case-submit": Expectation("use_case", "lob", objects={"use_case": "ready_use_case"}, success=201),
    "tenants:use-case-withdraw": Expectation("use_case", "lob", objects={"use_case": "submitted_use_case"}),
    "tenants:use-case-material-change": Expectation(
        "use_case", "lob", objects={"use_case": "approved_use_case"}, body=lambda o: {"what": "a new tool"}, success=201
    ),
    "tenants:use-case-retire": Expectation("use_case", "lob", objects={"use_case": "ready_use_case"}),
    "tenants:use-case-review-evidence": Expectation("use_case", "lob", objects={"use_case": "submitted_use_case"}),
    "governance:review-list": Expectation("review", "central"),
    "governance:review-detail": Expectation("review", "central"),
    "governance:review-decide": Expectation(
        "review", "central", body=lambda o: {"verdict": "request_changes", "comment": "Add the DPIA."}
    ),
    "governance:review-evidence": Expectation("review", "central"),
    # The central platform team: catalog, model approvals, guardrail policies, budgets, onboarding.
    **{
        f"catalog:{kind}-{action}": expectation
        for kind, create_body, update_body in (
            ("account", lambda o: {"name": "matrix-new-account", "provider": "sandbox"}, lambda o: {"region": "eu"}),
            ("model", lambda o: {"name": "matrix-new-model"}, lambda o: {"context_window": 1000}),
            (
                "deployment",
                lambda o: {
                    "name": "matrix-new-deployment",
                    "account": o["account"],
                    "model": o["model"],
                    "provider_model_id": "sandbox-chat",
                },
                lambda o: {"provider_model_id": "sandbox-chat-2"},
            ),
            ("alias", lambda o: {"name": "matrix-new-alias"}, lambda o: {"description": "Changed."}),
        )
        for action, expectation in (
            ("list", Expectation("catalog", "central")),
            ("create", Expectation("catalog", "central", body=create_body, success=201)),
            ("detail", Expectation("catalog", "central", objects={"name": kind})),
            ("update", Expectation("catalog", "central", objects={"name": kind}, body=update_body)),
            # The world's rows are all in use: a delete is refused (400), which still proves who may ask.
            ("delete", Expectation("catalog", "central", objects={"name": kind}, success=400)),
        )
    },
    "catalog:deployment-deprecate": Expectation("catalog", "central", objects={"name": "deployment"}),
    "catalog:deployment-retire": Expectation("catalog", "central", objects={"name": "deployment"}),
    "catalog:alias-routes": Expectation(
        "catalog", "central", objects={"name": "alias"}, body=lambda o: {"routes": [{"deployment": o["deployment"]}]}
    ),
    "catalog:alias-retire": Expectation("catalog", "central", objects={"name": "alias"}),
    "governance:use-case-suspend": Expectation(
        "review", "central", objects={"review_id": "live_review_id"}, body=lambda o: {"reason": REASON}
    ),
    "governance:use-case-reinstate": Expectation(
        "review", "central", objects={"review_id": "paused_review_id"}, body=lambda o: {"reason": REASON}
    ),
    "central:model-approval-list": Expectation("catalog", "central"),
    "central:model-approval-set": Expectation(
        "catalog", "central", body=lambda o: {"alias": "matrix-chat", "classifications": ["internal"]}
    ),
    "central:guardrail-policy-list": Expectation("guardrail_policy", "central"),
    "central:guardrail-policy-draft": Expectation(
        "guardrail_policy",
        "central",
        body=lambda o: {
            "scope": "central",
            "name": "matrix-new-policy",
            "document": {"rules": [{"check": "secrets", "direction": "input", "action": "block"}]},
        },
        success=201,
    ),
    "central:guardrail-version-detail": Expectation(
        "guardrail_policy", "central", objects={"version_id": "draft_version"}
    ),
    "central:guardrail-version-diff": Expectation(
        "guardrail_policy", "central", objects={"version_id": "draft_version"}
    ),
    "central:guardrail-version-publish": Expectation(
        "guardrail_policy", "central", objects={"version_id": "draft_version"}, body=lambda o: {"mode": "shadow"}
    ),
    "central:guardrail-version-shadow": Expectation(
        "guardrail_policy", "central", objects={"version_id": "shadow_version"}
    ),
    "metering:budget-list": Expectation("budget", "central"),
    "metering:budget-set": Expectation(
        "budget", "central", body=lambda o: {"lob": "retail", "monthly_limit_usd": "10"}
    ),
    "metering:rate-limit-list": Expectation("budget", "central"),
    "metering:rate-limit-set": Expectation(
        "budget", "central", body=lambda o: {"use_case": "retail/retail-chatbot", "requests_per_minute": 5}
    ),
    "lob-onboard": Expectation(
        "lob",
        "central",
        body=lambda o: {"slug": "newly-onboarded", "name": "Newly onboarded", "admin_username": "newcomer"},
        success=201,
    ),
    # Every signed-in person's own tokens (a token acts as its owner, so owning one grants nothing).
    "tokens:token-list": Expectation(None, "signed_in"),
    "tokens:token-issue": Expectation(None, "signed_in", body=lambda o: {"name": "ci pipeline"}, success=201),
    "tokens:token-revoke": Expectation(None, "signed_in", objects={"prefix": "own_token"}),
    "api-schema": Expectation(None, "public"),
    "api-docs": Expectation(None, "public"),
}


INTAKE_BODY = {
    "data_classification": "confidential",
    "business_problem": "Slow answers.",
    "intended_outcome": "Drafts.",
    "success_metrics": "Handling time.",
    "business_owner": "Head of retail",
    "people_affected": "Agents.",
    "customer_facing": False,
    "personal_data": False,
    "jurisdictions": ["EU"],
    "autonomy": "human_in_the_loop",
    "tools_and_actions": [],
    "expected_monthly_requests": 1000,
    "monthly_budget_usd": "50.00",
    "annex_iii_area": "none",
    "prohibited_practice": "none",
    "generates_synthetic_media": False,
}


# ---- the endpoints, from the URL configuration ----


@dataclass(frozen=True)
class Endpoint:
    name: str | None
    route: str
    view_class: type
    parameters: tuple[str, ...]

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(m for m in METHODS if hasattr(self.view_class, m))


def api_endpoints() -> list[Endpoint]:
    """Every route under /api/v1/, with its namespaced URL name."""
    found: list[Endpoint] = []

    def walk(patterns: list[Any], prefix: str, namespace: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                inner = ":".join(filter(None, [namespace, pattern.namespace]))
                walk(pattern.url_patterns, route, inner)
            elif isinstance(pattern, URLPattern) and route.startswith("api/v1/"):
                name = ":".join(filter(None, [namespace, pattern.name])) if pattern.name else None
                view_class = getattr(pattern.callback, "view_class", None) or getattr(pattern.callback, "cls", None)
                parameters = tuple(getattr(pattern.pattern, "converters", {}))
                found.append(Endpoint(name=name, route=route, view_class=view_class, parameters=parameters))

    walk(get_resolver().url_patterns, "", "")
    return found


ENDPOINTS = {endpoint.name: endpoint for endpoint in api_endpoints()}


def test_every_api_endpoint_has_an_expectation():
    unnamed = [endpoint.route for endpoint in api_endpoints() if endpoint.name is None]
    assert not unnamed, f"name these routes so the matrix can cover them: {unnamed}"
    missing = sorted(set(ENDPOINTS) - set(EXPECTATIONS))
    assert not missing, f"add these endpoints to EXPECTATIONS in {__name__}: {missing}"
    stale = sorted(set(EXPECTATIONS) - set(ENDPOINTS))
    assert not stale, f"these EXPECTATIONS match no endpoint any more: {stale}"


def test_every_non_public_endpoint_is_authorized_by_role_permission():
    for name, endpoint in ENDPOINTS.items():
        expectation = EXPECTATIONS.get(name)
        if expectation is None or expectation.scope in ("public", "lob_or_central"):
            continue
        assert RolePermission in endpoint.view_class.permission_classes, name
        assert endpoint.view_class.access_object == expectation.access_object, name
        assert getattr(endpoint.view_class, "access_action", None) == expectation.action, name
        assert ("lob" in endpoint.parameters) == (expectation.scope == "lob"), name


# ---- what the policy says, independently of casbin ----


def policy_allows(role: str, domain: str, obj: str, act: str) -> bool:
    """Whether DEFAULT_POLICY lets `role` act in `domain`; LOB roles hold only in LOBs, central ones only centrally."""
    holds = role in CENTRAL_ROLES if domain == "central" else role in LOB_ROLES
    return holds and any(
        r == role and d in ("*", domain) and o in ("*", obj) and a in ("*", act) for r, d, o, a in DEFAULT_POLICY
    )


def expected_status(expectation: Expectation, role: str, target: str, method: str) -> int:
    act = expectation.action or (READ if method == "get" else WRITE)
    obj = expectation.access_object
    if expectation.scope == "public":
        return expectation.success
    if role == "anonymous":
        return UNAUTHENTICATED
    if expectation.scope == "signed_in":
        return expectation.success
    if expectation.scope == "lob_or_central":
        allowed = policy_allows(role, "central", obj, act) or policy_allows(role, "lob:retail", obj, act)
        return expectation.success if allowed else FORBIDDEN
    if expectation.scope == "central":
        if not policy_allows(role, "central", obj, act):
            return FORBIDDEN
        return expectation.success if target == "central" else NOT_FOUND
    # LOB-scoped: only the LOB roles are members, and only of `retail`.
    if role not in LOB_ROLES or target in ("other_lob", "unknown_lob"):
        return NOT_FOUND
    if not policy_allows(role, "lob:retail", obj, act):
        return FORBIDDEN
    return expectation.success if target == "own_lob" else NOT_FOUND


# ---- one world for the module ----


@dataclass
class World:
    clients: dict[str, Client]
    #: Per target: the values of URL parameters and bodies.
    targets: dict[str, dict[str, Any]]


def _lob_world(slug: str, name: str, admin: Any, partner_app: Any, alias: Any) -> dict[str, Any]:
    """A LOB with a use case, a key, a leaving member, a template shared with a partner's use case,
    and two break-glass requests by a central engineer (one pending, one approved)."""
    lob = LobFactory(slug=slug, name=name)
    access.membership_set(lob=lob, user=admin, role="lob_admin")
    use_case = UseCaseFactory(lob=lob, slug=f"{slug}-chatbot", name=f"{name} chatbot", aliases=[alias])
    api_key, _ = api_key_issue(use_case=use_case, name=f"{slug} key")
    leaver = UserFactory(username=f"{slug}-leaver")
    access.membership_set(lob=lob, user=leaver, role="lob_viewer")
    policy_enforcer().reload()  # the commit hooks that would announce these roles never run in this transaction
    template = PromptTemplate.objects.create(lob=lob, name=f"{slug}-greeting", template="Hello")
    tenant_services.object_share(obj=template, owner_lob=lob, use_case=partner_app, actor=admin)
    UsageRecord.objects.create(
        request_id=f"{slug}-1",
        occurred_at=dt.datetime(2025, 3, 10, tzinfo=dt.UTC),
        lob=lob,
        use_case=use_case,
        endpoint="chat",
        alias=alias.name,
        status=UsageRecord.Status.SUCCESS,
        cost=Decimal("1.5"),
    )
    engineer = UserFactory(username=f"{slug}-engineer")
    access.central_role_grant(user=engineer, role="platform_admin")
    pending = access.break_glass_request(requester=engineer, lob=lob, reason=REASON, duration_minutes=30)
    approved = access.break_glass_request(requester=engineer, lob=lob, reason=REASON, duration_minutes=30)
    access.break_glass_decide(request=approved, approver=admin, approve=True)
    agents = _agent_world(lob, use_case, api_key, alias, admin, partner_app)
    stores = _vector_store_world(lob, use_case, admin, partner_app)
    governance = _governance_world(lob, alias, admin)
    return {
        **agents,
        **stores,
        **governance,
        "lob_object": lob,
        "lob": slug,
        "use_case": use_case.slug,
        "prefix": api_key.prefix,
        "username": leaver.username,
        "template": template.name,
        "prompt": template.name,  # not overridden in own_lob_their_objects, unlike `template`
        "version": template.version,
        "pending_request": pending.pk,
        "approved_request": approved.pk,
    }


def _agent_world(lob: Any, use_case: Any, api_key: Any, alias: Any, admin: Any, partner_app: Any) -> dict[str, Any]:
    """A tool, an agent shared with the partner's use case and run once, and a spare agent that never ran."""
    tool = ToolFactory(lob=lob, name=f"{lob.slug}_lookup", endpoint_url="https://t.example/lookup")
    agent = AgentFactory(lob=lob, use_case=use_case, alias=alias, slug=f"{lob.slug}-agent", tools=[tool])
    spare = AgentFactory(lob=lob, use_case=use_case, alias=alias, slug=f"{lob.slug}-spare")
    agent_share(agent=agent, use_case=partner_app, actor=admin)
    run = AgentRun.objects.create(
        agent=agent,
        use_case=use_case,
        api_key=api_key,
        request_id=f"req_{lob.slug}",
        status="succeeded",
        input=[{"role": "user", "content": "hello"}],
        output="hi",
        deadline_at=dt.datetime(2025, 3, 10, tzinfo=dt.UTC),
    )
    return {"tool": tool.name, "agent": agent.slug, "spare_agent": spare.slug, "run_id": run.public_id}


def _vector_store_world(lob: Any, use_case: Any, admin: Any, partner_app: Any) -> dict[str, Any]:
    """A store shared with the partner's use case, grounding the LOB's use case, with one document
    and its job (rows only: nothing is embedded); a spare store; a draft use case to ground."""
    embed = Alias.objects.get(name="matrix-embed")
    store = vector_store(ingestion_use_case=use_case, embedding_alias=embed, slug=f"{lob.slug}-docs", dimensions=8)
    spare = vector_store(ingestion_use_case=use_case, embedding_alias=embed, slug=f"{lob.slug}-spare", dimensions=8)
    vector_store_share(store=store, use_case=partner_app, actor=admin)
    Grounding.objects.create(use_case=use_case, store=store)
    draft = UseCaseFactory(lob=lob, slug=f"{lob.slug}-drafts", name="Drafts", status=UseCase.Status.DRAFT)
    job = IngestionJob.objects.create(store=store, status="succeeded", documents_total=1, documents_done=1)
    Document.objects.create(
        store=store,
        job=job,
        external_id=f"{lob.slug}-handbook",
        content_type="text/plain",
        sha256="0" * 64,
        status="ready",
        chunk_count=1,
    )
    return {
        "store": store.slug,
        "spare_store": spare.slug,
        "draft_use_case": draft.slug,
        "document": f"{lob.slug}-handbook",
        "job_id": job.pk,
    }


def _governance_world(lob: Any, alias: Any, admin: Any) -> dict[str, Any]:
    """Use cases at each step of review: one ready to submit, one submitted (for `retail` only with a
    board decision carrying evidence, so that the central queue shows no other LOB), one approved."""
    answers = {**INTAKE_BODY, "monthly_budget_usd": Decimal("50")}  # confidential: medium, security and risk sign
    ready = UseCaseFactory(lob=lob, slug=f"{lob.slug}-ready", status=UseCase.Status.DRAFT, aliases=[alias])
    workflow.intake_save(use_case=ready, actor=admin, **answers)
    waiting = UseCaseFactory(lob=lob, slug=f"{lob.slug}-waiting", status=UseCase.Status.DRAFT, aliases=[alias])
    approved = UseCaseFactory(lob=lob, slug=f"{lob.slug}-live", aliases=[alias])
    workflow.intake_save(use_case=approved, actor=admin, **answers)
    ids = {"review_id": 10**9, "decision_id": 10**9}
    if lob.slug == "retail":
        workflow.intake_save(use_case=waiting, actor=admin, **answers)
        review = workflow.use_case_submit(use_case=waiting, actor=admin)
        security = UserFactory(username="matrix-security")
        access.central_role_grant(user=security, role="governance_reviewer", specialty="security")
        workflow.review_decide(
            review=review,
            reviewer=security,
            verdict="approve",
            comment="Pen test passed.",
            evidence=ContentFile(b"%PDF-1.4 pen test", name="pentest.pdf"),
        )
        ids = {"review_id": review.pk, "decision_id": review.decisions.get().pk, **_board_world(lob, alias, admin)}
    else:
        UseCase.objects.filter(pk=waiting.pk).update(status=UseCase.Status.SUBMITTED)
    return {
        "ready_use_case": ready.slug,
        "submitted_use_case": waiting.slug,
        "approved_use_case": approved.slug,
        **ids,
    }


def _board_world(lob: Any, alias: Any, admin: Any) -> dict[str, Any]:
    """Reviews of a live use case (the board may suspend it) and of a suspended one (it may reinstate it)."""
    reviews = {}
    for name, suspended in (("live", False), ("paused", True)):
        use_case = UseCaseFactory(lob=lob, slug=f"{lob.slug}-board-{name}", aliases=[alias])
        now = dt.datetime.now(dt.UTC)
        review = Review.objects.create(
            use_case=use_case,
            status=Review.Status.APPROVED,
            risk_tier="low",
            required_specialties=["any"],
            snapshot={},
            submitted_by=admin,
            submitted_at=now,
            sla_due_at=now,
            decided_at=now,
        )
        if suspended:
            workflow.use_case_suspend(use_case=use_case, actor="matrix", reason=REASON)
        reviews[f"{name}_review_id"] = review.pk
    return reviews


def _central_world(alias: Any) -> dict[str, Any]:
    """The catalog rows behind `alias`, and a central guardrail policy with a draft and a shadow version."""
    deployment = alias.routes.select_related("deployment__account", "deployment__model").first().deployment
    policy = GuardrailPolicyRecord.objects.create(scope="central", name="matrix-policy")
    document = {"rules": [{"check": "secrets", "direction": "input", "action": "block"}]}
    shadow = GuardrailPolicyVersion.objects.create(
        policy=policy, number=1, status="published", mode="shadow", document=document
    )
    draft = GuardrailPolicyVersion.objects.create(policy=policy, document=document)
    return {
        "account": deployment.account.name,
        "model": deployment.model.name,
        "deployment": deployment.name,
        "alias": alias.name,
        "draft_version": draft.pk,
        "shadow_version": shadow.pk,
        # Whose token a call revokes when the caller has none (anonymous): nobody's.
        "own_token": "nosuchtoken0",
    }


@pytest.fixture(scope="module")
def media_root(tmp_path_factory) -> Any:
    """Evidence files the world uploads, and the calls download, live here."""
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, _pgvector_server, media_root) -> Iterator[World]:
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            # The stores' collections go to the session's pgvector server (`vector_db` points each test there).
            with override_settings(VECTOR_DB_URL=_pgvector_server, MEDIA_ROOT=media_root):
                world = _build_world()
            yield world
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            policy_enforcer().reload()  # forget the world's roles


def _build_world() -> World:
    alias = AliasFactory(name="matrix-chat")
    embedding_alias(name="matrix-embed", dimensions=8)
    partner = LobFactory(slug="partner", name="Partner")
    partner_app = UseCaseFactory(lob=partner, slug="app", name="Partner app")
    UseCaseFactory(lob=partner, slug="spare", name="Partner spare")
    UserFactory(username="newcomer")
    users = {role: UserFactory(username=f"matrix-{role}") for role in ROLES if role != "anonymous"}
    access.central_role_grant(user=users["platform_admin"], role="platform_admin")
    access.central_role_grant(user=users["governance_reviewer"], role="governance_reviewer", specialty="legal")

    own = _lob_world("retail", "Retail banking", users["lob_admin"], partner_app, alias)
    other = _lob_world("wealth", "Wealth management", UserFactory(username="wealth-admin"), partner_app, alias)
    for role in ("lob_developer", "lob_viewer"):
        access.membership_set(lob=own["lob_object"], user=users[role], role=role)
    own_request = access.break_glass_request(
        requester=users["platform_admin"], lob=own["lob_object"], reason=REASON, duration_minutes=30
    )
    access.break_glass_decide(request=own_request, approver=users["lob_admin"], approve=True)
    policy_enforcer().reload()
    allowance = ToolAllowanceFactory(endpoint_prefix="https://tools.example.com/matrix")
    central = _central_world(alias)
    tokens = {
        f"central:{role}": {
            "own_token": personal_token_issue(
                user=user, name="matrix", scope="write", expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
            ).token.prefix
        }
        for role, user in users.items()
    }

    clients = {"anonymous": Client()}
    for role, user in users.items():
        clients[role] = Client()
        clients[role].force_login(user)
    own_with_their_objects = {**other, "lob": own["lob"], "lob_object": own["lob_object"], "template": own["template"]}
    unknown = {**own, "lob": "no-such-lob"}
    return World(
        clients=clients,
        targets={
            "own_lob": own,
            "other_lob": other,
            "unknown_lob": unknown,
            "own_lob_their_objects": own_with_their_objects,
            "central": {
                "own_request": own_request.pk,
                "allowance_id": allowance.pk,
                "review_id": own["review_id"],
                "decision_id": own["decision_id"],
                "live_review_id": own["live_review_id"],
                "paused_review_id": own["paused_review_id"],
                "policy_rule": PolicyRule.objects.order_by("pk").first().pk,
                **central,
            },
            "central_their_objects": {
                "own_request": other["approved_request"],
                "allowance_id": allowance.pk + 1000,
                "review_id": own["review_id"] + 1000,
                "live_review_id": own["live_review_id"] + 1000,
                "paused_review_id": own["paused_review_id"] + 1000,
                "policy_rule": 10**9,
                "decision_id": own["decision_id"],
                **{name: f"no-such-{name}" for name in ("account", "model", "deployment", "alias")},
                "draft_version": central["draft_version"] + 1000,
                "shadow_version": central["shadow_version"] + 1000,
            },
            **tokens,
        },
    )


@pytest.fixture(autouse=True)
def _plain_static_files(settings, media_root):
    """The Swagger page links static files; tests do not run collectstatic to build the manifest."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.MEDIA_ROOT = media_root


# ---- the matrix ----


def targets_of(endpoint: Endpoint, expectation: Expectation) -> list[str]:
    objects = [p for p in endpoint.parameters if p != "lob"]
    if expectation.scope == "lob":
        return ["own_lob", "other_lob", "unknown_lob"] + (["own_lob_their_objects"] if objects else [])
    if expectation.scope == "central":
        return ["central"] + (["central_their_objects"] if objects else [])
    return ["central"]


def call(client: Client, method: str, url: str, expectation: Expectation, objects: dict[str, Any]):
    """One request, its writes rolled back so that the next call sees the same world."""
    with transaction.atomic():
        if method == "get":
            response = client.get(url, expectation.query)
        else:
            body = expectation.body(objects) if expectation.body else {}
            response = getattr(client, method)(url, json.dumps(body), content_type="application/json")
        transaction.set_rollback(True)
    return response


def leak_markers(expectation: Expectation, role: str) -> tuple[str, ...]:
    """Text that must not appear in an allowed read by `role`: another LOB's, or another requester's."""
    if expectation.scope == "lob":
        return ("wealth",)
    if expectation.scope == "central":
        return ("wealth", "engineer")
    if expectation.scope in ("signed_in", "lob_or_central") and role != "platform_admin":
        return ("wealth", "partner")
    return ()


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", sorted(n for n in ENDPOINTS if n in EXPECTATIONS))
def test_authorization_matrix(world, name, role):
    endpoint, expectation = ENDPOINTS[name], EXPECTATIONS[name]
    client = world.clients[role]
    problems, not_found_bodies = [], {}
    for target in targets_of(endpoint, expectation):
        objects = {**world.targets[target], **world.targets.get(f"{target}:{role}", {})}
        kwargs = {p: objects[expectation.objects.get(p, p)] for p in endpoint.parameters}
        url = reverse(name, kwargs=kwargs)
        for method in endpoint.methods:
            expected = expected_status(expectation, role, target, method)
            response = call(client, method, url, expectation, objects)
            where = f"{method.upper()} {url} as {role} ({target})"
            if response.status_code != expected:
                problems.append(f"{where}: {response.status_code}, expected {expected}: {response.content[:200]!r}")
                continue
            if expected == NOT_FOUND:
                not_found_bodies[target] = response.content
            if method == "get" and response.status_code == 200 and "json" in response.get("Content-Type", ""):
                problems.extend(f"{where}: {p}" for p in leaks(response, expectation, role, name))
    both = {"other_lob", "unknown_lob"} <= set(not_found_bodies)
    if both and not_found_bodies["other_lob"] != not_found_bodies["unknown_lob"]:
        problems.append(f"{name} as {role}: another LOB and an unknown LOB answer differently")
    assert not problems, "\n".join(problems)


def leaks(response: Any, expectation: Expectation, role: str, name: str) -> list[str]:
    body = response.json()
    text = json.dumps(body).lower()
    found = [f"mentions {marker!r}" for marker in leak_markers(expectation, role) if marker in text]
    if isinstance(body, dict) and "count" in body and body["count"] != len(body["results"]):
        found.append(f"count {body['count']} but {len(body['results'])} rows")
    if role == "platform_admin" and name == "tenants:lob-list":
        extra = {key for row in body["results"] for key in row} - {"slug", "name", "role"}
        if extra:
            found.append(f"LOB data beyond names for the platform admin: {sorted(extra)}")
    return found


def test_the_matrix_covers_every_role_and_target_kind(world):
    """A guard on the guard: the matrix really sends allowed and refused calls of every kind."""
    outcomes = {
        expected_status(EXPECTATIONS[name], role, target, method)
        for name, endpoint in ENDPOINTS.items()
        for role in ROLES
        for target in targets_of(endpoint, EXPECTATIONS[name])
        for method in endpoint.methods
    }
    assert {200, 201, 204, FORBIDDEN, NOT_FOUND} <= outcomes
    assert policy_allows("lob_admin", "lob:retail", "member", WRITE)
    assert not policy_allows("lob_admin", "central", "member", WRITE)
    assert not policy_allows("platform_admin", "lob:retail", "use_case", READ)
