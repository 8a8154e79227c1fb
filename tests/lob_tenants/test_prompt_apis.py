"""The prompt catalog's management API: save the next version, list and read versions, preview a
render, pin a version for a use case. (Who may call each endpoint: tests/access/test_api_authorization_matrix.py.)"""

from __future__ import annotations

import json

import pytest

from genai_platform.audit.models import AuditEvent
from lob_tenants.services import object_share
from tests.access.test_roles_and_grants import member
from tests.factories import LobFactory, PromptTemplateFactory, UseCaseFactory

pytestmark = pytest.mark.django_db

LOB = "/api/v1/lobs/retail"
GREETING = {
    "name": "greeting",
    "template": "Hello {{ customer }}, you have {{ points }} points.",
    "variables": [
        {"name": "customer", "type": "string", "description": "First name."},
        {"name": "points", "type": "integer", "required": False, "default": 0},
    ],
}


@pytest.fixture
def retail():
    return LobFactory(slug="retail", name="Retail banking")


@pytest.fixture
def developer(client, retail):
    client.force_login(member(retail, "lob_developer"))
    return client


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def test_saving_again_makes_the_next_version_and_both_stay_readable(developer):
    first = post(developer, f"{LOB}/prompt-templates/save/", GREETING)
    second = post(
        developer, f"{LOB}/prompt-templates/save/", {**GREETING, "template": "Hi {{ customer }} ({{ points }})"}
    )

    assert (first.status_code, second.status_code) == (201, 201)
    assert (first.json()["version"], second.json()["version"]) == (1, 2)
    listed = developer.get(f"{LOB}/prompt-templates/", {"name": "greeting"}).json()
    assert [row["version"] for row in listed["results"]] == [2, 1]
    one = developer.get(f"{LOB}/prompt-templates/greeting/versions/1/").json()
    assert one["template"] == GREETING["template"]
    assert one["variables"][1] == {
        "name": "points",
        "type": "integer",
        "required": False,
        "default": 0,
        "description": "",
    }


def test_a_template_using_an_undeclared_variable_is_a_400_naming_it(developer):
    response = post(developer, f"{LOB}/prompt-templates/save/", {**GREETING, "variables": GREETING["variables"][:1]})

    assert response.status_code == 400
    assert response.json()["detail"] == ["The template uses the variable 'points', which is not declared."]


def test_a_syntax_error_is_a_400(developer):
    response = post(developer, f"{LOB}/prompt-templates/save/", {**GREETING, "template": "Hello {{ customer "})

    assert response.status_code == 400
    assert "syntax error" in response.json()["detail"][0]


def test_a_saved_version_has_no_update_endpoint(developer):
    post(developer, f"{LOB}/prompt-templates/save/", GREETING)
    url = f"{LOB}/prompt-templates/greeting/versions/1/"

    for method in ("post", "put", "patch", "delete"):
        body = json.dumps({"template": "Changed {{ customer }} {{ points }}"})
        # 403 (nobody holds `lob_data` `write`) or 405: either way, nothing can change a version.
        assert getattr(developer, method)(url, body, content_type="application/json").status_code in (403, 405)
    assert developer.get(url).json()["template"] == GREETING["template"]


def test_a_preview_renders_as_the_gateway_would_or_names_the_bad_variable(developer):
    post(developer, f"{LOB}/prompt-templates/save/", GREETING)
    url = f"{LOB}/prompt-templates/greeting/versions/1/render/"

    rendered = post(developer, url, {"variables": {"customer": "Ada"}})
    refused = post(developer, url, {"variables": {"customer": "Ada", "points": "many"}})

    assert rendered.json() == {"text": "Hello Ada, you have 0 points."}
    assert refused.status_code == 400
    assert refused.json() == {"variables": ["Prompt variable 'points' must be an integer, not a string."]}


def test_a_use_case_pins_a_version_and_unpins_it(developer, retail):
    use_case = UseCaseFactory(lob=retail, slug="chatbot")
    PromptTemplateFactory(lob=retail, name="greeting")

    pinned = post(developer, f"{LOB}/use-cases/chatbot/prompt-template/", {"template": "greeting", "version": 1})
    unpinned = post(developer, f"{LOB}/use-cases/chatbot/prompt-template/", {"template": None})

    assert pinned.status_code == 200 and pinned.json()["prompt_template"] == "retail/greeting@1"
    assert unpinned.json()["prompt_template"] is None
    assert AuditEvent.objects.filter(action="use_case.prompt_pinned", object_id=str(use_case.pk)).count() == 2


def test_another_lobs_version_is_pinned_only_once_shared_and_unknown_looks_the_same(developer, retail):
    use_case = UseCaseFactory(lob=retail, slug="chatbot")
    wealth = LobFactory(slug="wealth")
    theirs = PromptTemplateFactory(lob=wealth, name="advice")
    body = {"owner": "wealth", "template": "advice", "version": 1}

    refused = post(developer, f"{LOB}/use-cases/chatbot/prompt-template/", body)
    unknown = post(developer, f"{LOB}/use-cases/chatbot/prompt-template/", {**body, "version": 9})
    object_share(obj=theirs, owner_lob=wealth, use_case=use_case, actor=member(wealth, "lob_admin"))
    pinned = post(developer, f"{LOB}/use-cases/chatbot/prompt-template/", body)

    assert refused.status_code == unknown.status_code == 400
    assert refused.json() == unknown.json()
    assert pinned.status_code == 200 and pinned.json()["prompt_template"] == "wealth/advice@1"
