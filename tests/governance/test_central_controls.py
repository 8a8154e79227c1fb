"""The central platform team's controls, through the management API and the portal: model approvals,
budgets, rate limits, guardrail policies and LOB onboarding, each audited with before and after."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from genai_platform.access.services import central_role_grant
from genai_platform.audit.models import AuditEvent
from genai_platform.metering.models import Budget, RateLimit
from governance.models import GuardrailPolicyVersion, ModelApproval
from lob_tenants.models import Lob, Membership
from tests.factories import AliasFactory, LobFactory, UseCaseFactory, UserFactory, issue_key

pytestmark = pytest.mark.django_db

RULE = {"check": "secrets", "direction": "input", "action": "block"}


@pytest.fixture
def admin_user(django_capture_on_commit_callbacks):
    user = UserFactory(is_staff=True, username="platform-pat")
    with django_capture_on_commit_callbacks(execute=True):
        central_role_grant(user=user, role="platform_admin")
    return user


@pytest.fixture
def api(admin_user):
    client = Client()
    client.force_login(admin_user)

    def post(name: str, body: dict, *args: object):
        return client.post(reverse(name, args=args), body, "application/json")

    post.client = client
    return post


def last(action: str) -> AuditEvent:
    return AuditEvent.objects.filter(action=action).order_by("-id").first()


# ---- model approvals ----


def test_an_alias_is_approved_for_classifications_through_the_api(api):
    AliasFactory(name="chat")

    response = api("central:model-approval-set", {"alias": "chat", "classifications": ["confidential"]})

    assert response.status_code == 200 and response.json()["classifications"] == ["confidential"]
    assert ModelApproval.objects.get().classifications == ["confidential"]


def test_an_unknown_classification_is_refused_field_by_field(api):
    AliasFactory(name="chat")

    response = api("central:model-approval-set", {"alias": "chat", "classifications": ["secret-ish"]})

    assert response.status_code == 400 and set(response.json()) == {"classifications"}
    assert not ModelApproval.objects.exists()


def test_the_portal_form_approves_an_alias(api):
    alias = AliasFactory(name="chat")

    response = api.client.post(
        reverse("admin:governance_modelapproval_add"), {"alias": alias.pk, "classifications": ["internal", "public"]}
    )

    assert response.status_code == 302
    assert ModelApproval.objects.get().classifications == ["internal", "public"]


# ---- budgets and rate limits ----


def test_a_budget_change_is_audited_with_the_limit_before_and_after(api):
    LobFactory(slug="retail")

    api("metering:budget-set", {"lob": "retail", "monthly_limit_usd": "100"})
    response = api("metering:budget-set", {"lob": "retail", "monthly_limit_usd": "250", "hard_limit": False})

    assert response.status_code == 200
    event = last("budget.set")
    assert event.before["monthly_limit_usd"].startswith("100") and event.after["monthly_limit_usd"].startswith("250")
    assert event.before["hard_limit"] is True and event.after["hard_limit"] is False
    assert Budget.objects.count() == 1


def test_a_budget_names_exactly_one_scope(api):
    UseCaseFactory(lob=LobFactory(slug="retail"), slug="bot")

    response = api("metering:budget-set", {"lob": "retail", "use_case": "retail/bot", "monthly_limit_usd": "1"})

    assert response.status_code == 400 and not Budget.objects.exists()


def test_a_keys_rate_limit_is_set_by_its_prefix_and_audited(api):
    key, _ = issue_key(UseCaseFactory(lob=LobFactory(slug="retail"), slug="bot"))

    first = api("metering:rate-limit-set", {"key": key.prefix, "requests_per_minute": 10})
    second = api("metering:rate-limit-set", {"key": key.prefix, "requests_per_minute": 20})

    assert first.status_code == second.status_code == 200 and second.json()["key"] == key.prefix
    event = last("rate_limit.set")
    assert event.before == {"requests_per_minute": 10, "tokens_per_minute": None}
    assert event.after == {"requests_per_minute": 20, "tokens_per_minute": None}
    assert key.prefix not in str(api.client.get(reverse("metering:rate-limit-list")).json())


def test_the_portal_sets_a_keys_rate_limit_by_prefix(api):
    key, _ = issue_key(UseCaseFactory(lob=LobFactory(slug="retail"), slug="bot"))

    response = api.client.post(
        reverse("admin:metering_ratelimit_add"), {"key_prefix": key.prefix, "requests_per_minute": "5"}
    )

    assert response.status_code == 302
    assert RateLimit.objects.get(api_key=key).requests_per_minute == 5


# ---- guardrail policies ----


def test_a_policy_is_drafted_diffed_shadowed_and_published_through_the_api(api):
    drafted = api(
        "central:guardrail-policy-draft", {"scope": "central", "name": "baseline", "document": {"rules": [RULE]}}
    )
    first = drafted.json()["id"]
    api("central:guardrail-version-publish", {"mode": "enforced"}, first)
    tighter = {"rules": [RULE, {"check": "injection", "direction": "input", "action": "block"}]}
    second = api("central:guardrail-policy-draft", {"scope": "central", "name": "baseline", "document": tighter}).json()
    diff = api.client.get(reverse("central:guardrail-version-diff", args=[second["id"]])).json()
    shadowed = api("central:guardrail-version-publish", {"mode": "shadow"}, second["id"])
    report = api.client.get(reverse("central:guardrail-version-shadow", args=[second["id"]]))

    assert drafted.status_code == 201
    assert diff["added"] == ["injection/input"] and diff["older"]["number"] == 1
    assert shadowed.status_code == 200 and shadowed.json()["mode"] == "shadow" and shadowed.json()["number"] == 2
    assert report.status_code == 200 and report.json()["shadow"].endswith("baseline@v2")
    saved = last("guardrail_policy.draft_saved")
    assert saved.before["number"] == 1 and len(saved.after["rules"]) == 2
    published = last("guardrail_policy.published_shadow")
    assert published.before["status"] == "draft" and published.after["status"] == "published"


def test_a_draft_the_policy_language_refuses_writes_nothing(api):
    response = api(
        "central:guardrail-policy-draft",
        {"scope": "central", "name": "broken", "document": {"rules": [{"check": "nonsense", "direction": "input"}]}},
    )

    assert response.status_code == 400
    assert not GuardrailPolicyVersion.objects.exists()


def test_the_portal_creates_a_policy_with_its_draft_and_publishes_it(api):
    response = api.client.post(
        reverse("admin:governance_guardrailpolicyrecord_add"),
        {
            "scope": "central",
            "name": "portal-policy",
            "document": '{"rules": [{"check": "secrets", "direction": "input", "action": "block"}]}',
        },
    )
    draft = GuardrailPolicyVersion.objects.get()
    published = api.client.post(
        reverse("admin:governance_guardrailpolicyversion_changelist"),
        {"action": "publish_enforced", "_selected_action": [draft.pk]},
    )

    assert response.status_code == 302 and published.status_code == 302
    draft.refresh_from_db()
    assert draft.status == "published" and draft.number == 1


def test_the_portal_shows_the_services_refusal_on_the_form_and_writes_nothing(api):
    response = api.client.post(
        reverse("admin:governance_guardrailpolicyrecord_add"),
        {"scope": "central", "name": "broken", "document": '{"rules": [{"check": "nonsense"}]}'},
    )

    assert response.status_code == 200 and response.context["adminform"].form.errors
    assert not GuardrailPolicyVersion.objects.exists() and not AuditEvent.objects.filter(action__startswith="guardrail")


# ---- LOB onboarding ----


def test_a_lob_is_onboarded_with_its_first_admin(api):
    response = api(
        "lob-onboard", {"slug": "retail", "name": "Retail", "admin_username": "rita", "admin_email": "r@x.io"}
    )

    assert response.status_code == 201 and response.json()["admin_created"] is True
    membership = Membership.objects.get(lob__slug="retail")
    assert membership.user.username == "rita" and membership.role == "lob_admin"
    assert not membership.user.has_usable_password()
    assert last("lob.onboarded").after["first_admin"] == "rita"


def test_four_eyes_nobody_makes_themselves_the_first_admin(api, admin_user):
    response = api("lob-onboard", {"slug": "retail", "name": "Retail", "admin_username": admin_user.username})

    assert response.status_code == 400 and "Four-eyes" in response.json()["admin_username"][0]
    assert not Lob.objects.exists()


def test_onboarding_refuses_an_existing_lob(api):
    LobFactory(slug="retail")

    response = api("lob-onboard", {"slug": "retail", "name": "Again", "admin_username": "rita"})

    assert response.status_code == 400 and set(response.json()) == {"slug"}


def test_the_portal_onboards_a_lob_and_refuses_the_onboarder_as_its_admin(api, admin_user):
    url = reverse("admin:lob_tenants_lob_add")
    form = {"slug": "retail", "name": "Retail", "business_owner": "", "cost_center": ""}

    refused = api.client.post(url, {**form, "admin_username": admin_user.username})
    accepted = api.client.post(url, {**form, "admin_username": "rita"})

    assert refused.status_code == 200 and "Four-eyes" in refused.content.decode()
    assert accepted.status_code == 302
    assert Membership.objects.get(lob__slug="retail").user.username == "rita"
