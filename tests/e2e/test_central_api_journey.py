"""The whole journey through the management API alone, from an empty database, with personal API
tokens and no browser: the central team builds the catalog and onboards a LOB; the LOB registers a
use case, fills its intake and submits it; the board asks for changes, then approves with
conditions; the LOB issues a production key and calls the gateway with the openai SDK.

The only steps outside the API are the people themselves: accounts and their central roles come
from the identity provider (here, `manage.py shell`), and each person makes their first token the
way they would in the portal (the same service, `personal_token_issue`). Everything else is HTTP
with `Authorization: Bearer gp-pat-...` against a live gunicorn.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest
from django.urls import reverse

from .conftest import clean_env, free_port, gateway_args, manage, running, wait_until_serving

pytestmark = pytest.mark.e2e

REVIEWERS = {"rev-security": "security", "rev-legal": "legal", "rev-risk": "risk", "rev-compliance": "compliance"}

PEOPLE_SCRIPT = """
import datetime as dt, json
from django.contrib.auth import get_user_model
from django.utils import timezone
from genai_platform.access.services import central_role_grant
from genai_platform.access.tokens import personal_token_issue
User = get_user_model()
tokens = {}
for username, role, specialty in PEOPLE:
    user, _ = User.objects.get_or_create(username=username, defaults={"is_staff": True})
    if role:
        central_role_grant(user=user, role=role, specialty=specialty)
    issued = personal_token_issue(user=user, name="journey", scope="write",
                                  expires_at=timezone.now() + dt.timedelta(hours=2), actor=user)
    tokens[username] = issued.plaintext
print(json.dumps(tokens))
"""


@dataclass
class Stack:
    base_url: str
    env: dict[str, str]


@pytest.fixture(scope="module")
def empty_stack(tmp_path_factory) -> Iterator[Stack]:
    """The embedded defaults (SQLite, eager tasks) after `migrate` only: no seed_demo, no catalog, no LOB."""
    logs = tmp_path_factory.mktemp("central-journey")
    env = clean_env(DATABASE_URL=f"sqlite:///{logs / 'db.sqlite3'}")
    manage(env, "migrate", "--noinput", "-v0")
    port = free_port()
    with running(gateway_args(port), env, logs / "gateway.log") as gateway:
        base_url = f"http://127.0.0.1:{port}"
        wait_until_serving(base_url, gateway, logs / "gateway.log")
        yield Stack(base_url=base_url, env=env)


def people(stack: Stack, *rows: tuple[str, str, str]) -> dict[str, str]:
    """Accounts (and central roles) from the identity provider, and each person's first token."""
    script = f"PEOPLE = {rows!r}\n" + PEOPLE_SCRIPT
    return json.loads(manage(stack.env, "shell", "-c", script).strip().splitlines()[-1])


class Api:
    """One person's calls to the management API, with their personal token."""

    def __init__(self, stack: Stack, token: str) -> None:
        self.http = httpx.Client(base_url=stack.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def post(self, url_name: str, body: dict[str, Any] | None = None, /, *, expect: int = 200, **kwargs: Any) -> Any:
        response = self.http.post(reverse(url_name, kwargs=kwargs or None), json=body or {})
        assert response.status_code == expect, f"POST {url_name}: {response.status_code} {response.text[:800]}"
        return response.json() if response.content else None

    def get(self, url_name: str, /, *, params: dict[str, str] | None = None, **kwargs: Any) -> Any:
        response = self.http.get(reverse(url_name, kwargs=kwargs or None), params=params)
        assert response.status_code == 200, f"GET {url_name}: {response.status_code} {response.text[:800]}"
        return response.json()


INTAKE = {
    "data_classification": "confidential",
    "business_problem": "Customers wait days for answers to complaints about card fees.",
    "intended_outcome": "Draft answers an agent reviews and sends.",
    "success_metrics": "Median first answer under 4 hours.",
    "business_owner": "Head of Retail Service",
    "people_affected": "Retail customers who complain, about 20,000 a month.",
    "customer_facing": True,
    "personal_data": True,
    "jurisdictions": ["EU"],
    "autonomy": "human_in_the_loop",
    "tools_and_actions": [],
    "expected_monthly_requests": 20000,
    "monthly_budget_usd": "50.00",
    "annex_iii_area": "essential_services",
    "prohibited_practice": "none",
    "generates_synthetic_media": False,
}


def test_the_whole_journey_through_the_management_api_alone(empty_stack):
    tokens = people(
        empty_stack, ("pat", "platform_admin", ""), *((name, "governance_reviewer", s) for name, s in REVIEWERS.items())
    )
    pat = Api(empty_stack, tokens["pat"])

    # -- the central platform team: catalog, approval per classification, a LOB and its first admin
    pat.post("catalog:account-create", {"name": "sandbox", "provider": "sandbox", "region": "local"}, expect=201)
    pat.post("catalog:model-create", {"name": "sandbox-chat", "context_window": 32768}, expect=201)
    pat.post(
        "catalog:deployment-create",
        {
            "name": "sandbox-chat-local",
            "account": "sandbox",
            "model": "sandbox-chat",
            "provider_model_id": "sandbox-chat",
            "input_price_per_million": "0.50",
            "output_price_per_million": "1.50",
        },
        expect=201,
    )
    for alias in ("retail-chat", "other-chat"):
        pat.post("catalog:alias-create", {"name": alias, "description": f"{alias} (sandbox)"}, expect=201)
        pat.post("catalog:alias-routes", {"routes": [{"deployment": "sandbox-chat-local"}]}, name=alias)
    approval = pat.post("central:model-approval-set", {"alias": "retail-chat", "classifications": ["confidential"]})
    assert approval["classifications"] == ["confidential"]
    refused = pat.http.post(
        reverse("lob-onboard"), json={"slug": "retail", "name": "Retail", "admin_username": "pat"}
    )  # four-eyes: the onboarding platform admin is never the LOB's first admin
    assert refused.status_code == 400 and "admin_username" in refused.json()
    onboarded = pat.post(
        "lob-onboard",
        {"slug": "retail", "name": "Retail", "admin_username": "rita", "admin_email": "rita@bank.example"},
        expect=201,
    )
    assert onboarded == {"slug": "retail", "name": "Retail", "admin": "rita", "admin_created": True}

    # -- the LOB admin (her account came from onboarding; she makes her token as in the portal)
    rita = Api(empty_stack, people(empty_stack, ("rita", "", ""))["rita"])
    assert [lob["slug"] for lob in rita.get("tenants:lob-list")["results"]] == ["retail"]
    rita.post(
        "tenants:use-case-create",
        {"slug": "complaints", "name": "Complaints assistant", "aliases": ["retail-chat", "other-chat"]},
        lob="retail",
        expect=201,
    )

    uc = {"lob": "retail", "use_case": "complaints"}

    intake = rita.post("tenants:use-case-intake-save", INTAKE, **uc)["intake"]
    assert intake["risk_tier"] == "high" and intake["tier_reasons"]
    rita.post("tenants:use-case-submit", {}, expect=201, **uc)
    [review] = rita.get("tenants:use-case-governance", **uc)["reviews"]

    # -- the board asks for changes; the LOB answers and resubmits
    security = Api(empty_stack, tokens["rev-security"])
    security.post(
        "governance:review-decide",
        {"verdict": "request_changes", "comment": "Say how agents check drafts before sending."},
        review_id=review["id"],
    )
    assert rita.get("tenants:use-case-governance", **uc)["status"] == "changes_requested"
    rita.post("tenants:use-case-submit", {"answer": "Every draft is read and edited by an agent."}, expect=201, **uc)
    reviews = rita.get("tenants:use-case-governance", **uc)["reviews"]
    open_review = next(r for r in reviews if r["status"] == "open")

    # -- every specialty the high tier needs approves, with conditions: that alias only, 50 USD a month
    conditions = {"allowed_aliases": ["retail-chat"], "monthly_budget_cap_usd": "50"}
    for username in REVIEWERS:
        Api(empty_stack, tokens[username]).post(
            "governance:review-decide",
            {"verdict": "approve", "comment": "Agreed.", **conditions},
            review_id=open_review["id"],
        )
    governance = rita.get("tenants:use-case-governance", **uc)
    assert governance["status"] == "approved"
    assert governance["approval"]["allowed_aliases"] == ["retail-chat"]

    # -- a production key; the openai SDK calls the approved alias, and only that one
    key = rita.post("tenants:api-key-issue", {"name": "prod", "environment": "production"}, expect=201, **uc)
    client = openai.OpenAI(base_url=empty_stack.base_url + "/v1", api_key=key["key"], max_retries=0)
    reply = client.chat.completions.create(model="retail-chat", messages=[{"role": "user", "content": "My fee?"}])
    assert reply.choices[0].message.content == '[sandbox] You said: "My fee?"'
    with pytest.raises(openai.PermissionDeniedError) as refused_model:
        client.chat.completions.create(model="other-chat", messages=[{"role": "user", "content": "hi"}])
    assert refused_model.value.code == "model_not_approved"

    # -- the call and its cost are visible to the LOB and to the platform team
    today = dt.date.today().isoformat()
    query = {"start": today, "end": today, "group_by": "lob,use_case"}
    for person in (rita, pat):
        [row] = person.get("metering:chargeback", params=query)["rows"]
        assert row["requests"] >= 1 and float(row["cost"]) > 0

    # -- and the audit log holds together
    manage(empty_stack.env, "audit", "verify")  # exits non-zero, failing `manage`, on a broken chain
