"""Shadow-rollout evidence that holds on every setup: the tallies are shared by every process (the
database without Redis, as on `make run`; Redis with it), kept per version of each owner's
policy, counted for each of the shadow versions that apply at once, and `shadow-report` in
another process and the portal's diff page show the same numbers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client, TestCase, override_settings
from django.urls import reverse

from governance.models import GuardrailPolicyRecord, GuardrailPolicyVersion
from governance.services.guardrail_policies import guardrail_draft_save, guardrail_publish
from governance.shadow_rollout import shadow_report, shadow_tally, version_key
from lob_tenants.models import Lob
from model_catalog.models import Alias
from tests.factories import AliasFactory, DeploymentFactory, LobFactory, UseCaseFactory, UserFactory, issue_key

RULE = {"check": "denied_words", "direction": "input", "action": "block"}


@pytest.fixture(params=["database", "redis"])
def backend(request):
    """The tally of this process on the setup under test: the database (`REDIS_URL` unset) or Redis."""
    shadow_tally.cache_clear()
    redis_url = "" if request.param == "database" else settings.REDIS_URL or "redis://127.0.0.1:6379/9"
    with override_settings(REDIS_URL=redis_url):
        shadow_tally()  # built now, for the rest of the test
    yield redis_url
    shadow_tally.cache_clear()


def publish(record: GuardrailPolicyRecord, words: list[str], mode: str = "enforced") -> GuardrailPolicyVersion:
    with TestCase.captureOnCommitCallbacks(execute=True):
        draft = guardrail_draft_save(policy=record, document={"rules": [{**RULE, "words": words}]}, actor="t")
        return guardrail_publish(version=draft, actor="t", mode=mode)


def chat(key: str, content: str) -> int:
    body = {"model": "guarded", "messages": [{"role": "user", "content": content}]}
    response = Client().post(
        "/v1/chat/completions",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    return response.status_code


def lob_with_key(slug: str) -> tuple[Lob, str]:
    """A LOB and a key of one of its use cases, calling the shared sandbox alias `guarded`."""
    lob = LobFactory(slug=slug)
    alias = Alias.objects.filter(name="guarded").first() or AliasFactory(
        name="guarded", deployments=[DeploymentFactory()]
    )
    return lob, issue_key(UseCaseFactory(lob=lob, aliases=[alias]))[1]


def report_in_another_process(redis_url: str) -> list[dict]:
    """`manage.py guardrails shadow-report --json`, run as its own process against the same stores."""
    database = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "REDIS_URL": redis_url,
        "PYTHONPATH": str(settings.BASE_DIR),
    }
    out = subprocess.run(
        [sys.executable, "manage.py", "guardrails", "shadow-report", "--json"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(out.stdout)


@pytest.mark.django_db(transaction=True)
def test_same_named_policies_of_two_lobs_are_tallied_apart_and_every_reader_agrees(backend):
    retail, retail_key = lob_with_key("retail")
    wealth, wealth_key = lob_with_key("wealth")
    versions = {}
    for lob, shadow_words in ((retail, ["beta"]), (wealth, ["gamma"])):
        record = GuardrailPolicyRecord.objects.create(scope="lob", lob=lob, name="words")
        publish(record, ["alpha"])
        versions[lob.slug] = publish(record, ["alpha", *shadow_words], mode="shadow")

    assert chat(retail_key, "say beta") == 200  # retail's shadow would block it
    assert chat(retail_key, "say gamma") == 200
    assert chat(wealth_key, "say gamma") == 200  # wealth's shadow would block it

    retail_report, wealth_report = shadow_report(versions["retail"]), shadow_report(versions["wealth"])
    assert retail_report["shadow"] == "lob:retail:words@v2" and wealth_report["shadow"] == "lob:wealth:words@v2"
    assert retail_report["checks"]["input:denied_words"]["shadow_block"] == 1
    assert wealth_report["checks"]["input:denied_words"]["shadow_block"] == 1
    assert retail_report["texts"] == 4 and wealth_report["texts"] == 2  # each prompt and each answer
    # Another process (as `make run`'s operator would run it) reads the same numbers.
    assert report_in_another_process(backend) == [retail_report, wealth_report]


@pytest.mark.django_db
def test_two_shadow_versions_at_once_are_each_reported(backend):
    lob, key = lob_with_key("retail")
    central = GuardrailPolicyRecord.objects.create(scope="central", name="baseline-words")
    publish(central, ["alpha"])
    central_shadow = publish(central, ["alpha", "beta"], mode="shadow")
    mine = GuardrailPolicyRecord.objects.create(scope="lob", lob=lob, name="words")
    mine_shadow = publish(mine, ["alpha", "gamma"], mode="shadow")

    assert chat(key, "say beta") == 200

    for version in (central_shadow, mine_shadow):
        report = shadow_report(version)
        assert report["texts"] == 2, version_key(version)
        assert report["checks"]["input:denied_words"]["shadow_block"] == 1


@pytest.mark.django_db
def test_the_portal_diff_page_and_the_api_show_the_numbers_of_shadow_report(backend, client):
    from io import StringIO

    from django.core.management import call_command

    _, key = lob_with_key("retail")
    record = GuardrailPolicyRecord.objects.create(scope="central", name="words")
    publish(record, ["alpha"])
    shadow = publish(record, ["alpha", "beta"], mode="shadow")
    chat(key, "say beta")
    chat(key, "say alpha")

    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = client.get(reverse("admin:governance_guardrailpolicyversion_diff", args=[shadow.pk]))
    out = StringIO()
    call_command("guardrails", "shadow-report", "--json", stdout=out)

    api = client.get(reverse("central:guardrail-version-shadow", kwargs={"version_id": shadow.pk}))

    assert page.status_code == 200
    assert [page.context["shadow"]] == json.loads(out.getvalue()) == [api.json()]
    assert page.context["shadow"]["texts"] == 3
