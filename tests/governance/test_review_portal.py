"""The board's review queue in the portal and a LOB's view of its governance status: who sees what,
and decisions taken through the page going through `workflow.review_decide`."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase
from django.urls import reverse

from genai_platform.access import services as access_services
from governance.models import Approval, Review, ReviewDecision
from lob_tenants.models import UseCase
from tests.factories import AliasFactory, LobFactory, UseCaseFactory, UserFactory

from .flows import approve_low, submitted

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _portal_settings(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.MEDIA_ROOT = str(tmp_path / "media")


def committed(service, **kwargs):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return service(**kwargs)


def board_member(specialty: str = "security"):
    user = UserFactory(is_staff=True)
    committed(access_services.central_role_grant, user=user, role="governance_reviewer", specialty=specialty)
    return user


def lob_member(lob, role: str = "lob_admin"):
    user = UserFactory(is_staff=True)
    committed(access_services.membership_set, lob=lob, user=user, role=role)
    return user


@pytest.fixture
def retail():
    return LobFactory(slug="retail", name="Retail Banking")


@pytest.fixture
def wealth():
    return LobFactory(slug="wealth", name="Wealth Management")


def use_case_of(lob, slug: str) -> UseCase:
    return UseCaseFactory(
        lob=lob, slug=slug, name=slug.replace("-", " ").title(), status="draft", aliases=[AliasFactory()]
    )


def review_url(review: Review) -> str:
    return reverse("admin:governance_review_change", args=[review.pk])


QUEUE = reverse("admin:governance_review_changelist")


# ---- who sees the queue ----


def test_a_board_member_sees_the_open_reviews_of_every_lob_with_what_is_missing(client, retail, wealth):
    open_review = submitted(use_case_of(retail, "branch-faq"), UserFactory())
    other = submitted(use_case_of(wealth, "advisor-notes"), UserFactory(), customer_facing=True)
    decided = approve_low(use_case_of(retail, "old-one"), UserFactory())
    client.force_login(board_member())

    response = client.get(QUEUE)

    page = response.content.decode()
    assert response.status_code == 200
    assert [row.pk for row in response.context["cl"].result_list] == sorted(
        [open_review.pk, other.pk], key=lambda pk: Review.objects.get(pk=pk).sla_due_at
    )
    assert "Retail Banking" in page and "Wealth Management" in page
    assert "security, risk" in page  # the medium-risk review's required sign-offs, still missing
    assert review_url(decided) not in page
    assert review_url(decided) in client.get(QUEUE, {"queue": "decided"}).content.decode()


def test_a_lob_member_sees_no_queue_and_no_review(client, retail):
    review = submitted(use_case_of(retail, "branch-faq"), UserFactory())
    client.force_login(lob_member(retail))

    assert client.get(QUEUE).status_code == 403
    assert client.get(review_url(review)).status_code == 403
    assert "/admin/governance/review/" not in client.get(reverse("admin:index")).content.decode()


def test_the_review_page_shows_the_intake_tier_category_and_history(client, retail):
    use_case = use_case_of(retail, "branch-faq")
    review = submitted(use_case, UserFactory(), customer_facing=True)
    client.force_login(board_member("security"))
    client.post(review_url(review), {"verdict": "approve", "comment": "Security is fine.", "prompt_capture": "none"})

    page = client.get(review_url(review)).content.decode()

    assert "Agents spend long on routine answers." in page  # the intake snapshot
    assert "Medium" in page and "Transparency obligations (Art. 50)" in page
    assert "customer" in page.lower()  # a tier reason
    assert "Security is fine." in page and 'id="missing-sign-offs">risk<' in page


# ---- decisions through the page ----


def test_an_approval_that_reaches_quorum_creates_the_approval_with_its_conditions(client, retail):
    use_case = use_case_of(retail, "branch-faq")
    alias = use_case.aliases.get()
    review = submitted(use_case, UserFactory())
    client.force_login(board_member("business"))

    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(
            review_url(review),
            {
                "verdict": "approve",
                "comment": "Low risk, fine.",
                "allowed_aliases": [alias.pk],
                "prompt_capture": "hashed",
                "human_review_of_outputs": "on",
                "monthly_budget_cap_usd": "250",
                "guardrail_policy_version": "",
                "evidence": SimpleUploadedFile("memo.txt", b"signed memo"),
            },
        )

    assert response.status_code == 302
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("approved" in m for m in messages), messages
    review.refresh_from_db(), use_case.refresh_from_db()
    assert review.status == Review.Status.APPROVED and use_case.status == UseCase.Status.APPROVED
    approval = Approval.objects.get(use_case=use_case, status=Approval.Status.CURRENT)
    assert list(approval.allowed_aliases.all()) == [alias]
    assert (approval.prompt_capture, approval.human_review_of_outputs) == ("hashed", True)
    assert str(approval.monthly_budget_cap_usd) == "250.00"
    assert ReviewDecision.objects.get(review=review).evidence.read() == b"signed memo"


def test_an_approval_short_of_quorum_leaves_the_review_open(client, retail):
    review = submitted(use_case_of(retail, "branch-faq"), UserFactory(), customer_facing=True)  # security + risk
    client.force_login(board_member("security"))

    response = client.post(
        review_url(review), {"verdict": "approve", "comment": "ok", "prompt_capture": "none"}, follow=True
    )

    assert "Sign-offs still missing: risk" in response.content.decode()
    review.refresh_from_db()
    assert review.status == Review.Status.OPEN
    assert not Approval.objects.filter(use_case=review.use_case).exists()


def test_four_eyes_refusal_is_a_message_not_an_error_page(client, retail):
    review = submitted(use_case_of(retail, "branch-faq"), UserFactory())
    insider = board_member("business")
    committed(access_services.membership_set, lob=retail, user=insider, role="lob_viewer")
    client.force_login(insider)

    response = client.post(
        review_url(review), {"verdict": "approve", "comment": "mine", "prompt_capture": "none"}, follow=True
    )

    assert response.status_code == 200
    assert "four-eyes" in response.content.decode()
    review.refresh_from_db()
    assert review.status == Review.Status.OPEN and not review.decisions.exists()


def test_a_second_decision_on_a_decided_review_is_a_message(client, retail):
    review = submitted(use_case_of(retail, "branch-faq"), UserFactory())
    client.force_login(board_member("business"))
    client.post(review_url(review), {"verdict": "request_changes", "comment": "Add metrics.", "prompt_capture": "none"})

    response = client.post(
        review_url(review), {"verdict": "approve", "comment": "now ok", "prompt_capture": "none"}, follow=True
    )

    assert response.status_code == 200
    assert "already changes requested" in response.content.decode()
    review.use_case.refresh_from_db()
    assert review.use_case.status == UseCase.Status.CHANGES_REQUESTED


def test_a_decision_needs_a_comment(client, retail):
    review = submitted(use_case_of(retail, "branch-faq"), UserFactory())
    client.force_login(board_member("business"))

    response = client.post(review_url(review), {"verdict": "approve", "comment": "", "prompt_capture": "none"})

    assert response.status_code == 200 and "This field is required" in response.content.decode()
    assert not ReviewDecision.objects.exists()


# ---- the LOB's view ----


def test_a_lob_member_sees_their_use_cases_approval_and_conditions_and_not_another_lobs(client, retail, wealth):
    mine = use_case_of(retail, "branch-faq")
    theirs = use_case_of(wealth, "advisor-notes")
    approve_low(mine, UserFactory(), prompt_capture="redacted", human_review_of_outputs=True)
    approve_low(theirs, UserFactory(), prompt_capture="full")
    client.force_login(lob_member(retail, "lob_viewer"))

    page = client.get(reverse("admin:lob_tenants_usecase_change", args=[mine.pk])).content.decode()
    foreign = client.get(reverse("admin:lob_tenants_usecase_change", args=[theirs.pk]))

    approval = Approval.objects.get(use_case=mine)
    assert 'id="governance-status"' in page and "Approved" in page
    assert "Redacted" in page and "required" in page
    assert mine.aliases.get().name in page
    assert str(approval.expires_at.year) in page
    assert foreign.status_code == 404 and "Full" not in foreign.content.decode()


def test_a_use_case_without_an_approval_says_so(client, retail):
    use_case = use_case_of(retail, "branch-faq")
    submitted(use_case, UserFactory())
    client.force_login(lob_member(retail, "lob_developer"))

    page = client.get(reverse("admin:lob_tenants_usecase_change", args=[use_case.pk])).content.decode()

    assert 'id="governance-approval">none yet' in page and 'id="governance-use-case-status">Submitted' in page
