"""The management API (/api/v1/): LOB self-service for use cases, keys, members, grants and
break-glass, authorized by role, scoped to the caller's LOBs, with a clean OpenAPI schema."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.management import call_command
from django.test import TestCase
from django.utils import timezone

from genai_platform.access.models import BreakGlassRequest
from genai_platform.access.selectors import can_read_lob_data
from genai_platform.access.services import break_glass_expire_due, break_glass_request, membership_set
from genai_platform.audit.models import AuditEvent
from genai_platform.inference.principal import key_principal
from lob_tenants.models import ApiKey, Membership, PromptTemplate, UseCase
from lob_tenants.selectors import use_case_can_read
from lob_tenants.services import object_share
from tests.access.test_roles_and_grants import central, committed, member
from tests.factories import AliasFactory, LobFactory, UseCaseFactory, UserFactory, issue_key

pytestmark = pytest.mark.django_db

API = "/api/v1"
REASON = "Investigating incident INC-4411: a leaked prompt was reported"


@pytest.fixture
def retail():
    return LobFactory(slug="retail", name="Retail banking")


@pytest.fixture
def wealth():
    return LobFactory(slug="wealth", name="Wealth management")


@pytest.fixture
def chat_alias():
    return AliasFactory(name="chat-small")


@pytest.fixture
def chatbot(retail, chat_alias):
    return UseCaseFactory(lob=retail, slug="chatbot", name="Branch chatbot", aliases=[chat_alias])


@pytest.fixture
def signed_in(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


def committed_hooks():
    """Runs the commit hooks (policy reload, key cache invalidation) as a real commit would."""
    return TestCase.captureOnCommitCallbacks(execute=True)


def post(client, url, body=None):
    return client.post(url, json.dumps(body or {}), content_type="application/json")


# ---- who gets in: 401/403, 404 for foreign and unknown LOBs alike, 403 for a missing role ----


def test_an_anonymous_caller_is_refused_before_any_lob_is_looked_up(client, retail):
    known = client.get(f"{API}/lobs/retail/use-cases/")
    unknown = client.get(f"{API}/lobs/no-such-lob/use-cases/")

    assert known.status_code in (401, 403)
    assert (unknown.status_code, unknown.content) == (known.status_code, known.content)


def test_a_foreign_lob_and_an_unknown_lob_look_exactly_the_same(signed_in, retail, wealth):
    client = signed_in(member(retail, "lob_admin"))

    foreign = client.get(f"{API}/lobs/wealth/use-cases/")
    unknown = client.get(f"{API}/lobs/no-such-lob/use-cases/")

    assert foreign.status_code == unknown.status_code == 404
    assert foreign.content == unknown.content


def test_a_member_whose_role_does_not_allow_the_action_gets_403(signed_in, retail):
    client = signed_in(member(retail, "lob_viewer"))

    assert client.get(f"{API}/lobs/retail/use-cases/").status_code == 200
    assert post(client, f"{API}/lobs/retail/use-cases/create/", {"slug": "x", "name": "X"}).status_code == 403


def test_central_roles_are_no_members_of_any_lob(signed_in, retail):
    client = signed_in(central("platform_admin"))

    assert client.get(f"{API}/lobs/retail/use-cases/").status_code == 404


def test_a_superuser_is_no_member_of_any_lob_either(signed_in, retail):
    client = signed_in(UserFactory(is_superuser=True, is_staff=True))

    assert client.get(f"{API}/lobs/retail/members/").status_code == 404


# ---- LOBs ----


def test_a_member_lists_their_own_lobs_with_their_role(signed_in, retail, wealth):
    user = member(retail, "lob_developer")

    body = signed_in(user).get(f"{API}/lobs/").json()

    assert body["count"] == 1
    assert body["results"] == [{"slug": "retail", "name": "Retail banking", "role": "lob_developer"}]


def test_the_platform_admin_lists_every_lob_by_name_only(signed_in, retail, wealth):
    body = signed_in(central("platform_admin")).get(f"{API}/lobs/").json()

    assert body["count"] == 2
    assert body["results"] == [
        {"slug": "retail", "name": "Retail banking", "role": None},
        {"slug": "wealth", "name": "Wealth management", "role": None},
    ]


def test_a_user_without_a_role_lists_no_lob(signed_in, retail):
    assert signed_in(UserFactory()).get(f"{API}/lobs/").json() == {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }


# ---- use cases ----


def test_a_developer_creates_a_draft_use_case_with_an_audit_event(signed_in, retail, chat_alias):
    client = signed_in(member(retail, "lob_developer"))

    response = post(
        client,
        f"{API}/lobs/retail/use-cases/create/",
        {"slug": "claims", "name": "Claims triage", "description": "Sorts claims.", "aliases": ["chat-small"]},
    )

    assert response.status_code == 201, response.content
    assert response.json()["status"] == "draft"
    assert response.json()["aliases"] == ["chat-small"]
    use_case = UseCase.objects.get(lob=retail, slug="claims")
    assert AuditEvent.objects.filter(action="use_case.created", object_id=str(use_case.pk), lob_slug="retail").exists()


@pytest.mark.parametrize(
    ("slug", "message"), [("chatbot", "already has a use case"), ("create", "reserved")], ids=["taken", "reserved"]
)
def test_a_use_case_slug_must_be_free_and_not_an_action_name(signed_in, chatbot, slug, message):
    client = signed_in(member(chatbot.lob, "lob_admin"))

    response = post(client, f"{API}/lobs/retail/use-cases/create/", {"slug": slug, "name": "Again"})

    assert response.status_code == 400
    assert message in response.json()["slug"][0]


def test_the_use_case_list_holds_only_the_lobs_own_use_cases(signed_in, chatbot, wealth):
    UseCaseFactory(lob=wealth, slug="advisor")
    client = signed_in(member(chatbot.lob, "lob_viewer"))

    body = client.get(f"{API}/lobs/retail/use-cases/").json()

    assert body["count"] == 1
    assert [row["slug"] for row in body["results"]] == ["chatbot"]


def test_another_lobs_use_case_is_not_found_under_your_own_lob(signed_in, chatbot, wealth):
    UseCaseFactory(lob=wealth, slug="advisor")
    client = signed_in(member(chatbot.lob, "lob_admin"))

    assert client.get(f"{API}/lobs/retail/use-cases/advisor/").status_code == 404
    assert client.get(f"{API}/lobs/retail/use-cases/chatbot/").json()["name"] == "Branch chatbot"


def test_an_update_changes_only_what_it_names(signed_in, chatbot):
    client = signed_in(member(chatbot.lob, "lob_developer"))

    response = post(client, f"{API}/lobs/retail/use-cases/chatbot/update/", {"description": "Answers questions."})

    assert response.status_code == 200
    assert {k: response.json()[k] for k in ("name", "description", "aliases")} == {
        "name": "Branch chatbot",
        "description": "Answers questions.",
        "aliases": ["chat-small"],
    }


def test_a_list_is_paginated_and_counts_only_the_callers_rows(signed_in, retail, wealth):
    for n in range(3):
        UseCaseFactory(lob=retail, slug=f"mine-{n}", name=f"Mine {n}")
        UseCaseFactory(lob=wealth, slug=f"theirs-{n}", name=f"Theirs {n}")
    client = signed_in(member(retail, "lob_viewer"))

    body = client.get(f"{API}/lobs/retail/use-cases/", {"limit": 2}).json()

    assert body["count"] == 3
    assert [row["slug"] for row in body["results"]] == ["mine-0", "mine-1"]
    assert "offset=2" in body["next"]


# ---- API keys ----

KEYS = f"{API}/lobs/retail/use-cases/chatbot/keys"


def test_an_issued_key_is_shown_once_and_works(signed_in, chatbot):
    client = signed_in(member(chatbot.lob, "lob_developer"))

    issued = post(client, f"{KEYS}/issue/", {"name": "ci", "environment": "production"})

    assert issued.status_code == 201
    body = issued.json()
    assert body["key"].startswith(f"sk-gp-{body['prefix']}.")
    assert key_principal(body["key"]).use_case_slug == "chatbot"
    listing = client.get(f"{KEYS}/")
    assert body["key"].split(".")[1] not in listing.content.decode()
    assert [row["prefix"] for row in listing.json()["results"]] == [body["prefix"]]
    assert "key" not in listing.json()["results"][0]


def test_no_response_carries_a_secret_hash(signed_in, chatbot):
    client = signed_in(member(chatbot.lob, "lob_admin"))
    issued = post(client, f"{KEYS}/issue/", {"name": "ci"}).json()
    digest = ApiKey.objects.get(prefix=issued["prefix"]).secret_hash
    responses = [
        json.dumps(issued),
        client.get(f"{KEYS}/").content.decode(),
        post(client, f"{KEYS}/{issued['prefix']}/rotate/", {"overlap_minutes": 1}).content.decode(),
        post(client, f"{KEYS}/{issued['prefix']}/revoke/").content.decode(),
    ]

    for text in responses:
        assert digest not in text
        assert "secret" not in text and "hash" not in text


def test_a_key_can_be_issued_with_an_expiry_and_scopes(signed_in, chatbot, chat_alias):
    client = signed_in(member(chatbot.lob, "lob_developer"))
    expiry = (timezone.now() + dt.timedelta(days=30)).replace(microsecond=0)

    body = post(
        client, f"{KEYS}/issue/", {"name": "ci", "expires_at": expiry.isoformat(), "scopes": ["chat-small"]}
    ).json()

    api_key = ApiKey.objects.get(prefix=body["prefix"])
    assert api_key.expires_at == expiry
    assert list(api_key.scopes.values_list("name", flat=True)) == ["chat-small"] == body["scopes"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "ci", "expires_at": "2000-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "ci", "scopes": ["not-this-use-cases"]}, "scopes"),
        ({"name": "ci", "environment": "staging"}, "environment"),
    ],
    ids=["past-expiry", "foreign-scope", "unknown-environment"],
)
def test_an_invalid_issue_is_a_400_and_issues_nothing(signed_in, chatbot, body, field):
    AliasFactory(name="not-this-use-cases")
    client = signed_in(member(chatbot.lob, "lob_developer"))

    response = post(client, f"{KEYS}/issue/", body)

    assert response.status_code == 400
    assert field in response.json()
    assert not ApiKey.objects.exists()


def test_a_revoked_key_stops_working(signed_in, chatbot):
    api_key, plaintext = issue_key(chatbot)
    assert key_principal(plaintext) is not None
    client = signed_in(member(chatbot.lob, "lob_developer"))

    with committed_hooks():
        response = post(client, f"{KEYS}/{api_key.prefix}/revoke/")

    assert response.status_code == 200
    assert response.json()["active"] is False
    assert key_principal(plaintext) is None


def test_rotation_issues_a_successor_and_keeps_the_old_key_for_the_overlap(signed_in, chatbot, chat_alias):
    old, old_plaintext = issue_key(chatbot)
    old.scopes.set([chat_alias])
    client = signed_in(member(chatbot.lob, "lob_admin"))

    with committed_hooks():
        response = post(client, f"{KEYS}/{old.prefix}/rotate/", {"overlap_minutes": 30})

    assert response.status_code == 201
    body = response.json()
    assert body["rotated_from"] == old.prefix == body["previous"]["prefix"]
    assert body["scopes"] == ["chat-small"]
    old_expiry = dt.datetime.fromisoformat(body["previous"]["expires_at"])
    assert abs(old_expiry - (timezone.now() + dt.timedelta(minutes=30))) < dt.timedelta(seconds=30)
    assert key_principal(body["key"]) is not None
    assert key_principal(old_plaintext) is not None  # still inside the overlap


def test_a_revoked_key_cannot_be_rotated(signed_in, chatbot):
    api_key, _ = issue_key(chatbot)
    ApiKey.objects.filter(pk=api_key.pk).update(revoked_at=timezone.now())
    client = signed_in(member(chatbot.lob, "lob_admin"))

    response = post(client, f"{KEYS}/{api_key.prefix}/rotate/")

    assert response.status_code == 400
    assert "active" in response.json()["detail"][0]


def test_rotating_the_same_key_twice_is_a_400_naming_its_successor(signed_in, chatbot):
    # Issue 16: the second rotation hit the one-to-one constraint on rotated_from (a 500).
    api_key, _ = issue_key(chatbot)
    client = signed_in(member(chatbot.lob, "lob_admin"))
    with committed_hooks():
        successor = post(client, f"{KEYS}/{api_key.prefix}/rotate/").json()["prefix"]

    response = post(client, f"{KEYS}/{api_key.prefix}/rotate/")

    assert response.status_code == 400
    assert f"already rotated; rotate its successor {successor}" in response.json()["detail"][0]
    assert ApiKey.objects.filter(rotated_from=api_key).count() == 1


def test_scopes_can_be_narrowed_and_lifted(signed_in, chatbot, chat_alias):
    api_key, _ = issue_key(chatbot)
    client = signed_in(member(chatbot.lob, "lob_developer"))

    assert post(client, f"{KEYS}/{api_key.prefix}/scopes/", {"aliases": ["chat-small"]}).json()["scopes"] == [
        "chat-small"
    ]
    assert post(client, f"{KEYS}/{api_key.prefix}/scopes/", {"aliases": []}).json()["scopes"] == []


def test_an_expiry_can_be_set_and_cleared_on_an_active_key(signed_in, chatbot):
    api_key, _ = issue_key(chatbot)
    client = signed_in(member(chatbot.lob, "lob_developer"))
    soon = timezone.now() + dt.timedelta(hours=1)

    set_ = post(client, f"{KEYS}/{api_key.prefix}/expiry/", {"expires_at": soon.isoformat()})
    cleared = post(client, f"{KEYS}/{api_key.prefix}/expiry/", {"expires_at": None})

    assert set_.status_code == cleared.status_code == 200
    assert set_.json()["expires_at"] is not None and cleared.json()["expires_at"] is None
    assert (
        list(AuditEvent.objects.filter(action="api_key.expiry_set").values_list("object_id", flat=True))
        == [str(api_key.pk)] * 2
    )


def test_the_expiry_of_a_revoked_key_cannot_bring_it_back(signed_in, chatbot):
    api_key, _ = issue_key(chatbot)
    client = signed_in(member(chatbot.lob, "lob_developer"))
    post(client, f"{KEYS}/{api_key.prefix}/revoke/")

    response = post(client, f"{KEYS}/{api_key.prefix}/expiry/", {"expires_at": None})

    assert response.status_code == 400


def test_a_key_of_another_use_case_is_not_found_under_this_one(signed_in, chatbot, wealth):
    foreign, _ = issue_key(UseCaseFactory(lob=wealth))
    sibling, _ = issue_key(UseCaseFactory(lob=chatbot.lob, slug="sibling"))
    client = signed_in(member(chatbot.lob, "lob_admin"))

    assert post(client, f"{KEYS}/{foreign.prefix}/revoke/").status_code == 404
    assert post(client, f"{KEYS}/{sibling.prefix}/revoke/").status_code == 404
    assert ApiKey.objects.filter(revoked_at__isnull=False).count() == 0


def test_a_viewer_lists_keys_but_cannot_issue_one(signed_in, chatbot):
    client = signed_in(member(chatbot.lob, "lob_viewer"))

    assert client.get(f"{KEYS}/").status_code == 200
    assert post(client, f"{KEYS}/issue/", {"name": "ci"}).status_code == 403


# ---- members ----

MEMBERS = f"{API}/lobs/retail/members"


def test_a_lob_admin_adds_a_member_who_can_then_act(signed_in, retail):
    admin = member(retail, "lob_admin")
    newcomer = UserFactory(username="newcomer")

    with committed_hooks():
        response = post(signed_in(admin), f"{MEMBERS}/set/", {"username": "newcomer", "role": "lob_developer"})

    assert response.status_code == 200
    assert response.json()["role"] == "lob_developer"
    assert signed_in(newcomer).get(f"{API}/lobs/retail/use-cases/").status_code == 200


def test_a_developer_reads_the_members_but_cannot_change_them(signed_in, retail):
    member(retail, "lob_admin")
    UserFactory(username="newcomer")
    client = signed_in(member(retail, "lob_developer"))

    assert client.get(f"{MEMBERS}/").json()["count"] == 2
    assert post(client, f"{MEMBERS}/set/", {"username": "newcomer", "role": "lob_admin"}).status_code == 403


def test_a_removed_member_loses_access(signed_in, retail):
    admin = member(retail, "lob_admin")
    leaver = member(retail, "lob_viewer")

    with committed_hooks():
        response = post(signed_in(admin), f"{MEMBERS}/{leaver.username}/remove/")

    assert response.status_code == 204
    assert signed_in(leaver).get(f"{API}/lobs/retail/use-cases/").status_code == 404


def test_a_lob_keeps_its_last_admin(signed_in, retail):
    admin = member(retail, "lob_admin")
    client = signed_in(admin)

    demoted = post(client, f"{MEMBERS}/set/", {"username": admin.username, "role": "lob_viewer"})
    removed = post(client, f"{MEMBERS}/{admin.username}/remove/")

    assert demoted.status_code == removed.status_code == 400
    assert Membership.objects.get(user=admin).role == "lob_admin"


def test_an_unknown_user_cannot_be_made_a_member(signed_in, retail):
    response = post(
        signed_in(member(retail, "lob_admin")), f"{MEMBERS}/set/", {"username": "ghost", "role": "lob_viewer"}
    )

    assert response.status_code == 400
    assert "username" in response.json()


def test_a_member_of_another_lob_is_not_found_here(signed_in, retail, wealth):
    outsider = member(wealth, "lob_viewer")
    client = signed_in(member(retail, "lob_admin"))

    assert post(client, f"{MEMBERS}/{outsider.username}/remove/").status_code == 404
    assert Membership.objects.filter(user=outsider).exists()


# ---- grants ----

GRANTS = f"{API}/lobs/retail/grants"


@pytest.fixture
def greeting(retail):
    return PromptTemplate.objects.create(lob=retail, name="greeting", template="Hello {name}")


@pytest.fixture
def advisor(wealth):
    return UseCaseFactory(lob=wealth, slug="advisor")


def test_a_lob_admin_shares_a_template_with_another_lobs_use_case_and_takes_it_back(
    signed_in, greeting, advisor, retail
):
    client = signed_in(member(retail, "lob_admin"))
    grant = {"template": "greeting", "version": 1, "use_case": "wealth/advisor"}

    shared = post(client, f"{GRANTS}/share/", grant)

    assert shared.status_code == 201
    assert shared.json() == {
        "template": "greeting",
        "version": 1,
        "use_case": "wealth/advisor",
        "permission": "view_prompttemplate",
    }
    advisor.refresh_from_db()  # the API gave it its grant group
    assert use_case_can_read(advisor, greeting, retail.pk)
    assert client.get(f"{GRANTS}/").json()["results"] == [shared.json()]

    assert post(client, f"{GRANTS}/unshare/", grant).status_code == 204
    assert not use_case_can_read(advisor, greeting, retail.pk)
    assert client.get(f"{GRANTS}/").json()["count"] == 0


def test_a_developer_sees_the_grants_but_cannot_share(signed_in, greeting, advisor, retail):
    client = signed_in(member(retail, "lob_developer"))

    assert client.get(f"{GRANTS}/").status_code == 200
    response = post(client, f"{GRANTS}/share/", {"template": "greeting", "version": 1, "use_case": "wealth/advisor"})
    assert response.status_code == 403


def test_the_grant_list_never_shows_another_owners_grants(signed_in, greeting, advisor, retail, wealth):
    theirs = PromptTemplate.objects.create(lob=wealth, name="their-prompt", template="Hi")
    their_admin = member(wealth, "lob_admin")
    object_share(obj=theirs, owner_lob=wealth, use_case=UseCaseFactory(slug="partner-app"), actor=their_admin)

    body = signed_in(member(retail, "lob_admin")).get(f"{GRANTS}/").json()

    assert body == {"count": 0, "next": None, "previous": None, "results": []}


@pytest.mark.parametrize(
    ("grant", "field"),
    [
        ({"template": "their-prompt", "version": 1, "use_case": "wealth/advisor"}, "template"),
        ({"template": "greeting", "version": 2, "use_case": "wealth/advisor"}, "template"),
        ({"template": "greeting", "version": 1, "use_case": "wealth/nobody"}, "use_case"),
        ({"template": "greeting", "version": 1, "use_case": "retail/chatbot"}, "use_case"),
    ],
    ids=["another-lobs-template", "unknown-version", "unknown-use-case", "own-lobs-use-case"],
)
def test_only_the_lobs_own_templates_are_shared_and_only_with_other_lobs(
    signed_in, greeting, advisor, chatbot, wealth, grant, field
):
    PromptTemplate.objects.create(lob=wealth, name="their-prompt", template="Hi")
    client = signed_in(member(chatbot.lob, "lob_admin"))

    response = post(client, f"{GRANTS}/share/", grant)

    assert response.status_code == 400
    assert field in response.json()


def test_unsharing_what_was_never_shared_is_a_400(signed_in, greeting, advisor, retail):
    client = signed_in(member(retail, "lob_admin"))

    response = post(client, f"{GRANTS}/unshare/", {"template": "greeting", "version": 1, "use_case": "wealth/advisor"})

    assert response.status_code == 400


# ---- break-glass ----


def test_break_glass_through_the_api_request_approve_read_revoke(signed_in, retail):
    engineer, lob_admin = central("platform_admin"), member(retail, "lob_admin")
    engineer_client = signed_in(engineer)

    ask = {"lob": "retail", "reason": REASON, "duration_minutes": 30}
    asked = post(engineer_client, f"{API}/break-glass/request/", ask)
    assert asked.status_code == 201
    request_id = asked.json()["id"]
    assert asked.json()["status"] == "pending"

    admin_client = signed_in(lob_admin)
    queue = admin_client.get(f"{API}/lobs/retail/break-glass/", {"status": "pending"}).json()
    assert [row["id"] for row in queue["results"]] == [request_id]
    approved = post(admin_client, f"{API}/lobs/retail/break-glass/{request_id}/approve/")
    assert approved.status_code == 200
    assert approved.json()["status"] == "approved" and approved.json()["decided_by"] == lob_admin.username
    assert can_read_lob_data(type(engineer).objects.get(pk=engineer.pk), retail)

    engineer_client = signed_in(engineer)
    assert [row["status"] for row in engineer_client.get(f"{API}/break-glass/").json()["results"]] == ["approved"]
    revoked = post(engineer_client, f"{API}/break-glass/{request_id}/revoke/")
    assert revoked.json()["status"] == "revoked"
    assert not can_read_lob_data(type(engineer).objects.get(pk=engineer.pk), retail)


def test_a_lob_admin_denies_and_revokes(signed_in, retail):
    engineer, client = central("platform_admin"), signed_in(member(retail, "lob_admin"))
    denied = break_glass_request(requester=engineer, lob=retail, reason=REASON, duration_minutes=5)
    approved = break_glass_request(requester=engineer, lob=retail, reason=REASON, duration_minutes=5)

    assert post(client, f"{API}/lobs/retail/break-glass/{denied.pk}/deny/").json()["status"] == "denied"
    post(client, f"{API}/lobs/retail/break-glass/{approved.pk}/approve/")
    assert post(client, f"{API}/lobs/retail/break-glass/{approved.pk}/revoke/").json()["status"] == "revoked"
    assert post(client, f"{API}/lobs/retail/break-glass/{denied.pk}/approve/").status_code == 400


def test_nobody_approves_their_own_break_glass_request(signed_in, retail):
    both = central("platform_admin")
    committed(membership_set, lob=retail, user=both, role="lob_admin")
    request = break_glass_request(requester=both, lob=retail, reason=REASON, duration_minutes=5)

    response = post(signed_in(both), f"{API}/lobs/retail/break-glass/{request.pk}/approve/")

    assert response.status_code == 403
    request.refresh_from_db()
    assert request.status == BreakGlassRequest.Status.PENDING


def test_a_lob_admin_cannot_decide_on_another_lobs_request_through_their_own_lob(signed_in, retail, wealth):
    request = break_glass_request(requester=central("platform_admin"), lob=wealth, reason=REASON, duration_minutes=5)
    client = signed_in(member(retail, "lob_admin"))

    assert post(client, f"{API}/lobs/retail/break-glass/{request.pk}/approve/").status_code == 404
    assert post(client, f"{API}/lobs/wealth/break-glass/{request.pk}/approve/").status_code == 404
    assert client.get(f"{API}/lobs/retail/break-glass/").json()["count"] == 0


def test_a_central_user_lists_and_revokes_only_their_own_requests(signed_in, retail):
    mine, theirs = central("platform_admin"), central("platform_admin")
    other = break_glass_request(requester=theirs, lob=retail, reason=REASON, duration_minutes=5)
    client = signed_in(mine)

    assert client.get(f"{API}/break-glass/").json()["count"] == 0
    assert post(client, f"{API}/break-glass/{other.pk}/revoke/").status_code == 404


def test_a_governance_reviewer_cannot_ask_for_break_glass(signed_in, retail):
    client = signed_in(central("governance_reviewer", "legal"))

    response = post(client, f"{API}/break-glass/request/", {"lob": "retail", "reason": REASON, "duration_minutes": 5})

    assert response.status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lob": "retail", "reason": "because", "duration_minutes": 5}, "reason"),
        ({"lob": "retail", "reason": REASON, "duration_minutes": 100_000}, "duration_minutes"),
        ({"lob": "nowhere", "reason": REASON, "duration_minutes": 5}, "lob"),
    ],
    ids=["short-reason", "too-long", "unknown-lob"],
)
def test_a_break_glass_request_needs_a_reason_a_bounded_duration_and_a_lob(signed_in, retail, body, field):
    response = post(signed_in(central("platform_admin")), f"{API}/break-glass/request/", body)

    assert response.status_code == 400
    assert field in response.json()


def test_approved_access_ends_by_itself_when_its_time_is_up(signed_in, retail):
    engineer = central("platform_admin")
    request = break_glass_request(requester=engineer, lob=retail, reason=REASON, duration_minutes=5)
    post(signed_in(member(retail, "lob_admin")), f"{API}/lobs/retail/break-glass/{request.pk}/approve/")

    assert break_glass_expire_due(now=timezone.now() + dt.timedelta(minutes=6)) == 1

    assert signed_in(engineer).get(f"{API}/break-glass/").json()["results"][0]["status"] == "expired"


# ---- the OpenAPI schema and Swagger UI ----


def test_the_openapi_schema_generates_without_errors_or_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))

    schema = (tmp_path / "schema.yaml").read_text()
    assert "/api/v1/lobs/{lob}/use-cases/{use_case}/keys/issue/:" in schema
    assert "secret_hash" not in schema


def test_swagger_ui_is_served_from_local_static_files_without_a_cdn(client, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }

    page = client.get(f"{API}/docs/").content.decode()

    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert f"{API}/schema/" in page
    for cdn in ("cdn.jsdelivr.net", "unpkg.com", "cdnjs", "googleapis"):
        assert cdn not in page
