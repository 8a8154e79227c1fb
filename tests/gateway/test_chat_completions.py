"""POST /v1/chat/completions: the OpenAI contract, the gate, routing and every bad input."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client
from django.utils import timezone

from lob_tenants.models import ApiKey, UseCase
from lob_tenants.services import api_key_revoke
from model_catalog.models import Deployment
from tests.factories import AliasFactory, DeploymentFactory, UseCaseFactory, grant_alias, issue_key
from tests.streaming import streamed_body

pytestmark = pytest.mark.django_db
URL = "/v1/chat/completions"


@pytest.fixture
def alias():
    return AliasFactory(name="chat-model")


@pytest.fixture
def use_case(alias):
    return UseCaseFactory(aliases=[alias])


@pytest.fixture
def key(use_case):
    return issue_key(use_case)[1]


#: One client for the module: each new Client builds the middleware stack again, static-file scan included.
CLIENT = Client()


def post(key: str | None, body, *, raw: bytes | None = None, **headers):
    if key is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    data = raw if raw is not None else json.dumps(body)
    return CLIENT.post(URL, data=data, content_type="application/json", **headers)


def hello(model: str = "chat-model", **extra):
    return {"model": model, "messages": [{"role": "user", "content": "Hello there"}], **extra}


def assert_openai_error(response, status: int, code: str | None = None, param: str | None = None):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert response["x-request-id"].startswith("req_")
    error = response.json()["error"]
    assert error["message"]
    assert set(error) == {"message", "type", "param", "code"}
    if code is not None:
        assert error["code"] == code
    if param is not None:
        assert error["param"] == param
    return error


def test_a_completion_has_the_openai_shape_and_quotes_what_reached_the_provider(key):
    response = post(key, hello())

    assert response.status_code == 200
    document = response.json()
    assert document["object"] == "chat.completion"
    assert document["id"].startswith("chatcmpl-")
    assert document["model"] == "chat-model"
    assert isinstance(document["created"], int)
    choice = document["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == '[sandbox] You said: "Hello there"'
    assert choice["finish_reason"] == "stop"
    usage = document["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_a_completion_says_which_deployment_served_it_and_what_it_cost(key, alias):
    deployment = alias.routes.get().deployment

    response = post(key, hello())

    assert response["x-request-id"].startswith("req_")
    assert response["x-genai-deployment"] == deployment.name
    assert response["x-genai-provider"] == "sandbox"
    assert response["x-genai-attempts"] == "1"
    usage = response.json()["usage"]
    expected = (usage["prompt_tokens"] * 1 + usage["completion_tokens"] * 2) / 1_000_000
    assert float(response["x-genai-cost-usd"]) == pytest.approx(expected)


def test_max_tokens_cuts_the_answer_with_finish_reason_length(key):
    response = post(key, hello(max_tokens=3))

    assert response.json()["choices"][0]["finish_reason"] == "length"
    assert response.json()["usage"]["completion_tokens"] <= 3


def test_the_model_can_call_a_tool_and_answer_from_its_result(key):
    tools = [{"type": "function", "function": {"name": "lookup_order", "parameters": {"type": "object"}}}]
    first = post(key, hello(tools=tools, tool_choice="required")).json()
    call = first["choices"][0]["message"]["tool_calls"][0]
    assert first["choices"][0]["finish_reason"] == "tool_calls"
    assert call["function"]["name"] == "lookup_order"

    follow_up = {
        "model": "chat-model",
        "tools": tools,
        "messages": [
            {"role": "user", "content": "Where is order 42?"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"], "content": "shipped yesterday"},
        ],
    }
    second = post(key, follow_up).json()
    assert second["choices"][0]["message"]["content"] == '[sandbox] The tool returned: "shipped yesterday"'


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "chat-model"}, "messages"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
        ({"model": "chat-model", "messages": "hi"}, "messages"),
        ({"model": "chat-model", "messages": []}, "messages"),
        ({"model": "chat-model", "messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
        ({"model": "chat-model", "messages": [{"role": "user", "content": 7}]}, "messages[0].content"),
        (hello(temperature=99), "temperature"),
        (hello(temperature="hot"), "temperature"),
        (hello(top_p=1.5), "top_p"),
        (hello(max_tokens=0), "max_tokens"),
        (hello(max_tokens="10"), "max_tokens"),
        (hello(n=3), "n"),
        (hello(stream="yes"), "stream"),
        (hello(stop=["a", "b", "c", "d", "e"]), "stop"),
        (hello(tool_choice="required"), "tool_choice"),
        (hello(frobnicate=True), "frobnicate"),
        ({"model": 5, "messages": [{"role": "user", "content": "hi"}]}, "model"),
    ],
)
def test_invalid_requests_are_refused_with_400_naming_the_parameter(key, body, param):
    assert_openai_error(post(key, body), 400, param=param)


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_a_400(key, raw):
    assert_openai_error(post(key, None, raw=raw), 400, code="invalid_json")


def test_a_missing_key_is_a_401():
    assert_openai_error(post(None, hello()), 401, code="missing_api_key")


@pytest.mark.parametrize("token", ["sk-not-a-real-key-000", "sk-gp-abcdefghijkl.wrong-secret", "", "Basic abc"])
def test_an_unknown_or_malformed_key_is_a_401(token):
    response = Client().post(
        URL, data=json.dumps(hello()), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert_openai_error(response, 401)


def test_a_right_prefix_with_a_wrong_secret_is_a_401(use_case):
    _, plaintext = issue_key(use_case)
    forged = plaintext[: plaintext.index(".") + 1] + "x" * 43

    assert_openai_error(post(forged, hello()), 401, code="invalid_api_key")


def test_a_revoked_key_is_a_401_at_once_even_after_it_was_cached(use_case, django_capture_on_commit_callbacks):
    api_key, plaintext = issue_key(use_case)
    assert post(plaintext, hello()).status_code == 200  # now cached

    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=api_key)

    assert_openai_error(post(plaintext, hello()), 401, code="invalid_api_key")


def test_an_expired_key_is_a_401(use_case):
    _, plaintext = issue_key(use_case, expires_at=timezone.now() - dt.timedelta(seconds=1))

    assert_openai_error(post(plaintext, hello()), 401, code="invalid_api_key")


def test_an_unknown_model_is_a_404(key):
    assert_openai_error(post(key, hello("no-such-model-xyz")), 404, code="model_not_found", param="model")


def test_a_model_the_use_case_may_not_use_is_a_404_like_an_unknown_one(key):
    AliasFactory(name="someone-elses-model")

    error = assert_openai_error(post(key, hello("someone-elses-model")), 404, code="model_not_found")
    assert "does not exist or you do not have access" in error["message"]


def test_an_oversize_body_is_a_413(key, settings):
    settings.GATEWAY_MAX_BODY_BYTES = 1024
    body = hello()
    body["messages"][0]["content"] = "x" * 2048

    assert_openai_error(post(key, body), 413, code="request_too_large")


@pytest.mark.parametrize("method", ["get", "put", "delete", "patch"])
def test_a_wrong_method_is_a_405(key, method):
    response = getattr(Client(), method)(URL, HTTP_AUTHORIZATION=f"Bearer {key}")

    assert_openai_error(response, 405, code="method_not_allowed")
    assert response["Allow"] == "POST"


def test_an_unknown_v1_url_is_a_json_404():
    assert_openai_error(Client().get("/v1/no/such/endpoint"), 404, code="unknown_url")


def test_a_production_key_of_an_unapproved_use_case_is_a_403(alias):
    use_case = UseCaseFactory(aliases=[alias], status=UseCase.Status.SUBMITTED)
    _, plaintext = issue_key(use_case, ApiKey.Environment.PRODUCTION)

    error = assert_openai_error(post(plaintext, hello()), 403, code="use_case_not_approved")
    assert "submitted" in error["message"]


def test_a_sandbox_key_works_before_approval_on_sandbox_aliases(alias):
    use_case = UseCaseFactory(aliases=[alias], status=UseCase.Status.DRAFT)
    _, plaintext = issue_key(use_case, ApiKey.Environment.SANDBOX)

    assert post(plaintext, hello()).status_code == 200


def test_a_sandbox_key_cannot_call_an_alias_kept_for_production():
    production_only = AliasFactory(name="prod-only", available_in_sandbox=False)
    use_case = UseCaseFactory(aliases=[production_only], status=UseCase.Status.DRAFT)
    _, plaintext = issue_key(use_case, ApiKey.Environment.SANDBOX)

    assert_openai_error(post(plaintext, hello("prod-only")), 403, code="model_not_approved")


def test_a_failing_deployment_falls_back_to_the_next_one(use_case):
    broken = DeploymentFactory(options={"fail_with": "unavailable"})
    healthy = DeploymentFactory()
    grant_alias(use_case, AliasFactory(name="resilient", deployments=[broken, healthy]))
    _, plaintext = issue_key(use_case)

    response = post(plaintext, hello("resilient"))

    assert response.status_code == 200
    assert response["x-genai-deployment"] == healthy.name
    assert response["x-genai-attempts"] == "2"


def test_when_every_deployment_is_throttled_the_client_gets_429_with_retry_after(use_case):
    throttled = DeploymentFactory(options={"fail_with": "throttled", "retry_after": 7})
    grant_alias(use_case, AliasFactory(name="busy", deployments=[throttled]))
    _, plaintext = issue_key(use_case)

    response = post(plaintext, hello("busy"))

    assert_openai_error(response, 429, code="throttled")
    assert response["Retry-After"] == "7"


def test_a_request_the_provider_refuses_is_not_retried_elsewhere(use_case):
    refusing = DeploymentFactory(options={"fail_with": "content_filtered"})
    grant_alias(use_case, AliasFactory(name="strict", deployments=[refusing, DeploymentFactory()]))
    _, plaintext = issue_key(use_case)

    response = post(plaintext, hello("strict"))

    assert_openai_error(response, 400, code="content_filtered")
    assert response["x-genai-attempts"] == "1"


def test_retired_deployments_are_never_called(use_case):
    retired = DeploymentFactory(lifecycle=Deployment.Lifecycle.RETIRED)
    current = DeploymentFactory()
    grant_alias(use_case, AliasFactory(name="moving", deployments=[retired, current]))
    _, plaintext = issue_key(use_case)

    response = post(plaintext, hello("moving"))

    assert response["x-genai-deployment"] == current.name
    assert response["x-genai-attempts"] == "1"


def test_a_deprecated_deployment_still_serves_with_a_warning_header(use_case):
    old = DeploymentFactory(lifecycle=Deployment.Lifecycle.DEPRECATED)
    grant_alias(use_case, AliasFactory(name="old", deployments=[old]))
    _, plaintext = issue_key(use_case)

    response = post(plaintext, hello("old"))

    assert response.status_code == 200
    assert "deprecated" in response["x-genai-warning"]


def test_a_prompt_longer_than_every_context_window_is_refused_before_any_call(use_case):
    tiny = DeploymentFactory(model__context_window=10, options={"fail_with": "unavailable"})
    grant_alias(use_case, AliasFactory(name="tiny", deployments=[tiny]))
    _, plaintext = issue_key(use_case)
    body = hello("tiny")
    body["messages"][0]["content"] = "word " * 50

    assert_openai_error(post(plaintext, body), 400, code="context_length_exceeded")


def test_a_long_prompt_goes_to_the_deployment_whose_context_window_fits(use_case):
    small = DeploymentFactory(model__context_window=10)
    large = DeploymentFactory(model__context_window=100_000)
    grant_alias(use_case, AliasFactory(name="sized", deployments=[small, large]))
    _, plaintext = issue_key(use_case)
    body = hello("sized")
    body["messages"][0]["content"] = "word " * 50

    assert post(plaintext, body)["x-genai-deployment"] == large.name


def test_no_reply_before_the_deadline_is_a_504(use_case, settings):
    settings.GATEWAY_REQUEST_DEADLINE_SECONDS = 0.2
    slow = DeploymentFactory(options={"latency_ms": 400})
    grant_alias(use_case, AliasFactory(name="slow", deployments=[slow, DeploymentFactory()]))
    _, plaintext = issue_key(use_case)

    assert_openai_error(post(plaintext, hello("slow")), 504, code="timeout")


def test_a_streamed_completion_is_openai_server_sent_events_ending_in_done(key):
    response = post(key, hello(stream=True, stream_options={"include_usage": True}))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    frames = streamed_body(response).decode().split("\n\n")
    assert frames[-2:] == ["data: [DONE]", ""]
    chunks = [json.loads(f.removeprefix("data: ")) for f in frames[:-2]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == '[sandbox] You said: "Hello there"'
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0


def test_a_stream_without_include_usage_carries_no_usage_chunk(key):
    response = post(key, hello(stream=True))

    frames = streamed_body(response).decode().split("\n\n")
    chunks = [json.loads(f.removeprefix("data: ")) for f in frames[:-2]]
    assert all(c["choices"] for c in chunks)
    assert "usage" not in chunks[-1]


# ---- structured outputs ----

PERSON_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "Person",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 18}},
            "required": ["name", "age"],
            "additionalProperties": False,
        },
    },
}


def test_a_strict_json_schema_answer_conforms_to_the_schema(key):
    response = post(key, hello(response_format=PERSON_FORMAT))

    assert response.status_code == 200, response.content
    assert json.loads(response.json()["choices"][0]["message"]["content"]) == {"name": "Hello there", "age": 18}


def test_a_json_object_answer_is_a_json_object(key):
    response = post(key, hello(response_format={"type": "json_object"}))

    assert isinstance(json.loads(response.json()["choices"][0]["message"]["content"]), dict)


def test_a_strict_answer_breaking_the_schema_is_retried_once_then_refused():
    breaking = DeploymentFactory(options={"break_schema": True})
    _, key = issue_key(UseCaseFactory(aliases=[AliasFactory(name="breaks-schema", deployments=[breaking])]))

    response = post(key, hello("breaks-schema", response_format=PERSON_FORMAT))

    assert_openai_error(response, 502, "response_schema_mismatch")
    assert "Person" in response.json()["error"]["message"]
    assert "required property" in response.json()["error"]["message"]


def test_a_non_strict_schema_is_not_enforced():
    breaking = DeploymentFactory(options={"break_schema": True})
    _, key = issue_key(UseCaseFactory(aliases=[AliasFactory(name="breaks-schema", deployments=[breaking])]))
    lenient = {**PERSON_FORMAT, "json_schema": {**PERSON_FORMAT["json_schema"], "strict": False}}

    response = post(key, hello("breaks-schema", response_format=lenient))

    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "{}"


@pytest.mark.parametrize(
    ("response_format", "param"),
    [
        ({"type": "xml"}, "response_format.type"),
        ({"type": "json_schema"}, "response_format.json_schema"),
        (
            {"type": "json_schema", "json_schema": {"name": "P", "schema": {"type": 7}}},
            "response_format.json_schema.schema",
        ),
    ],
)
def test_a_malformed_response_format_is_a_400(key, response_format, param):
    assert_openai_error(post(key, hello(response_format=response_format)), 400, param=param)


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions", "/v1/embeddings"])
def test_the_async_routes_need_no_csrf_token_an_api_client_never_has(path):
    strict = Client(enforce_csrf_checks=True)

    response = strict.post(path, data="{}", content_type="application/json")

    assert response.status_code == 401  # the key is checked, not a CSRF token
