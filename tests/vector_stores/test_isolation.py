"""A store belongs to its LOB: another LOB's use case can neither search it nor be grounded in it
until the owning LOB's admin shares it, and loses both as soon as the share is revoked. The central
platform team runs the platform but reads no LOB's documents."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client, TestCase

from genai_platform.access import services as access
from genai_platform.access.selectors import can_read_lob_data
from governance.services.workflow import intake_save
from lob_tenants.vector_stores.models import Grounding
from lob_tenants.vector_stores.services import (
    Upload,
    documents_ingest,
    grounding_attach,
    vector_store_share,
    vector_store_unshare,
)
from tests.factories import AliasFactory, LobFactory, UseCaseFactory, UserFactory, issue_key, vector_store
from tests.governance.flows import LOW_RISK

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("vector_db")]

REFUNDS = "Customers may return an unopened product within 30 days for a full refund of the price paid."
QUESTION = "How many days do customers have to return an unopened product for a refund?"


def committed(service, **kwargs):
    """Store, grant and role changes take effect after commit (cache generations, policy reloads):
    run the commit hooks as a real commit would."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return service(**kwargs)


def member(lob, role):
    user = UserFactory()
    committed(access.membership_set, lob=lob, user=user, role=role)
    return user


@pytest.fixture
def retail():
    return LobFactory(slug="retail")


@pytest.fixture
def wealth():
    return LobFactory(slug="wealth")


@pytest.fixture
def store(retail):
    store = vector_store(retail)
    upload = Upload(external_id="refunds", filename="refunds.txt", content=REFUNDS.encode(), title="Refund policy")
    with TestCase.captureOnCommitCallbacks(execute=True):
        documents_ingest(store=store, uploads=[upload], actor=None)
    return store


@pytest.fixture
def owner_admin(retail):
    return member(retail, "lob_admin")


@pytest.fixture
def their_use_case(wealth):
    """Another LOB's approved use case that chats, and whose team would like the retail store."""
    use_case = UseCaseFactory(lob=wealth, aliases=[AliasFactory(name="chat")])
    intake_save(use_case=use_case, actor=UserFactory(), **LOW_RISK)
    return use_case


@pytest.fixture
def their_token(their_use_case):
    return issue_key(their_use_case)[1]


@pytest.fixture
def their_admin(wealth):
    return member(wealth, "lob_admin")


def search(token: str, store_id: str):
    return Client().post(
        f"/v1/vector_stores/{store_id}/search",
        json.dumps({"query": QUESTION, "max_num_results": 3}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def ask(token: str) -> dict:
    response = Client().post(
        "/v1/chat/completions",
        json.dumps({"model": "chat", "messages": [{"role": "user", "content": QUESTION}]}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200, response.content
    return response.json()


def share(store, use_case, actor) -> None:
    committed(vector_store_share, store=store, use_case=use_case, actor=actor)


def attach(use_case, store, actor) -> Grounding:
    return committed(grounding_attach, use_case=use_case, store=store, actor=actor, top_k=3)


# ---- before any share ----


def test_another_lobs_use_case_gets_the_same_404_as_for_an_unknown_store(store, their_token):
    theirs = search(their_token, store.public_id)
    unknown = search(their_token, "vs_000000000000000000000000")

    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["error"]["message"].replace(store.public_id, "ID") == unknown.json()["error"][
        "message"
    ].replace("vs_000000000000000000000000", "ID")
    assert {k: v for k, v in theirs.json()["error"].items() if k != "message"} == {
        k: v for k, v in unknown.json()["error"].items() if k != "message"
    }


def test_the_owning_lobs_use_cases_search_it_without_a_share(store):
    own_token = issue_key(UseCaseFactory(lob=store.lob))[1]

    assert search(own_token, store.public_id).json()["data"][0]["file_id"] == "refunds"


def test_another_lobs_use_case_cannot_be_grounded_in_it(store, their_use_case, their_admin):
    with pytest.raises(ValidationError, match="neither the LOB's own nor shared"):
        attach(their_use_case, store, their_admin)

    assert not Grounding.objects.filter(use_case=their_use_case).exists()


def test_a_grounding_row_without_a_share_retrieves_nothing(store, their_use_case, their_token):
    # Defence in depth: a grounding that bypassed the service (or outlived a share) is ignored.
    Grounding.objects.create(use_case=their_use_case, store=store, top_k=3)

    assert "sources" not in ask(their_token)


def test_only_the_owning_lobs_admin_may_share_it(store, their_use_case, their_admin, retail):
    for actor in (their_admin, member(retail, "lob_developer")):
        with pytest.raises(PermissionDenied):
            share(store, their_use_case, actor)

    assert search(issue_key(their_use_case)[1], store.public_id).status_code == 404


# ---- sharing and revoking ----


def test_once_shared_the_use_case_searches_the_store(store, owner_admin, their_use_case, their_token):
    share(store, their_use_case, owner_admin)

    response = search(their_token, store.public_id)

    assert response.status_code == 200, response.content
    assert response.json()["data"][0]["file_id"] == "refunds"


def test_once_shared_the_use_case_can_be_grounded_in_the_store(
    store, owner_admin, their_use_case, their_admin, their_token
):
    share(store, their_use_case, owner_admin)

    attach(their_use_case, store, their_admin)

    reply = ask(their_token)
    assert "30 days" in reply["choices"][0]["message"]["content"]
    assert {(s["vector_store_id"], s["document_id"]) for s in reply["sources"]} == {(store.public_id, "refunds")}


def test_a_share_covers_only_the_use_case_it_names(store, owner_admin, their_use_case, wealth):
    share(store, their_use_case, owner_admin)
    bystander_token = issue_key(UseCaseFactory(lob=wealth))[1]

    assert search(bystander_token, store.public_id).status_code == 404


def test_revoking_the_share_makes_the_store_unknown_again_and_drops_the_grounding(
    store, owner_admin, their_use_case, their_admin, their_token
):
    share(store, their_use_case, owner_admin)
    attach(their_use_case, store, their_admin)
    assert search(their_token, store.public_id).status_code == 200  # cached as readable in this process
    assert ask(their_token)["sources"]

    committed(vector_store_unshare, store=store, use_case=their_use_case, actor=owner_admin)

    assert search(their_token, store.public_id).status_code == 404
    assert "sources" not in ask(their_token)


# ---- the central team ----


def test_a_platform_admin_cannot_read_a_stores_contents(store):
    platform_admin = UserFactory()
    committed(access.central_role_grant, user=platform_admin, role="platform_admin")
    browser = Client()
    browser.force_login(platform_admin)

    response = browser.post(
        f"/v1/vector_stores/{store.public_id}/search",
        json.dumps({"query": QUESTION}),
        content_type="application/json",
    )

    assert not can_read_lob_data(platform_admin, store.lob)
    assert response.status_code == 401  # chunks are only served to a use case's API key, never a session
    assert response.json()["error"]["code"] == "missing_api_key"
    assert "30 days" not in response.content.decode()


def test_the_management_api_shows_no_chunk_text_to_anyone(store, owner_admin):
    platform_admin = UserFactory()
    committed(access.central_role_grant, user=platform_admin, role="platform_admin")
    base = f"/api/v1/lobs/{store.lob.slug}/vector-stores/{store.slug}/"
    platform, owner = Client(), Client()
    platform.force_login(platform_admin)
    owner.force_login(owner_admin)

    assert [platform.get(base + path).status_code for path in ("", "documents/")] == [404, 404]
    for path in ("", "documents/", "jobs/"):
        response = owner.get(base + path)
        assert response.status_code == 200, (path, response.content)
        assert "30 days" not in response.content.decode()  # metadata only, even for the owning LOB's admin
