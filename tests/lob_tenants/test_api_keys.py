"""API keys: shown once, stored only as a digest, found by their public prefix."""

from __future__ import annotations

import pytest
from django.db import connection

from genai_platform.audit.models import AuditEvent
from genai_platform.inference.principal import key_principal
from lob_tenants.keys import key_parse, secret_digest
from lob_tenants.models import ApiKey
from tests.factories import UseCaseFactory, issue_key

pytestmark = pytest.mark.django_db


def test_the_secret_is_not_stored_anywhere_in_the_key_row():
    api_key, plaintext = issue_key(UseCaseFactory())
    _, secret = key_parse(plaintext)

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {ApiKey._meta.db_table} WHERE id = %s", [api_key.pk])
        row = cursor.fetchone()

    stored = " ".join(str(value) for value in row)
    assert secret not in stored
    assert plaintext not in stored
    assert secret_digest(secret) in stored


def test_the_key_carries_its_public_prefix_and_a_high_entropy_secret():
    api_key, plaintext = issue_key(UseCaseFactory())

    prefix, secret = key_parse(plaintext)
    assert plaintext.startswith("sk-gp-")
    assert prefix == api_key.prefix
    assert len(secret) >= 43  # 32 random bytes


def test_a_presented_key_resolves_to_its_use_case_and_lob():
    use_case = UseCaseFactory()
    api_key, plaintext = issue_key(use_case, ApiKey.Environment.SANDBOX)

    principal = key_principal(plaintext)

    assert principal.key_id == api_key.pk
    assert principal.use_case_slug == use_case.slug
    assert principal.lob_slug == use_case.lob.slug
    assert principal.environment == "sandbox"
    assert not principal.is_production


def test_two_keys_never_share_a_prefix_or_secret():
    use_case = UseCaseFactory()
    keys = [issue_key(use_case)[1] for _ in range(20)]

    assert len({key_parse(k)[0] for k in keys}) == 20
    assert len(set(keys)) == 20


def test_issuing_a_key_is_audited_without_the_secret():
    api_key, plaintext = issue_key(UseCaseFactory())

    event = AuditEvent.objects.get(action="api_key.issued", object_id=str(api_key.pk))
    assert event.after["prefix"] == api_key.prefix
    assert key_parse(plaintext)[1] not in str(event.after)
