"""The official openai SDK, unchanged but for base_url and api_key, against live server processes."""

from __future__ import annotations

import openai
import pytest

from .conftest import LiveStack

pytestmark = pytest.mark.e2e


def client_for(stack: LiveStack, **options) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.base_url + "/v1", api_key=stack.demo["api_key"], max_retries=0, **options)


def test_the_sdk_gets_a_completion_on_embedded_defaults(embedded_stack):
    client = client_for(embedded_stack)

    reply = client.chat.completions.create(
        model=embedded_stack.demo["model"], messages=[{"role": "user", "content": "hello from the SDK"}]
    )

    assert reply.choices[0].message.content == '[sandbox] You said: "hello from the SDK"'
    assert reply.usage.total_tokens > 0


def test_the_sdk_lists_models_and_streams_on_embedded_defaults(embedded_stack):
    client = client_for(embedded_stack)

    assert embedded_stack.demo["model"] in [m.id for m in client.models.list()]
    stream = client.chat.completions.create(
        model=embedded_stack.demo["model"],
        messages=[{"role": "user", "content": "stream it"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == '[sandbox] You said: "stream it"'
    assert chunks[-1].usage.completion_tokens > 0


def test_the_sdk_sees_openai_errors_as_its_own_exception_types(embedded_stack):
    client = client_for(embedded_stack)

    with pytest.raises(openai.NotFoundError) as not_found:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=embedded_stack.base_url + "/v1", api_key="sk-gp-wrong", max_retries=0).models.list()

    assert not_found.value.code == "model_not_found"


def test_without_a_worker_on_the_queue_the_gateway_answers_504_at_the_deadline(services_stack):
    client = client_for(services_stack)

    with pytest.raises(openai.APIStatusError) as raised:
        client.chat.completions.create(
            model=services_stack.demo["model"], messages=[{"role": "user", "content": "anyone there?"}]
        )

    assert raised.value.status_code == 504
    assert raised.value.code == "timeout"


def test_the_sdk_gets_a_completion_through_postgres_redis_and_a_celery_worker(services_stack, sandbox_worker):
    client = client_for(services_stack, timeout=60)

    reply = client.chat.completions.with_raw_response.create(
        model=services_stack.demo["model"], messages=[{"role": "user", "content": "via the worker"}]
    )

    completion = reply.parse()
    assert completion.choices[0].message.content == '[sandbox] You said: "via the worker"'
    assert completion.usage.total_tokens > 0
    assert reply.headers["x-genai-provider"] == "sandbox"
    assert reply.headers["x-request-id"].startswith("req_")


def test_the_sdk_streams_through_a_celery_worker(services_stack, sandbox_worker):
    client = client_for(services_stack, timeout=60)

    stream = client.chat.completions.create(
        model=services_stack.demo["model"], messages=[{"role": "user", "content": "stream via worker"}], stream=True
    )

    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == '[sandbox] You said: "stream via worker"'
