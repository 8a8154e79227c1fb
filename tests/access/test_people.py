"""People are the LOB's: a central user cannot take over a LOB member's account, every change to
people and roles is audited with before and after, and the LOB is told of every central action on
its people (a portal page, its admins' e-mail, a signed webhook)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import TestCase
from django.urls import reverse

from genai_platform.access import people
from genai_platform.access import services as access_services
from genai_platform.access.models import PeopleNotice
from genai_platform.access.notices import lob_notice_settings_set
from genai_platform.audit.models import AuditEvent
from lob_tenants.models import Membership
from tests.factories import LobFactory, UserFactory
from tests.fakes.server import FakeResponse, FakeServer

pytestmark = pytest.mark.django_db


def committed(service, **kwargs):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return service(**kwargs)


@pytest.fixture
def lob():
    return LobFactory(slug="retail")


@pytest.fixture
def lob_admin(lob):
    admin = UserFactory(username="retail-admin", email="admin@retail.example", is_staff=True)
    committed(access_services.membership_set, lob=lob, user=admin, role="lob_admin")
    return admin


@pytest.fixture
def developer(lob, lob_admin):
    dev = UserFactory(username="retail-dev", email="dev@retail.example", is_staff=True)
    dev.set_password("the developer's own")
    dev.save()
    committed(access_services.membership_set, lob=lob, user=dev, role="lob_developer", actor=lob_admin)
    return dev


@pytest.fixture
def root():
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def webhook(lob, lob_admin):
    with FakeServer(lambda request: FakeResponse(status=204)) as server:
        committed(lob_notice_settings_set, lob=lob, webhook_url=server.url + "/hooks/people", actor=lob_admin)
        yield server


def signed(request, settings) -> bool:
    expected = "sha256=" + hmac.new(settings.WEBHOOK_SIGNING_SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(request.headers["x-genai-signature"], expected)


def test_the_takeover_reproduction_is_refused_audited_and_told_to_the_lob(
    client, root, developer, lob, webhook, settings
):
    client.force_login(root)
    url = reverse("admin:auth_user_password_change", args=[developer.pk])
    mail.outbox.clear()

    with TestCase.captureOnCommitCallbacks(execute=True):
        page = client.get(url)
    with TestCase.captureOnCommitCallbacks(execute=True):
        post = client.post(url, {"password1": "Taken-0ver!x", "password2": "Taken-0ver!x", "usable_password": "true"})

    assert page.status_code == 403
    assert post.status_code == 403
    developer.refresh_from_db()
    assert developer.check_password("the developer's own")
    attempts = AuditEvent.objects.filter(action="user.change_refused", object_id=str(developer.pk))
    assert attempts.count() == 2
    assert attempts.first().actor == "root"
    assert attempts.first().after["fields"] == ["password"]
    notices = PeopleNotice.objects.filter(lob=lob, subject="retail-dev", refused=True)
    assert notices.count() == 2
    assert [m.to for m in mail.outbox] == [["admin@retail.example"], ["admin@retail.example"]]
    assert "root tried to user.change_refused on retail-dev" in mail.outbox[0].subject
    posted = [json.loads(r.body) for r in webhook.requests]
    assert [p["subject"] for p in posted] == ["retail-dev", "retail-dev"]
    assert all(signed(r, settings) for r in webhook.requests)


def test_the_change_form_keeps_a_lob_members_credentials_and_powers_from_others(client, root, developer):
    client.force_login(root)
    url = reverse("admin:auth_user_change", args=[developer.pk])
    response = client.post(
        url,
        {
            "username": "taken",
            "email": "root@central.example",
            "is_staff": "on",
            "is_superuser": "on",
            "is_active": "on",
            "first_name": "Dev",
            "last_name": "Eloper",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )

    assert response.status_code == 302
    developer.refresh_from_db()
    assert (developer.username, developer.email, developer.is_superuser) == ("retail-dev", "dev@retail.example", False)
    assert developer.first_name == "Dev"  # a name is not a credential


def test_a_central_user_may_deactivate_a_lob_member_audited_and_told(root, developer, lob, webhook):
    mail.outbox.clear()

    committed(people.user_deactivate, user=developer, actor=root, reason="credentials leaked in a ticket")

    developer.refresh_from_db()
    assert not developer.is_active
    event = AuditEvent.objects.get(action="user.deactivated", object_id=str(developer.pk))
    assert (event.before["is_active"], event.after["is_active"]) == (True, False)
    assert event.after["reason"] == "credentials leaked in a ticket"
    notice = PeopleNotice.objects.get(lob=lob, action="user.deactivated")
    assert notice.details["is_active"] == {"before": True, "after": False}
    assert notice.emailed_at is not None and notice.webhook_posted_at is not None
    assert len(mail.outbox) == 1
    assert json.loads(webhook.requests[0].body)["action"] == "user.deactivated"


@pytest.mark.parametrize(
    "change",
    [
        {"password": "Another-0ne!"},
        {"email": "elsewhere@example.com"},
        {"is_staff": False},
        {"is_superuser": True},
        {"username": "renamed"},
        {"groups": "a group"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_nobody_but_the_person_changes_a_lob_members_credentials_or_powers(root, lob_admin, developer, change):
    if "groups" in change:
        change = {"groups": [Group.objects.create(name=change["groups"])]}
    for actor in (root, lob_admin):
        with pytest.raises(PermissionDenied):
            people.user_update(user=developer, actor=actor, **change)
    assert AuditEvent.objects.filter(action="user.change_refused", object_id=str(developer.pk)).count() == 2


def test_the_person_changes_their_own_password_and_the_audit_log_never_holds_it(developer):
    people.user_update(user=developer, actor=developer, password="My-0wn-new-one")

    developer.refresh_from_db()
    assert developer.check_password("My-0wn-new-one")
    event = AuditEvent.objects.get(action="user.password_set", object_id=str(developer.pk))
    stored = json.dumps([event.before, event.after])
    assert "My-0wn-new-one" not in stored and developer.password not in stored
    assert event.after["password_set"] is True


def test_an_account_outside_every_lob_is_the_central_teams_to_manage(root):
    newcomer = UserFactory(username="newcomer")

    people.user_update(user=newcomer, actor=root, password="Welcome-0n-board", email="new@example.com")

    newcomer.refresh_from_db()
    assert newcomer.check_password("Welcome-0n-board")
    event = AuditEvent.objects.get(action="user.password_set", object_id=str(newcomer.pk))
    assert (event.before["email"], event.after["email"]) == ("", "new@example.com")
    assert not PeopleNotice.objects.exists()


def test_a_central_user_cannot_delete_a_lob_members_account(root, developer):
    with pytest.raises(PermissionDenied):
        people.user_delete(user=developer, actor=root)
    assert AuditEvent.objects.filter(action="user.change_refused", after__fields=["deleted"]).exists()


def test_nobody_adds_themselves_to_a_lob_except_through_its_admins(root, lob, lob_admin):
    with pytest.raises(PermissionDenied):
        access_services.membership_set(lob=lob, user=root, role="lob_admin", actor=root)

    assert not Membership.objects.filter(lob=lob, user=root).exists()
    refused = AuditEvent.objects.get(action="membership.change_refused")
    assert (refused.lob_slug, refused.actor, refused.after["user"]) == ("retail", "root", "root")
    assert PeopleNotice.objects.filter(lob=lob, refused=True, action="membership.change_refused").exists()


def test_a_lob_admins_own_membership_changes_are_audited_with_before_and_after_and_not_self_notified(
    lob, lob_admin, developer
):
    access_services.membership_set(lob=lob, user=developer, role="lob_viewer", actor=lob_admin)

    event = AuditEvent.objects.filter(action="membership.set").latest("id")
    assert (event.before["role"], event.after["role"]) == ("lob_developer", "lob_viewer")
    assert not PeopleNotice.objects.filter(action="membership.set", actor="retail-admin").exists()


def test_the_api_offers_a_central_user_no_way_to_add_themselves(client, root, lob, lob_admin):
    client.force_login(root)
    body = {"username": "root", "role": "lob_admin"}
    response = client.post(f"/api/v1/lobs/{lob.slug}/members/set/", body, content_type="application/json")
    assert response.status_code == 404
    assert not Membership.objects.filter(lob=lob, user=root).exists()


def test_nobody_makes_themselves_a_lobs_first_admin(root):
    lob = LobFactory(slug="new-lob")
    with pytest.raises(PermissionDenied):
        people.lob_first_admin_set(lob=lob, user=root, actor=root)

    first = UserFactory(username="first-admin", email="first@new.example")
    committed(people.lob_first_admin_set, lob=lob, user=first, actor=root)

    event = AuditEvent.objects.get(action="membership.first_admin")
    assert (event.lob_slug, event.actor) == ("new-lob", "root")
    assert event.after == {"user": "first-admin", "role": "lob_admin"}
    assert PeopleNotice.objects.filter(lob=lob, subject="first-admin").exists()
    with pytest.raises(ValidationError):
        people.lob_first_admin_set(lob=lob, user=UserFactory(), actor=root)


def test_groups_are_audited_with_before_and_after(root):
    group = people.group_save(group=Group(), actor=root, name="auditors")
    people.group_save(group=group, actor=root, name="senior-auditors")
    people.group_delete(group=group, actor=root)

    events = list(AuditEvent.objects.filter(action__startswith="group.").order_by("id"))
    assert [e.action for e in events] == ["group.created", "group.updated", "group.deleted"]
    assert (events[1].before["name"], events[1].after["name"]) == ("auditors", "senior-auditors")


def test_central_role_grants_record_what_they_replaced(root):
    reviewer = UserFactory()
    access_services.central_role_grant(user=reviewer, role="governance_reviewer", specialty="legal", actor=root)
    access_services.central_role_grant(user=reviewer, role="governance_reviewer", specialty="risk", actor=root)

    event = AuditEvent.objects.filter(action="central_role.granted").latest("id")
    assert (event.before["specialty"], event.after["specialty"]) == ("legal", "risk")
