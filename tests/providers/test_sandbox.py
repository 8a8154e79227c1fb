"""The sandbox provider: deterministic, offline, and able to misbehave on request."""

from __future__ import annotations

import pytest

from genai_platform.providers.sandbox import SandboxAdapter
from genai_platform.providers.types import (
    AccountConfig,
    ChatRequest,
    EmbeddingRequest,
    ErrorKind,
    Message,
    ProviderError,
    StreamEnd,
    TextDelta,
    ToolDefinition,
)


def sandbox(**options) -> SandboxAdapter:
    return SandboxAdapter(AccountConfig(provider="sandbox", options=options))


def ask(text: str, **fields) -> ChatRequest:
    return ChatRequest(model="sandbox-chat", messages=(Message("system", "Be brief."), Message("user", text)), **fields)


def test_it_quotes_the_last_user_message_exactly_as_received():
    response = sandbox().chat(ask("My email is <EMAIL_1>"))

    assert response.content == '[sandbox] You said: "My email is <EMAIL_1>"'
    assert response.finish_reason == "stop"


def test_it_reports_realistic_token_usage():
    short = sandbox().chat(ask("hi")).usage
    long = sandbox().chat(ask("a much longer question with many more words in it")).usage

    assert 0 < short.input_tokens < long.input_tokens
    assert short.output_tokens > 0
    assert not short.estimated


def test_it_is_deterministic():
    assert sandbox().chat(ask("same")).content == sandbox().chat(ask("same")).content
    vectors = [sandbox().embed(EmbeddingRequest(model="e", inputs=("same text",))).vectors for _ in range(2)]
    assert vectors[0] == vectors[1]


def test_streaming_yields_the_same_text_in_pieces_then_one_end_with_usage():
    events = list(sandbox().chat_stream(ask("stream this please")))

    assert isinstance(events[-1], StreamEnd)
    assert all(isinstance(e, TextDelta) for e in events[:-1])
    assert len(events) > 2
    assert "".join(e.text for e in events[:-1]) == sandbox().chat(ask("stream this please")).content
    assert events[-1].usage.output_tokens > 0


def test_a_required_tool_is_called_with_the_user_text():
    tools = (ToolDefinition(name="search"),)

    response = sandbox().chat(ask("find invoices", tools=tools, tool_choice="required"))

    assert response.finish_reason == "tool_calls"
    assert response.tool_calls[0].name == "search"
    assert response.tool_calls[0].arguments == '{"input": "find invoices"}'


def test_embeddings_of_texts_sharing_words_are_closer_than_unrelated_ones():
    vectors = (
        sandbox()
        .embed(
            EmbeddingRequest(model="e", inputs=("refund policy for cards", "card refund policy", "weather in Paris"))
        )
        .vectors
    )

    def dot(a, b):
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert dot(vectors[0], vectors[1]) > dot(vectors[0], vectors[2])
    assert len(vectors[0]) == 384


@pytest.mark.parametrize("kind", ["unavailable", "throttled", "timeout", "auth"])
def test_it_fails_on_request_with_the_asked_error_kind(kind):
    with pytest.raises(ProviderError) as raised:
        sandbox(fail_with=kind, retry_after=3).chat(ask("hi"))

    assert raised.value.kind == ErrorKind(kind)
    assert raised.value.retry_after == 3


def test_a_prompt_beyond_its_context_window_is_refused():
    with pytest.raises(ProviderError) as raised:
        sandbox(context_window=5).chat(ask("one two three four five six seven"))

    assert raised.value.kind == ErrorKind.CONTEXT_LENGTH_EXCEEDED
