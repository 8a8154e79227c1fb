"""A key's scopes in the portal: the key's page links to a form that limits it to some of its use
case's models through `api_key_scope`, the service the management API calls."""

from __future__ import annotations

import pytest
from django.test import TestCase
from django.urls import reverse

from genai_platform.access import services as access_services
from genai_platform.audit.models import AuditEvent
from tests.factories import AliasFactory, UseCaseFactory, UserFactory, issue_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_key():
    use_case = UseCaseFactory(aliases=[AliasFactory(name="chat-small"), AliasFactory(name="chat-large")])
    return issue_key(use_case)[0]


def member(client, api_key, role: str):
    user = UserFactory(is_staff=True)
    with TestCase.captureOnCommitCallbacks(execute=True):
        access_services.membership_set(lob=api_key.use_case.lob, user=user, role=role)
    client.force_login(user)
    return user


def scopes_url(api_key) -> str:
    return reverse("admin:lob_tenants_apikey_scopes", args=[api_key.pk])


def test_the_keys_page_says_it_may_call_every_model_and_links_to_its_scopes(client, api_key):
    member(client, api_key, "lob_admin")

    page = client.get(reverse("admin:lob_tenants_apikey_change", args=[api_key.pk])).content.decode()

    assert "every model of its use case" in page and scopes_url(api_key) in page


def test_an_admin_limits_a_key_to_one_model_through_the_service(client, api_key):
    user = member(client, api_key, "lob_admin")
    small = api_key.use_case.aliases.get(name="chat-small")

    response = client.post(scopes_url(api_key), {"portal_form": "scopes", "aliases": [small.pk]})

    assert response.status_code == 302
    assert list(api_key.scopes.values_list("name", flat=True)) == ["chat-small"]
    event = AuditEvent.objects.get(action="api_key.scoped", object_id=str(api_key.pk))
    assert event.actor == user.username and event.after == {"scopes": ["chat-small"]}


def test_a_model_outside_the_use_case_is_refused_on_its_field_and_nothing_is_written(client, api_key):
    member(client, api_key, "lob_admin")
    foreign = AliasFactory(name="not-of-this-use-case")

    response = client.post(scopes_url(api_key), {"portal_form": "scopes", "aliases": [foreign.pk]})

    assert response.status_code == 200
    assert "Select a valid choice" in " ".join(response.context["sections"][0].form.errors["aliases"])
    assert not api_key.scopes.exists()
    assert not AuditEvent.objects.filter(action="api_key.scoped").exists()


def test_a_viewer_reads_the_scopes_but_cannot_change_them(client, api_key):
    member(client, api_key, "lob_viewer")
    small = api_key.use_case.aliases.get(name="chat-small")

    assert client.get(scopes_url(api_key)).status_code == 200
    assert client.post(scopes_url(api_key), {"portal_form": "scopes", "aliases": [small.pk]}).status_code == 403
    assert not api_key.scopes.exists()


def test_another_lobs_key_is_a_404(client, api_key):
    member(client, api_key, "lob_admin")
    theirs = issue_key(UseCaseFactory())[0]

    assert client.get(scopes_url(theirs)).status_code == 404
