"""Personal API tokens: the management API without a browser, hashed, scoped, expiring, revocable, audited."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from genai_platform.access.models import PersonalApiToken
from genai_platform.access.services import central_role_grant, membership_set
from genai_platform.access.tokens import personal_token_issue, personal_token_revoke
from genai_platform.audit.models import AuditEvent
from tests.factories import LobFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Runs a role change's commit hooks, so the policy knows the role as it would after a real commit."""

    def run(service, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return service(**kwargs)

    return run


def bearer(token: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def in_a_day() -> dt.datetime:
    return timezone.now() + dt.timedelta(days=1)


def test_the_token_is_stored_only_as_a_digest_and_its_issue_is_audited():
    user = UserFactory()

    issued = personal_token_issue(user=user, name="ci", scope="read", expires_at=in_a_day())

    stored = PersonalApiToken.objects.get()
    secret = issued.plaintext.partition(".")[2]
    assert issued.plaintext.startswith(f"gp-pat-{stored.prefix}.")
    assert secret not in stored.secret_hash and len(stored.secret_hash) == 64
    event = AuditEvent.objects.get(action="personal_token.issued")
    assert event.after["prefix"] == stored.prefix and secret not in str(event.after)


def test_a_token_authenticates_as_its_owner(committed):
    retail = LobFactory(slug="retail")
    user = UserFactory()
    committed(membership_set, lob=retail, user=user, role="lob_admin")
    issued = personal_token_issue(user=user, name="ci", scope="read", expires_at=in_a_day())

    response = bearer(issued.plaintext).get(reverse("tenants:use-case-list", args=["retail"]))

    assert response.status_code == 200
    assert PersonalApiToken.objects.get().last_used_at is not None


def test_a_read_token_cannot_write_even_when_its_owner_may(committed):
    retail = LobFactory(slug="retail")
    user = UserFactory()
    committed(membership_set, lob=retail, user=user, role="lob_admin")
    issued = personal_token_issue(user=user, name="ci", scope="read", expires_at=in_a_day())

    response = bearer(issued.plaintext).post(
        reverse("tenants:use-case-create", args=["retail"]), {"slug": "x", "name": "X"}, "application/json"
    )

    assert response.status_code == 403 and "scope" in response.json()["detail"]


def test_a_lob_token_reaches_only_its_lob(committed):
    retail, wealth = LobFactory(slug="retail"), LobFactory(slug="wealth")
    user = UserFactory()
    for lob in (retail, wealth):
        committed(membership_set, lob=lob, user=user, role="lob_admin")
    issued = personal_token_issue(user=user, name="ci", scope="write", lob=retail, expires_at=in_a_day())
    client = bearer(issued.plaintext)

    assert client.get(reverse("tenants:use-case-list", args=["retail"])).status_code == 200
    assert client.get(reverse("tenants:use-case-list", args=["wealth"])).status_code == 403


@pytest.mark.parametrize("spoil", ["revoked", "expired", "wrong secret", "owner deactivated"])
def test_a_revoked_expired_wrong_or_orphaned_token_is_refused_alike(committed, spoil):
    user = UserFactory()
    committed(central_role_grant, user=user, role="platform_admin")
    issued = personal_token_issue(user=user, name="ci", scope="read", expires_at=in_a_day())
    plaintext = issued.plaintext
    if spoil == "revoked":
        personal_token_revoke(token=issued.token, actor=user)
    elif spoil == "expired":
        PersonalApiToken.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    elif spoil == "wrong secret":
        plaintext = plaintext[:-4] + "AAAA"
    else:
        user.is_active = False
        user.save()

    response = bearer(plaintext).get(reverse("catalog:alias-list"))

    # 403 rather than 401: the session is the first authentication scheme (see settings).
    assert response.status_code == 403
    assert response.json()["detail"] == "Invalid, expired or revoked token."


def test_tokens_never_live_forever_and_need_a_membership_for_a_lob():
    user, lob = UserFactory(), LobFactory()

    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        personal_token_issue(
            user=user, name="ci", scope="read", lob=lob, expires_at=timezone.now() + dt.timedelta(days=400)
        )

    assert set(refused.value.message_dict) == {"expires_at", "lob"}
    assert not PersonalApiToken.objects.exists()


def test_the_api_issues_a_token_once_lists_it_without_the_secret_and_revokes_it(committed):
    user = UserFactory()
    committed(central_role_grant, user=user, role="platform_admin")
    client = Client()
    client.force_login(user)

    issued = client.post(reverse("tokens:token-issue"), {"name": "pipeline", "scope": "write"}, "application/json")
    plaintext = issued.json()["token"]
    listed = client.get(reverse("tokens:token-list")).json()
    revoked = client.post(reverse("tokens:token-revoke", args=[issued.json()["prefix"]]))

    assert issued.status_code == 201 and plaintext.startswith("gp-pat-")
    assert plaintext not in str(listed) and listed["results"][0]["name"] == "pipeline"
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert bearer(plaintext).get(reverse("catalog:alias-list")).status_code == 403
    revoke_event = AuditEvent.objects.get(action="personal_token.revoked")
    assert revoke_event.before["revoked_at"] is None and revoke_event.after["revoked_at"]


def test_nobody_revokes_another_persons_token():
    owner, other = UserFactory(), UserFactory()
    issued = personal_token_issue(user=owner, name="ci", scope="read", expires_at=in_a_day())
    client = Client()
    client.force_login(other)

    response = client.post(reverse("tokens:token-revoke", args=[issued.token.prefix]))

    assert response.status_code == 404
    assert PersonalApiToken.objects.get().revoked_at is None


def test_a_token_cannot_mint_a_token_that_outlives_it(committed):
    user = UserFactory()
    committed(central_role_grant, user=user, role="platform_admin")
    issued = personal_token_issue(user=user, name="ci", scope="write", expires_at=in_a_day())

    response = bearer(issued.plaintext).post(
        reverse("tokens:token-issue"), {"name": "longer", "scope": "write", "expires_in_days": 30}, "application/json"
    )

    assert response.status_code == 400 and "expires_at" in response.json()
    assert PersonalApiToken.objects.count() == 1


def test_the_portal_page_creates_a_token_and_shows_it_once(committed):
    user = UserFactory(is_staff=True)
    committed(central_role_grant, user=user, role="platform_admin")
    client = Client()
    client.force_login(user)

    response = client.post(
        reverse("admin:access_personalapitoken_add"),
        {"name": "laptop", "scope": "read", "expires_in_days": "7"},
        follow=True,
    )

    token = PersonalApiToken.objects.get()
    page = response.content.decode()
    assert f"gp-pat-{token.prefix}." in page
    assert (
        f"gp-pat-{token.prefix}."
        not in client.get(reverse("admin:access_personalapitoken_changelist")).content.decode()
    )


def test_the_portal_page_shows_each_person_only_their_own_tokens(committed):
    mine, theirs = UserFactory(is_staff=True), UserFactory(is_staff=True)
    committed(central_role_grant, user=mine, role="platform_admin")
    personal_token_issue(user=theirs, name="their-token", scope="read", expires_at=in_a_day())
    personal_token_issue(user=mine, name="my-token", scope="read", expires_at=in_a_day())
    client = Client()
    client.force_login(mine)

    page = client.get(reverse("admin:access_personalapitoken_changelist")).content.decode()

    assert "my-token" in page and "their-token" not in page
