"""Fake tool servers on 127.0.0.1 that accept exactly what the platform promises to send: a POST of
JSON matching the tool's schema, with the tool's auth header. Anything else is refused, as a
strict real service would, so a test passes only if the platform calls tools correctly."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.fakes.server import FakeResponse, FakeServer, RecordedRequest

TOKEN_VARIABLE = "AGENT_TEST_TOOL_TOKEN"
TOKEN = "Bearer tool-secret-123"

CUSTOMER_SCHEMA = {
    "type": "object",
    "properties": {"customer_id": {"type": "string", "pattern": "^C[0-9]+$"}},
    "required": ["customer_id"],
    "additionalProperties": False,
}
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string", "minLength": 1}},
    "required": ["city"],
    "additionalProperties": False,
}


def strict_tool(
    path: str, schema: dict[str, Any], answer: Callable[[dict[str, Any]], Any], token: str | None = None
) -> Callable[[RecordedRequest], FakeResponse]:
    """A handler that refuses a wrong method, path, content type, auth header or body."""
    validator = Draft202012Validator(schema)

    def handle(request: RecordedRequest) -> FakeResponse:
        if request.method != "POST":
            return FakeResponse.json({"error": "method not allowed"}, status=405)
        if request.path != path:
            return FakeResponse.json({"error": "not found"}, status=404)
        if request.headers.get("content-type") != "application/json":
            return FakeResponse.json({"error": "JSON only"}, status=415)
        if token is not None and request.headers.get("authorization") != token:
            return FakeResponse.json({"error": "unauthorized"}, status=401)
        try:
            body = request.json()
        except ValueError:
            return FakeResponse.json({"error": "malformed JSON"}, status=400)
        errors = [e.message for e in validator.iter_errors(body)]
        if errors:
            return FakeResponse.json({"error": errors}, status=422)
        return FakeResponse.json(answer(body))

    return handle


@pytest.fixture
def crm_server(monkeypatch) -> Iterator[FakeServer]:
    """A CRM lookup that needs a bearer token (given to the tool as env:AGENT_TEST_TOOL_TOKEN)."""
    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)
    handler = strict_tool(
        "/crm/lookup", CUSTOMER_SCHEMA, lambda body: {"customer": body["customer_id"], "tier": "gold"}, token=TOKEN
    )
    with FakeServer(handler) as server:
        yield server


@pytest.fixture
def weather_server() -> Iterator[FakeServer]:
    handler = strict_tool("/weather", WEATHER_SCHEMA, lambda body: {"city": body["city"], "forecast": "sunny"})
    with FakeServer(handler) as server:
        yield server


def tool_result(step) -> Any:
    return json.loads(step.outputs["content"])
