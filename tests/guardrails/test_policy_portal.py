"""Guardrail policy versions in the portal: the central team compares any two versions of a policy."""

from __future__ import annotations

import pytest
from django.test import TestCase

from genai_platform.access.services import central_role_grant, membership_set
from governance.models import GuardrailPolicyRecord
from governance.services.guardrail_policies import guardrail_draft_save, guardrail_publish
from tests.factories import LobFactory, UserFactory

pytestmark = pytest.mark.django_db


def published(record, rules, mode="enforced"):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return guardrail_publish(
            version=guardrail_draft_save(policy=record, document={"rules": rules}, actor="t"), actor="t", mode=mode
        )


def signed_in(client, **role):
    user = UserFactory(is_staff=True)
    with TestCase.captureOnCommitCallbacks(execute=True):
        if "central" in role:
            central_role_grant(user=user, role=role["central"])
        else:
            membership_set(lob=role["lob"], user=user, role="lob_admin")
    client.force_login(user)
    return client


@pytest.fixture
def versions():
    record = GuardrailPolicyRecord.objects.create(scope="central", name="words")
    rule = {"check": "denied_words", "direction": "input", "action": "block"}
    first = published(record, [{**rule, "words": ["alpha"]}])
    second = published(
        record, [{**rule, "words": ["alpha", "beta"]}, {"check": "injection", "direction": "input", "action": "block"}]
    )
    return first, second


def test_the_diff_of_two_versions_names_added_and_changed_rules(client, versions):
    first, second = versions
    signed_in(client, central="platform_admin")

    page = client.get(f"/admin/governance/guardrailpolicyversion/{second.pk}/diff/?against={first.pk}")

    assert page.status_code == 200
    body = page.content.decode()
    assert "injection/input" in body and "denied_words/input" in body
    assert "+" in body and "beta" in body


def test_by_default_a_version_is_compared_with_the_one_before_it(client, versions):
    first, second = versions
    signed_in(client, central="platform_admin")

    body = client.get(f"/admin/governance/guardrailpolicyversion/{second.pk}/diff/").content.decode()

    assert f"Compared with {first}" in body


def test_lob_users_do_not_see_central_policy_versions(client, versions):
    signed_in(client, lob=LobFactory())

    assert client.get(f"/admin/governance/guardrailpolicyversion/{versions[1].pk}/diff/").status_code in (403, 404)
