"""Streams through a gateway shutdown: once the drain deadline passes, an open stream ends with an
OpenAI-style error event and [DONE], and the call is metered with what it delivered. The live
version (SIGTERM to gunicorn during 20 streams) is tests/e2e/test_shutdown_live.py."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync

from genai_platform.gateway import draining
from genai_platform.metering.models import UsageRecord
from genai_platform.metering.services import usage_flush
from tests.factories import AliasFactory, DeploymentFactory, UseCaseFactory, issue_key
from tests.gateway.test_chat_completions import CLIENT
from tests.streaming import reading

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_drain():
    draining.reset()
    yield
    draining.reset()


def test_a_stream_open_at_the_drain_deadline_ends_with_an_error_event_and_done():
    closed = []

    async def relay():
        try:
            yield b"data: one\n\n"
            yield b"data: two\n\n"
            yield b"data: three\n\n"
        finally:
            closed.append(True)  # where the real relay meters what it delivered

    async def read_one_then_drain():
        frames = draining.until_drained(relay())
        first = await anext(frames)
        draining.begin(0)
        return first, [frame async for frame in frames]

    first, rest = async_to_sync(read_one_then_drain)()

    assert first == b"data: one\n\n"
    assert len(rest) == 2  # nothing more of the relay: the error event, then [DONE]
    assert json.loads(rest[0].removeprefix(b"data: "))["error"]["code"] == "gateway_shutdown"
    assert rest[1] == b"data: [DONE]\n\n"
    assert closed == [True]


def test_without_a_drain_a_stream_is_relayed_untouched():
    frames = [b"data: a\n\n", b"data: [DONE]\n\n"]

    async def relay():
        for frame in frames:
            yield frame

    async def read_all():
        return [frame async for frame in draining.until_drained(relay())]

    assert async_to_sync(read_all)() == frames


def test_a_streamed_completion_cut_by_the_drain_is_metered_with_what_was_delivered():
    slow = DeploymentFactory(options={"stream_chunk_chars": 2})
    key = issue_key(UseCaseFactory(aliases=[AliasFactory(name="chat-model", deployments=[slow])]))[1]
    body = {"model": "chat-model", "stream": True, "messages": [{"role": "user", "content": "Hello there"}]}
    response = CLIENT.post(
        "/v1/chat/completions",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )

    async def two_frames_then_drain(frames):
        delivered = [await anext(frames), await anext(frames)]  # the role chunk and the first piece of text
        draining.begin(0)
        return delivered, [frame async for frame in frames]

    delivered, rest = reading(response, two_frames_then_drain)

    assert json.loads(rest[-2].removeprefix(b"data: "))["error"]["code"] == "gateway_shutdown"
    assert rest[-1] == b"data: [DONE]\n\n"
    assert len(delivered) + len(rest) < 10  # the answer was cut, not relayed whole
    usage_flush(consumer="test")
    record = UsageRecord.objects.get(request_id=response["x-request-id"])
    assert record.output_tokens > 0
