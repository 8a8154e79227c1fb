"""Streams through a gateway shutdown: once the drain deadline passes, an open stream ends with an
OpenAI-style error event and [DONE] (at the deadline itself, even while it waits for its next
frame), and the call is metered with what it delivered. The live
version (SIGTERM to gunicorn during 20 streams) is tests/e2e/test_shutdown_live.py."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync

from genai_platform.gateway import draining
from genai_platform.ledger.services import usage_flush
from genai_platform.metering.models import UsageRecord
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
    ended_by = []

    async def relay():
        try:
            for frame in (b"data: one\n\n", b"data: two\n\n", b"data: three\n\n"):
                await asyncio.sleep(0)  # each frame comes from the network
                yield frame
        except asyncio.CancelledError as cancelled:
            ended_by.append(cancelled.args)  # where the real relay meters what it delivered, and why
            raise

    async def read_one_then_drain():
        frames = draining.until_drained(relay())
        first = await anext(frames)  # being written to the client when the deadline passes
        draining.begin(0)
        return first, [frame async for frame in frames]

    first, rest = async_to_sync(read_one_then_drain)()

    assert first == b"data: one\n\n"
    assert len(rest) == 2  # nothing more of the relay: the error event, then [DONE]
    assert json.loads(rest[0].removeprefix(b"data: "))["error"]["code"] == "gateway_shutdown"
    assert rest[1] == b"data: [DONE]\n\n"
    assert ended_by == [("gateway_shutdown",)]  # cut at its next wait: the shutdown, not a client that left


def test_past_the_deadline_frames_ready_without_waiting_are_relayed_only_up_to_a_bound():
    closed = []

    async def relay():
        try:
            for n in range(1000):  # all there already: the relay never waits, so it cannot be cut
                yield b"data: %d\n\n" % n
        finally:
            closed.append(True)

    async def read_one_then_drain():
        frames = draining.until_drained(relay())
        await anext(frames)
        draining.begin(0)
        return [frame async for frame in frames]

    rest = async_to_sync(read_one_then_drain)()

    assert len(rest) < 20
    assert json.loads(rest[-2].removeprefix(b"data: "))["error"]["code"] == "gateway_shutdown"
    assert rest[-1] == b"data: [DONE]\n\n"
    assert closed == [True]


def test_a_stream_waiting_for_its_next_frame_is_ended_at_the_drain_deadline_not_at_that_frame():
    ended_by = []

    async def relay():
        try:
            yield b"data: one\n\n"
            await asyncio.Event().wait()  # a model (or a guardrail window) that sends nothing more
            yield b"data: never\n\n"
        except asyncio.CancelledError as cancelled:
            ended_by.append(cancelled.args)  # the meter records this as the call's error code
            raise

    async def read_one_then_drain():
        frames = draining.until_drained(relay())
        first = await anext(frames)
        draining.begin(0.05)
        # Bounded: without the drain's timer this would wait forever for the second frame.
        return first, await asyncio.wait_for(_rest(frames), timeout=30)

    first, rest = async_to_sync(read_one_then_drain)()

    assert first == b"data: one\n\n"
    assert json.loads(rest[0].removeprefix(b"data: "))["error"]["code"] == "gateway_shutdown"
    assert rest[1:] == [b"data: [DONE]\n\n"]
    assert ended_by == [("gateway_shutdown",)]


def test_a_stream_that_opens_after_the_drain_began_is_ended_at_the_deadline_too():
    async def relay():
        yield b"data: one\n\n"
        await asyncio.Event().wait()

    async def drain_then_read():
        draining.begin(0.05)  # SIGTERM came while this request was still on its way to its first byte
        return await asyncio.wait_for(_rest(draining.until_drained(relay())), timeout=30)

    frames = async_to_sync(drain_then_read)()

    assert frames[0] == b"data: one\n\n"  # its first step ran, so its metering scope closes
    assert json.loads(frames[1].removeprefix(b"data: "))["error"]["code"] == "gateway_shutdown"
    assert frames[2:] == [b"data: [DONE]\n\n"]


def test_a_cancellation_that_is_not_the_drain_still_cancels_the_stream():
    waiting = asyncio.Event()

    async def relay():
        yield b"data: one\n\n"
        waiting.set()
        await asyncio.Event().wait()

    async def cancel_while_waiting():
        frames = draining.until_drained(relay())
        await anext(frames)
        reading = asyncio.ensure_future(anext(frames))
        await waiting.wait()
        reading.cancel()  # as the server does to what is left at its graceful timeout
        with pytest.raises(asyncio.CancelledError):
            await reading
        return draining.open_streams()

    assert async_to_sync(cancel_while_waiting)() == 0


async def _rest(frames):
    return [frame async for frame in frames]


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
    # Between two frames at the deadline, so cut at its next wait: ended by the shutdown, as the client saw.
    assert (record.status, record.error_code) == (UsageRecord.Status.CANCELLED, "gateway_shutdown")
