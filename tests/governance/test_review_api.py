"""A use case's governance journey through the management API alone: the LOB fills the intake and
submits, the board asks for changes with evidence, the LOB answers and resubmits, the board sees
what changed and approves with conditions, the LOB reads them; then withdraw, material change and
retirement. Bad input is refused field by field and writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from genai_platform.access.enforcer import policy_enforcer
from genai_platform.access.services import central_role_grant, membership_set
from genai_platform.audit.models import AuditEvent
from governance.models import Intake, Review
from lob_tenants.models import UseCase
from tests.factories import AliasFactory, LobFactory, UseCaseFactory, UserFactory

pytestmark = pytest.mark.django_db

HIGH_RISK = {
    "data_classification": "confidential",
    "business_problem": "Credit decisions take days.",
    "intended_outcome": "A first assessment that an underwriter checks.",
    "success_metrics": "Decision time under one day.",
    "business_owner": "Head of lending",
    "people_affected": "Loan applicants, about 2,000 a month.",
    "customer_facing": False,
    "personal_data": True,
    "jurisdictions": ["EU", "US-CA"],
    "autonomy": "human_in_the_loop",
    "tools_and_actions": [],
    "expected_monthly_requests": 20000,
    "monthly_budget_usd": "50.00",
    "annex_iii_area": "essential_services",
    "prohibited_practice": "none",
    "generates_synthetic_media": False,
}


@pytest.fixture
def world(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    lob = LobFactory(slug="retail", name="Retail")
    chat, other = AliasFactory(name="retail-chat"), AliasFactory(name="other-chat")
    use_case = UseCaseFactory(lob=lob, slug="credit", status=UseCase.Status.DRAFT, aliases=[chat, other])
    admin = UserFactory(username="retail-admin")
    membership_set(lob=lob, user=admin, role="lob_admin")
    board = {}
    for specialty in ("security", "legal", "risk", "compliance"):
        board[specialty] = UserFactory(username=f"board-{specialty}")
        central_role_grant(user=board[specialty], role="governance_reviewer", specialty=specialty)
    policy_enforcer().reload()
    return {"use_case": use_case, "admin": admin, "board": board, "chat": chat}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def lob_url(name: str, **kwargs) -> str:
    return reverse(f"tenants:{name}", kwargs={"lob": "retail", "use_case": "credit", **kwargs})


def test_bad_intake_answers_are_refused_field_by_field_and_nothing_is_written(world):
    lob = client_for(world["admin"])
    events_before = AuditEvent.objects.count()
    bad = {
        **HIGH_RISK,
        "autonomy": "whenever",
        "jurisdictions": ["europe"],
        "expected_monthly_requests": -1,
        "business_owner": "",
    }
    bad.pop("people_affected")

    response = lob.post(lob_url("use-case-intake-save"), bad, content_type="application/json")

    assert response.status_code == 400
    assert set(response.json()) == {
        "autonomy",
        "jurisdictions",
        "expected_monthly_requests",
        "business_owner",
        "people_affected",
    }
    assert not Intake.objects.exists()
    assert AuditEvent.objects.count() == events_before
    assert UseCase.objects.get(slug="credit").data_classification == "internal"


def test_the_lob_sees_the_tier_its_reasons_and_the_eu_category_before_submitting(world):
    lob = client_for(world["admin"])

    saved = lob.post(lob_url("use-case-intake-save"), HIGH_RISK, content_type="application/json").json()

    assert saved["status"] == "draft"
    intake = saved["intake"]
    assert intake["risk_tier"] == "high"
    assert intake["eu_ai_act_category"] == "high_risk"
    assert "high-risk area (EU AI Act Annex III): essential_services" in intake["tier_reasons"]
    assert intake["data_classification"] == "confidential"
    assert intake["jurisdictions"] == ["EU", "US-CA"]
    assert saved["reviews"] == [] and saved["approval"] is None


def test_the_whole_review_journey_through_the_api(world):
    lob, board = client_for(world["admin"]), {s: client_for(u) for s, u in world["board"].items()}
    lob.post(lob_url("use-case-intake-save"), HIGH_RISK, content_type="application/json")

    submitted = lob.post(lob_url("use-case-submit"), {}, content_type="application/json")
    assert submitted.status_code == 201 and submitted.json()["status"] == "submitted"

    queue = board["legal"].get(reverse("governance:review-list")).json()
    assert [r["use_case"] for r in queue["results"]] == ["credit"]
    review_id = queue["results"][0]["id"]
    assert queue["results"][0]["missing_sign_offs"] == ["security", "legal", "risk", "compliance"]

    # The board asks for changes, with evidence (multipart).
    with open(__file__, "rb") as evidence:
        decided = board["legal"].post(
            reverse("governance:review-decide", kwargs={"review_id": review_id}),
            {"verdict": "request_changes", "comment": "Name the underwriter who checks.", "evidence": evidence},
        )
    assert decided.status_code == 200, decided.content
    assert decided.json()["status"] == "changes_requested"

    # The LOB reads the comment and downloads the evidence.
    status = lob.get(lob_url("use-case-governance")).json()
    assert status["status"] == "changes_requested"
    [decision] = status["reviews"][0]["decisions"]
    assert decision["comment"] == "Name the underwriter who checks."
    download = lob.get(decision["evidence_url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == Path(__file__).read_bytes()
    assert "attachment" in download["Content-Disposition"]

    # Resubmitting needs an answer; the answer and the changed fields reach the next round.
    refused = lob.post(lob_url("use-case-submit"), {}, content_type="application/json")
    assert refused.status_code == 400 and "answer" in refused.json()
    changed = {**HIGH_RISK, "people_affected": "Loan applicants; Jane Doe (underwriting) checks each."}
    lob.post(lob_url("use-case-intake-save"), changed, content_type="application/json")
    again = lob.post(lob_url("use-case-submit"), {"answer": "Named the underwriter."}, content_type="application/json")
    assert again.status_code == 201

    second = board["security"].get(reverse("governance:review-list")).json()["results"][0]
    assert second["answer"] == "Named the underwriter."
    assert [c["field"] for c in second["changes_since_previous_round"]] == ["people_affected"]

    conditions = {"allowed_aliases": ["retail-chat"], "monthly_budget_cap_usd": "50.00"}
    url = reverse("governance:review-decide", kwargs={"review_id": second["id"]})
    for specialty in ("security", "legal", "risk", "compliance"):
        response = board[specialty].post(
            url, {"verdict": "approve", "comment": f"{specialty}: fine.", **conditions}, content_type="application/json"
        )
        assert response.status_code == 200, response.content

    approved = lob.get(lob_url("use-case-governance")).json()
    assert approved["status"] == "approved"
    assert approved["approval"]["allowed_aliases"] == ["retail-chat"]
    assert approved["approval"]["monthly_budget_cap_usd"] == "50.00"
    assert approved["approval"]["expires_at"]

    # A material change goes back to the board; withdrawing it makes a draft again; then retire.
    change = lob.post(
        lob_url("use-case-material-change"), {"what": "adds a CRM lookup tool"}, content_type="application/json"
    )
    assert change.status_code == 201 and change.json()["status"] == "submitted"
    withdrawn = lob.post(lob_url("use-case-withdraw"), {"reason": "not now"}, content_type="application/json")
    assert withdrawn.json()["status"] == "draft"
    assert Review.objects.filter(use_case__slug="credit", status="withdrawn").count() == 1
    retired = lob.post(lob_url("use-case-retire"), {}, content_type="application/json")
    assert retired.json()["status"] == "retired"


def test_the_board_cannot_decide_on_its_own_lobs_use_case(world):
    member = world["board"]["risk"]
    membership_set(lob=world["use_case"].lob, user=member, role="lob_viewer")
    policy_enforcer().reload()
    lob = client_for(world["admin"])
    lob.post(lob_url("use-case-intake-save"), HIGH_RISK, content_type="application/json")
    lob.post(lob_url("use-case-submit"), {}, content_type="application/json")
    review = Review.objects.get()

    response = client_for(member).post(
        reverse("governance:review-decide", kwargs={"review_id": review.pk}),
        {"verdict": "approve", "comment": "mine"},
        content_type="application/json",
    )

    assert response.status_code == 403
    assert not review.decisions.exists()


def test_a_decision_needs_a_verdict_and_a_comment(world):
    lob = client_for(world["admin"])
    lob.post(lob_url("use-case-intake-save"), HIGH_RISK, content_type="application/json")
    lob.post(lob_url("use-case-submit"), {}, content_type="application/json")
    review = Review.objects.get()

    response = client_for(world["board"]["legal"]).post(
        reverse("governance:review-decide", kwargs={"review_id": review.pk}),
        {"verdict": "maybe", "comment": "  ", "allowed_aliases": ["no-such"]},
        content_type="application/json",
    )

    assert response.status_code == 400
    assert set(response.json()) == {"verdict", "comment", "allowed_aliases"}
    assert not review.decisions.exists()
