"""Whole chat answers from OpenAI-compatible servers go over urllib3, not the SDK
(genai_platform/providers/_json_post.py): the same request on the wire, the same errors."""

from __future__ import annotations

import openai
import pytest

from genai_platform.providers._json_post import json_poster
from genai_platform.providers.openai_compatible import OpenAICompatibleAdapter
from genai_platform.providers.types import AccountConfig, ChatRequest, Message
from tests.fakes.openai_wire import OpenAIWireFake


@pytest.fixture(scope="module")
def fake():
    with OpenAIWireFake() as server:
        yield server


def an_adapter(fake: OpenAIWireFake, **options) -> OpenAICompatibleAdapter:
    return OpenAICompatibleAdapter(
        AccountConfig(
            provider="openai_compatible",
            endpoint=fake.url,
            credentials={"api_key": "sk-test-key"},
            options=options,
            timeout_seconds=5,
        )
    )


def test_a_whole_answer_carries_what_the_sdk_would_send_and_a_stream_still_goes_through_the_sdk(fake):
    fake.reset()
    llm = an_adapter(fake, organization="org-risk", project="proj-7", default_headers={"X-Tenant": "payments"})
    question = ChatRequest(model="gpt-4o-mini", messages=(Message("user", "hi"),))

    llm.chat(question)
    list(llm.chat_stream(question))

    whole, streamed = fake.requests[-2:]
    for name in ("authorization", "openai-organization", "openai-project", "x-tenant", "user-agent", "content-type"):
        assert whole.headers[name] == streamed.headers[name], name
    assert whole.headers["authorization"] == "Bearer sk-test-key"
    assert whole.headers["user-agent"].startswith("OpenAI/Python")


def client_for(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="k", max_retries=0)


def test_an_endpoint_the_environment_sends_through_a_proxy_keeps_the_sdk(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "vllm.internal")

    assert json_poster(client_for("https://api.openai.com/v1"), size=8) is None  # httpx would use the proxy
    assert json_poster(client_for("https://vllm.internal/v1"), size=8) is not None
    assert json_poster(client_for("http://127.0.0.1:8000/v1"), size=8) is not None  # no HTTP_PROXY

    monkeypatch.setenv("ALL_PROXY", "http://proxy.internal:3128")
    assert json_poster(client_for("http://127.0.0.1:8000/v1"), size=8) is None


def test_without_a_proxy_in_the_environment_every_endpoint_is_posted_directly(monkeypatch):
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)

    assert json_poster(client_for("https://api.openai.com/v1"), size=8) is not None


def test_a_client_left_on_the_sdks_default_timeout_keeps_its_read_timeout():
    poster = json_poster(openai.OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="k"), size=8)

    assert poster is not None and poster._pools.connection_pool_kw["timeout"].read_timeout == 600.0
