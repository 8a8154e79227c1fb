"""Property-based fuzzing of both APIs from their own OpenAPI documents: the management API's
(`/api/v1/schema/`, drf-spectacular) and the inference API's (`/v1/openapi.json`). Schemathesis
generates valid and invalid requests for every operation; no answer may be a 5xx.

The number of examples per operation is bounded (SCHEMATHESIS_MAX_EXAMPLES, default 6) so the run
stays within a couple of minutes; raise it to hunt (`SCHEMATHESIS_MAX_EXAMPLES=200 pytest ...`).
Hypothesis's example database is off, and generation derandomized, so a run is reproducible.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.factories import AliasFactory, UseCaseFactory, UserFactory, issue_key

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "6"))
HYPOTHESIS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
CSRF = "schemathesisschemathesisschemat"  # 32 characters: a valid CSRF secret, sent as cookie and header


@pytest.fixture
def wsgi_app():
    """The WSGI application, called in-process. As Django's test client does, requests leave the
    database connection open: closing it would end the test's transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def management_schema(db, wsgi_app):
    return schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", wsgi_app)


@pytest.fixture
def inference_schema(db, wsgi_app):
    return schemathesis.openapi.from_wsgi("/v1/openapi.json", wsgi_app)


@pytest.fixture
def staff_headers(db) -> dict[str, str]:
    """A signed-in superuser's session, with a CSRF cookie and header pair so writes are tried too."""
    client = Client()
    client.force_login(UserFactory(username="fuzzer", is_staff=True, is_superuser=True))
    session = client.cookies["sessionid"].value
    return {"Cookie": f"sessionid={session}; csrftoken={CSRF}", "X-CSRFToken": CSRF}


@pytest.fixture
def api_key_headers(db) -> dict[str, str]:
    use_case = UseCaseFactory(aliases=[AliasFactory(name="chat-model")])
    return {"Authorization": f"Bearer {issue_key(use_case)[1]}"}


management = schemathesis.pytest.from_fixture("management_schema")
inference = schemathesis.pytest.from_fixture("inference_schema")


@management.parametrize()
@HYPOTHESIS
def test_the_management_api_never_answers_5xx(case, staff_headers):
    case.call_and_validate(headers=staff_headers, checks=[not_a_server_error])


@inference.parametrize()
@HYPOTHESIS
def test_the_inference_api_never_answers_5xx(case, api_key_headers):
    case.call_and_validate(headers=api_key_headers, checks=[not_a_server_error])
