"""The edge refuses what it cannot keep: text PostgreSQL cannot store, bodies that are not JSON,
OpenAI's rules for tool messages and response formats, and oversize bookkeeping fields.

Each refusal is a 4xx naming the parameter, before anything is routed, metered or audited: a value
answered with 200 and then refused by the ledger would stop the ledger for everyone (issue 16).
"""

from __future__ import annotations

import json

import pytest
from django.test import Client

from genai_platform.metering.models import UsageRecord
from lob_tenants.agents.models import AgentRun
from tests.factories import AgentFactory, AliasFactory, UseCaseFactory, issue_key
from tests.gateway.test_chat_completions import assert_openai_error

pytestmark = pytest.mark.django_db
CLIENT = Client()
CHAT = "/v1/chat/completions"


@pytest.fixture
def key():
    return issue_key(UseCaseFactory(aliases=[AliasFactory(name="chat-model")]))[1]


def post(key: str, url: str, body: dict, content_type: str | None = "application/json"):
    extra = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    if content_type is None:
        return CLIENT.generic("POST", url, json.dumps(body).encode(), content_type="", **extra)
    return CLIENT.post(url, data=json.dumps(body), content_type=content_type, **extra)


def chat(**extra) -> dict:
    return {"model": "chat-model", "messages": [{"role": "user", "content": "Hello"}], **extra}


@pytest.mark.parametrize(
    ("url", "body", "param"),
    [
        (CHAT, chat(user="a\u0000b"), "user"),
        (CHAT, {"model": "chat-model", "messages": [{"role": "user", "content": "x\u0000"}]}, "messages[0].content"),
        (
            CHAT,
            {"model": "chat-model", "messages": [{"role": "user", "content": [{"type": "text", "text": "\u0000"}]}]},
            "messages[0].content[0].text",
        ),
        (CHAT, chat(metadata={"team": "pay\u0000ments"}), "metadata.team"),
        (CHAT, chat(metadata={"te\u0000am": "payments"}), "metadata.te\\u0000am"),
        (CHAT, chat(stop=["\u0000"]), "stop[0]"),
        (
            CHAT,
            chat(tools=[{"type": "function", "function": {"name": "f", "description": "d\u0000"}}]),
            "tools[0].function.description",
        ),
        (CHAT, chat(prompt_variables={"customer": {"name": "\u0000"}}), "prompt_variables.customer.name"),
        ("/v1/embeddings", {"model": "chat-model", "input": ["ok", "n\u0000ul"]}, "input[1]"),
        ("/v1/guardrails/apply", {"text": "x\u0000"}, "text"),
    ],
)
def test_text_holding_a_nul_character_is_a_400_naming_its_field(key, url, body, param):
    response = post(key, url, body)

    error = assert_openai_error(response, 400, "invalid_value", param)
    assert "NUL" in error["message"]
    assert not UsageRecord.objects.exists()


@pytest.mark.parametrize(
    ("run_input", "param"),
    [("hi\u0000", "input"), ([{"role": "user", "content": "hi\u0000"}], "input[0].content")],
)
def test_a_nul_in_an_agent_run_input_is_a_400(run_input, param):
    agent = AgentFactory()
    key = issue_key(agent.use_case)[1]

    response = post(key, f"/v1/agents/{agent.public_id}/runs", {"input": run_input})

    assert_openai_error(response, 400, "invalid_value", param)
    assert not AgentRun.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        "/v1/agents/%00/runs",
        "/v1/agents/%00/runs/x",
        "/v1/agents/agt_1/runs/%00",
        "/v1/agents/agt_1/runs/r%00/cancel",
        "/v1/vector_stores/%00/search",
        "/v1/models/gpt%00",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_nul_in_any_path_id_is_a_json_404(key, path, method):
    response = CLIENT.generic(method, path, b"{}", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}")

    assert_openai_error(response, 404, "unknown_url")


def test_a_nul_in_a_management_api_path_is_a_404():
    assert CLIENT.get("/api/v1/lobs/%00/use-cases").status_code == 404


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_v1_body_not_declared_as_json_is_a_415(key, content_type):
    response = post(key, CHAT, chat(), content_type=content_type)

    error = assert_openai_error(response, 415, "unsupported_media_type")
    assert "application/json" in error["message"]


def test_json_with_a_charset_parameter_is_accepted(key):
    assert post(key, CHAT, chat(), content_type="application/json; charset=utf-8").status_code == 200


def test_a_tool_message_without_tool_call_id_is_a_400(key):
    body = {"model": "chat-model", "messages": [{"role": "user", "content": "hi"}, {"role": "tool", "content": "42"}]}

    assert_openai_error(post(key, CHAT, body), 400, "missing_required_parameter", "messages[1].tool_call_id")


def test_a_tool_message_must_answer_an_earlier_tool_call(key):
    body = {
        "model": "chat-model",
        "messages": [{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "call_9", "content": "42"}],
    }

    error = assert_openai_error(post(key, CHAT, body), 400, "invalid_value", "messages[1].tool_call_id")
    assert "preceding message with 'tool_calls'" in error["message"]


@pytest.mark.parametrize(
    ("response_format", "code", "param"),
    [
        ({"type": "json_schema", "json_schema": 5}, "invalid_value", "response_format.json_schema"),
        ({"type": "json_schema"}, "missing_required_parameter", "response_format.json_schema"),
        ({"type": "json_schema", "json_schema": {"schema": {}}}, "missing_required_parameter", None),
        ({"type": "json_schema", "json_schema": {"name": "x"}}, "missing_required_parameter", None),
        ({"type": "json_schema", "json_schema": {"name": "a b", "schema": {}}}, "invalid_value", None),
        ({"type": "xml"}, "invalid_value", "response_format.type"),
        ({"type": "text", "json_schema": {"name": "x", "schema": {}}}, "invalid_value", "response_format.json_schema"),
    ],
)
def test_response_format_follows_openais_shapes(key, response_format, code, param):
    assert_openai_error(post(key, CHAT, chat(response_format=response_format)), 400, code, param)


@pytest.mark.parametrize(
    "response_format",
    [
        {"type": "text"},
        {"type": "json_object"},
        {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True}},
    ],
)
def test_valid_response_formats_are_accepted(key, response_format):
    assert post(key, CHAT, chat(response_format=response_format)).status_code == 200


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"logit_bias": {str(token): 1 for token in range(50_000)}}, "logit_bias"),
        ({"logit_bias": {"not-a-token": 1}}, "logit_bias.not-a-token"),
        ({"logit_bias": {"50256": 101}}, "logit_bias.50256"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
        ({"metadata": {"k": "v" * 513}}, "metadata.k"),
        ({"metadata": {"k" * 65: "v"}}, None),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"stop": "s" * 257}, "stop"),
        ({"tools": [{"type": "function", "function": {"name": f"f{i}"}} for i in range(129)]}, "tools"),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"d": "x" * 40_000}}}]},
            "tools[0].function.parameters",
        ),
        ({"tools": [{"type": "function", "function": {"name": "f", "description": "d" * 8_193}}]}, None),
    ],
)
def test_oversize_bookkeeping_fields_are_refused(key, extra, param):
    assert_openai_error(post(key, CHAT, chat(**extra)), 400, "invalid_value", param)


def test_fields_within_their_limits_are_accepted(key):
    body = chat(
        logit_bias={str(token): -100 for token in range(300)},
        metadata={f"k{i}": "v" * 512 for i in range(16)},
        stop=["a", "b", "c", "d"],
    )

    assert post(key, CHAT, body).status_code == 200
