"""The portal's own pages and the LOB's governance pages: the home page says what each person can
do next, the API roots answer JSON, the intake refuses bad answers field by field and writes
nothing, the use case's page drives the workflow, evidence is downloaded only by those who may read
the review, and the dashboard shows each use case's calls and cost."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from genai_platform.access.enforcer import policy_enforcer
from genai_platform.access.services import central_role_grant, membership_set
from genai_platform.audit.models import AuditEvent
from genai_platform.metering.models import UsageRecord
from genai_platform.metering.rollups import usage_rollups_add_records
from governance.models import Intake, Review
from governance.services import workflow
from lob_tenants.models import UseCase
from tests.factories import AliasFactory, DeploymentFactory, LobFactory, UseCaseFactory, UserFactory
from tests.governance.test_review_api import HIGH_RISK

pytestmark = pytest.mark.django_db

ANSWERS = {k: v for k, v in HIGH_RISK.items() if k != "monthly_budget_usd"} | {"monthly_budget_usd": Decimal("50")}


@pytest.fixture(autouse=True)
def _plain_static_files(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def world():
    lob, other = LobFactory(slug="retail", name="Retail"), LobFactory(slug="wealth", name="Wealth")
    alias = AliasFactory(name="retail-chat")
    use_case = UseCaseFactory(
        lob=lob, slug="fraud-triage", name="Fraud triage", status=UseCase.Status.DRAFT, aliases=[alias]
    )
    people = {name: UserFactory(username=name, is_staff=True) for name in ("retail-admin", "wealth-admin", "legal")}
    membership_set(lob=lob, user=people["retail-admin"], role="lob_admin")
    membership_set(lob=other, user=people["wealth-admin"], role="lob_admin")
    central_role_grant(user=people["legal"], role="governance_reviewer", specialty="legal")
    policy_enforcer().reload()
    return {"use_case": use_case, "alias": alias, **people}


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def submitted_with_changes_requested(world) -> Review:
    workflow.intake_save(use_case=world["use_case"], actor=world["retail-admin"], **ANSWERS)
    review = workflow.use_case_submit(use_case=world["use_case"], actor=world["retail-admin"])
    return workflow.review_decide(
        review=review,
        reviewer=world["legal"],
        verdict="request_changes",
        comment="Add the DPIA.",
        evidence=ContentFile(b"dpia template", name="dpia.txt"),
    )


# ---- the home page and the API roots ----


def test_a_visitor_gets_a_sign_in_form_at_the_root():
    response = Client().get("/")

    assert response.status_code == 200
    assert b'id="home-login"' in response.content


def test_the_home_page_tells_each_person_what_to_do_next(world):
    workflow.intake_save(use_case=world["use_case"], actor=world["retail-admin"], **ANSWERS)
    workflow.use_case_submit(use_case=world["use_case"], actor=world["retail-admin"])
    board_home = signed_in(world["legal"]).get("/").content.decode()
    assert "1 review waiting for you" in board_home

    Review.objects.all().delete()
    UseCase.objects.filter(pk=world["use_case"].pk).update(status=UseCase.Status.DRAFT)
    submitted_with_changes_requested(world)
    lob_home = signed_in(world["retail-admin"]).get("/").content.decode()
    assert "fraud-triage: changes requested" in lob_home
    assert reverse("admin:lob_tenants_usecase_change", args=[world["use_case"].pk]) in lob_home
    assert reverse("api-docs") in lob_home
    assert "fraud-triage" not in signed_in(world["wealth-admin"]).get("/").content.decode()


def test_the_home_page_warns_about_deprecated_models_a_use_case_calls(world):
    deployment = DeploymentFactory(name="old-chat", deprecated_on=dt.date(2027, 1, 31))
    deprecated = AliasFactory(name="demo-chat", deployments=[deployment])
    world["use_case"].aliases.add(deprecated)

    page = signed_in(world["retail-admin"]).get("/").content.decode()

    assert "alias demo-chat deprecated on 2027-01-31" in page
    assert "demo-chat" not in signed_in(world["wealth-admin"]).get("/").content.decode()


@pytest.mark.parametrize("path", ["/v1", "/v1/", "/api/v1", "/api/v1/"])
def test_the_api_roots_answer_json(path):
    response = Client().get(path)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("path", ["/v1/nothing-here", "/api/v1/nothing-here/", "/api/v1/lobs/x/y/z/"])
def test_unknown_paths_below_the_apis_answer_json(path, world):
    response = signed_in(world["retail-admin"]).get(path)

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")


# ---- the LOB's governance pages ----


def test_bad_intake_answers_are_shown_on_their_fields_and_nothing_is_written(world):
    url = reverse("admin:lob_tenants_usecase_intake", args=[world["use_case"].pk])
    events = AuditEvent.objects.count()
    form = {**{k: v for k, v in ANSWERS.items() if not isinstance(v, bool)}, "jurisdictions": "EU, europe"}
    form |= {"business_owner": "", "expected_monthly_requests": "-3", "tools_and_actions": ""}

    response = signed_in(world["retail-admin"]).post(url, form)

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"business_owner", "expected_monthly_requests", "jurisdictions"}
    assert "europe" in errors["jurisdictions"][0].lower()
    assert not Intake.objects.exists() and AuditEvent.objects.count() == events


def test_the_intake_page_shows_the_tier_its_reasons_and_the_eu_category_once_saved(world):
    url = reverse("admin:lob_tenants_usecase_intake", args=[world["use_case"].pk])
    form = {k: v for k, v in ANSWERS.items() if v is not False} | {
        "jurisdictions": "EU, US-CA",
        "tools_and_actions": "",
    }
    lob = signed_in(world["retail-admin"])

    saved = lob.post(url, form, follow=True).content.decode()

    assert 'id="risk-tier">High<' in saved
    assert "high-risk area (EU AI Act Annex III): essential_services" in saved
    assert "High-risk (Annex III area)" in saved
    assert Intake.objects.get().jurisdictions == ["EU", "US-CA"]


def test_the_use_case_page_submits_shows_comments_and_resubmits_with_an_answer(world):
    lob = signed_in(world["retail-admin"])
    use_case = world["use_case"]
    submitted_with_changes_requested(world)
    page = lob.get(reverse("admin:lob_tenants_usecase_change", args=[use_case.pk])).content.decode()
    assert "Add the DPIA." in page and "Changes requested" in page
    submit = reverse("admin:lob_tenants_usecase_governance", args=[use_case.pk])

    refused = lob.post(submit, {"action": "submit", "answer": ""}, follow=True).content.decode()
    assert "Nothing was changed" in refused
    lob.post(submit, {"action": "submit", "answer": "DPIA attached to the wiki."})

    use_case.refresh_from_db()
    assert use_case.status == UseCase.Status.SUBMITTED
    review = Review.objects.get(status="open")
    board_page = signed_in(world["legal"]).get(reverse("admin:governance_review_change", args=[review.pk]))
    assert "DPIA attached to the wiki." in board_page.content.decode()


def test_the_board_sees_what_changed_since_the_last_round(world):
    submitted_with_changes_requested(world)
    workflow.intake_save(
        use_case=world["use_case"], actor=world["retail-admin"], **{**ANSWERS, "business_owner": "CFO"}
    )
    review = workflow.use_case_submit(use_case=world["use_case"], actor=world["retail-admin"], answer="Owner is CFO.")

    page = signed_in(world["legal"]).get(reverse("admin:governance_review_change", args=[review.pk])).content.decode()

    assert 'class="changed-business_owner"' in page
    assert "Head of lending" in page and "CFO" in page


def test_evidence_is_downloaded_only_by_those_who_may_read_the_review(world):
    review = submitted_with_changes_requested(world)
    url = reverse("portal:evidence", args=[review.decisions.get().pk])

    assert signed_in(world["legal"]).get(url).status_code == 200
    lob_download = signed_in(world["retail-admin"]).get(url)
    assert lob_download.status_code == 200 and b"".join(lob_download.streaming_content) == b"dpia template"
    assert signed_in(world["wealth-admin"]).get(url).status_code == 404
    assert Client().get(url).status_code == 302  # to the sign-in page


# ---- the dashboard ----


def test_the_dashboard_shows_each_use_cases_calls_and_cost(world):
    now = timezone.now()
    for n, (status, cost) in enumerate([("success", "0.0008"), ("success", "1.25"), ("guardrail_blocked", "0")]):
        UsageRecord.objects.create(
            request_id=f"req-{n}",
            occurred_at=now,
            lob=world["use_case"].lob,
            use_case=world["use_case"],
            endpoint="chat",
            alias="retail-chat",
            status=status,
            cost=Decimal(cost),
        )

    page = signed_in(world["retail-admin"]).get(reverse("portal:dashboard")).content.decode()

    assert 'data-use-case="fraud-triage"' in page
    assert "$1.25" in page  # 1.2508 to the cent
    assert "<svg" in page and "requests per day" in page
    assert "fraud-triage" not in signed_in(world["wealth-admin"]).get(reverse("portal:dashboard")).content.decode()


def test_the_spend_page_shows_a_sub_cent_day_the_same_way_in_its_headline_and_its_bar(world):
    record = UsageRecord.objects.create(
        request_id="tiny",
        occurred_at=timezone.now(),
        lob=world["use_case"].lob,
        use_case=world["use_case"],
        endpoint="chat",
        alias="retail-chat",
        status="success",
        cost=Decimal("0.0008"),
    )
    usage_rollups_add_records([record])  # what the flusher does beside each ledger write
    platform = UserFactory(username="platform", is_staff=True, is_superuser=True)

    page = signed_in(platform).get(reverse("admin:metering_usagerecord_spend")).content.decode()

    assert "&lt; $0.01" in page
    assert "$0.0008" not in page and "<strong>$0.00</strong>" not in page
