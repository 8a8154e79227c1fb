"""POST /v1/completions (legacy): one prompt answered through the chat path, in OpenAI's text_completion shape."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from genai_platform.ledger.services import usage_flush
from genai_platform.metering.models import UsageRecord
from tests.factories import AliasFactory, DeploymentFactory, UseCaseFactory, issue_key
from tests.streaming import streamed_body

pytestmark = pytest.mark.django_db
URL = "/v1/completions"
CLIENT = Client()


@pytest.fixture
def key():
    return issue_key(UseCaseFactory(aliases=[AliasFactory(name="chat-model")]))[1]


def post(key: str, body) -> object:
    return CLIENT.post(URL, data=json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}")


def test_a_prompt_is_answered_as_a_text_completion(key):
    response = post(key, {"model": "chat-model", "prompt": "Say hello", "max_tokens": 50})

    assert response.status_code == 200, response.content
    document = response.json()
    assert document["object"] == "text_completion"
    assert document["id"].startswith("cmpl-")
    assert document["choices"] == [
        {"text": '[sandbox] You said: "Say hello"', "index": 0, "logprobs": None, "finish_reason": "stop"}
    ]
    assert (
        document["usage"]["total_tokens"] == document["usage"]["prompt_tokens"] + document["usage"]["completion_tokens"]
    )
    assert response["x-genai-provider"] == "sandbox"


def test_a_completion_is_metered_like_a_chat_call(key):
    post(key, {"model": "chat-model", "prompt": "Say hello"})
    usage_flush(consumer="test")

    [record] = UsageRecord.objects.all()
    assert (record.status, record.endpoint) == (UsageRecord.Status.SUCCESS, "chat")


def test_a_streamed_completion_sends_text_completion_chunks_then_done(key):
    response = post(key, {"model": "chat-model", "prompt": "stream this please", "stream": True})

    frames = [line.removeprefix(b"data: ") for line in streamed_body(response).split(b"\n\n") if line]
    assert frames[-1] == b"[DONE]"
    chunks = [json.loads(f) for f in frames[:-1]]
    assert all(c["object"] == "text_completion" for c in chunks)
    assert "".join(c["choices"][0]["text"] for c in chunks) == '[sandbox] You said: "stream this please"'
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "chat-model"}, "prompt"),
        ({"model": "chat-model", "prompt": ["one", "two"]}, "prompt"),
        ({"model": "chat-model", "prompt": "x", "echo": True}, "echo"),
        ({"model": "chat-model", "prompt": "x", "suffix": "y"}, "suffix"),
        ({"model": "chat-model", "prompt": "x", "frobnicate": 1}, "frobnicate"),
    ],
)
def test_what_the_chat_path_cannot_honour_is_a_400(key, body, param):
    response = post(key, body)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_the_deployment_failing_is_an_openai_error():
    broken = DeploymentFactory(options={"fail_with": "unavailable"})
    _, key = issue_key(UseCaseFactory(aliases=[AliasFactory(name="broken", deployments=[broken])]))

    response = post(key, {"model": "broken", "prompt": "x"})

    assert response.status_code == 503
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
