"""The reply channel in bulk (router/channel.py): a gateway relaying a stream takes every message
already waiting in one round trip, in order; a worker relaying a stream writes its chunks on one
connection and reads Redis's acknowledgements in batches, and a Redis error still ends the stream
with an error reply. Real Redis; the local channel (embedded mode) keeps the same promises."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from asgiref.sync import async_to_sync

from genai_platform.providers.types import ChatRequest, StreamEnd, TextDelta, Usage, stream_event_to_dict
from genai_platform.router.channel import LocalReplyChannel, RedisReplyChannel, _StreamPublisher
from genai_platform.router.dispatch import invocation_build
from genai_platform.router.services import invocation_execute
from model_catalog.selectors import deployment_target
from tests.factories import DeploymentFactory

WAIT_TIMEOUT_SECONDS = 30


@pytest.fixture
def redis_channel(settings):
    return RedisReplyChannel(settings.REDIS_URL)


@pytest.fixture(params=["redis", "local"])
def channel(request, settings):
    if request.param == "redis":
        return RedisReplyChannel(settings.REDIS_URL)
    return LocalReplyChannel()


def new_id() -> str:
    return uuid.uuid4().hex


def chunk(n: int) -> dict:
    return {"type": "event", "event": {"type": "text", "text": f"token {n}"}}


def test_every_message_already_waiting_is_taken_at_once_in_order(channel):
    invocation = new_id()
    for n in range(5):
        channel.publish(invocation, chunk(n))

    taken = async_to_sync(channel.areceive_many)(invocation, WAIT_TIMEOUT_SECONDS, 64)

    assert taken == [chunk(n) for n in range(5)]


def test_a_bulk_receive_takes_no_more_than_asked_and_leaves_the_rest_in_order(channel):
    invocation = new_id()
    for n in range(5):
        channel.publish(invocation, chunk(n))

    first = async_to_sync(channel.areceive_many)(invocation, WAIT_TIMEOUT_SECONDS, 2)
    rest = async_to_sync(channel.areceive_many)(invocation, WAIT_TIMEOUT_SECONDS, 64)

    assert first == [chunk(0), chunk(1)]
    assert rest == [chunk(2), chunk(3), chunk(4)]


def test_a_bulk_receive_waits_for_the_first_message(channel):
    invocation = new_id()
    later = threading.Timer(0.3, channel.publish, args=(invocation, chunk(0)))
    later.start()
    try:
        assert async_to_sync(channel.areceive_many)(invocation, WAIT_TIMEOUT_SECONDS, 64) == [chunk(0)]
    finally:
        later.join()


def test_a_bulk_receive_with_nothing_sent_is_empty_after_its_timeout(channel):
    assert async_to_sync(channel.areceive_many)(new_id(), 0.05, 64) == []


def test_messages_published_through_a_stream_publisher_arrive_in_order_and_are_all_acknowledged_on_exit(
    channel,
):
    invocation = new_id()
    with channel.stream_publisher(invocation) as publish:
        for n in range(100):  # three batches of acknowledgements and a partial one
            publish(chunk(n))

    received = []
    while len(received) < 100:
        received += async_to_sync(channel.areceive_many)(invocation, WAIT_TIMEOUT_SECONDS, 64)
    assert received == [chunk(n) for n in range(100)]


def test_a_published_stream_keeps_its_reply_ttl(redis_channel, settings):
    invocation = new_id()
    with redis_channel.stream_publisher(invocation) as publish:
        publish(chunk(0))

    ttl = redis.Redis.from_url(settings.REDIS_URL).ttl(f"genai:reply:{invocation}")
    assert 0 < ttl <= 300  # replies nobody collects expire


def test_a_redis_error_reaches_the_publisher_within_one_batch_and_its_connection_is_not_reused_dirty(
    redis_channel,
    settings,
):
    invocation = new_id()
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.set(f"genai:reply:{invocation}", "not a list")  # every RPUSH on it now fails (WRONGTYPE)
    pool = client.connection_pool
    publisher = _StreamPublisher(pool, f"genai:reply:{invocation}", ack_every=4)

    with pytest.raises(redis.ResponseError):
        for n in range(4):
            publisher.publish(chunk(n))
    publisher.abandon()

    assert client.ping()  # the pool hands out a clean connection afterwards


def test_a_slow_stream_outlasting_the_connection_health_check_interval_is_published_whole(settings):
    # A chunk a second for longer than `health_check_interval` (30 s in the channel): the check's
    # PING must not be sent while acknowledgements are still owed, or it would read one as its PONG.
    client = redis.Redis.from_url(settings.REDIS_URL, health_check_interval=1e-9)  # due before every send
    invocation = new_id()
    publisher = _StreamPublisher(client.connection_pool, f"genai:reply:{invocation}", ack_every=32)
    for n in range(5):
        publisher.publish(chunk(n))
    publisher.close()

    assert client.llen(f"genai:reply:{invocation}") == 5


def test_the_context_raises_a_redis_error_left_unread_when_the_stream_ends(redis_channel, settings):
    invocation = new_id()
    redis.Redis.from_url(settings.REDIS_URL).set(f"genai:reply:{invocation}", "not a list")

    with pytest.raises(redis.ResponseError), redis_channel.stream_publisher(invocation) as publish:
        publish(chunk(0))  # fewer than a batch: the error is read when the stream ends


class _ScriptedStream:
    """A provider adapter whose stream yields `tokens` then ends; it records being closed."""

    def __init__(self, tokens: int) -> None:
        self.tokens = tokens
        self.closed = threading.Event()

    def chat_stream(self, request: ChatRequest) -> Iterator:
        try:
            for n in range(self.tokens):
                yield TextDelta(text=f"token {n}")
            yield StreamEnd(finish_reason="stop", usage=Usage(input_tokens=3, output_tokens=70))
        finally:
            self.closed.set()


class _OneAdapter:
    def __init__(self, adapter: object) -> None:
        self.adapter = adapter

    def get(self, target: dict) -> object:
        return self.adapter


class _Liveness:
    def invocation_started(self, invocation_id: str) -> bool:
        return True

    def invocation_finished(self, invocation_id: str) -> None:
        pass


class _Health:
    def __init__(self) -> None:
        self.failures = 0
        self.successes = 0

    def record_success(self, deployment: str, latency_ms: float) -> None:
        self.successes += 1

    def record_failure(self, deployment: str) -> None:
        self.failures += 1


def a_stream_invocation() -> dict:
    target = deployment_target(DeploymentFactory())
    request = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    return invocation_build(
        kind="chat_stream", target=target, deadline=time.time() + 60, request_id="req_x", request=request
    )


def drain(channel, invocation: str) -> list[dict]:
    received: list[dict] = []
    while not received or received[-1]["type"] == "event":
        received += async_to_sync(channel.areceive_many)(invocation, WAIT_TIMEOUT_SECONDS, 64)
    return received


@pytest.mark.django_db
def test_a_relayed_stream_reaches_the_gateway_whole_and_in_order_then_done(redis_channel):
    invocation = a_stream_invocation()
    stream = _ScriptedStream(tokens=70)

    invocation_execute(
        invocation, channel=redis_channel, adapters=_OneAdapter(stream), health=_Health(), liveness=_Liveness()
    )

    received = drain(redis_channel, invocation["id"])
    events = [m["event"] for m in received if m["type"] == "event"]
    assert events == [stream_event_to_dict(TextDelta(text=f"token {n}")) for n in range(70)] + [
        stream_event_to_dict(StreamEnd(finish_reason="stop", usage=Usage(input_tokens=3, output_tokens=70)))
    ]
    assert received[-1]["type"] == "done"
    assert stream.closed.is_set()


@pytest.mark.django_db
def test_a_stream_whose_publishing_fails_ends_with_an_error_reply_and_closes_the_upstream(
    redis_channel, settings, monkeypatch
):
    invocation = a_stream_invocation()
    stream = _ScriptedStream(tokens=200)
    failing_after = 40
    sent = 0
    real_publish = _StreamPublisher.publish

    def publish_then_fail(self, message):
        nonlocal sent
        sent += 1
        if sent > failing_after:
            raise redis.ConnectionError("Redis went away mid-stream")
        real_publish(self, message)

    monkeypatch.setattr(_StreamPublisher, "publish", publish_then_fail)
    health = _Health()

    invocation_execute(
        invocation, channel=redis_channel, adapters=_OneAdapter(stream), health=health, liveness=_Liveness()
    )

    received = drain(redis_channel, invocation["id"])
    assert [m["type"] for m in received] == ["event"] * failing_after + ["error"]
    assert received[-1]["error"]["kind"] == "unavailable"  # the gateway ends the client's stream with it
    assert stream.closed.is_set()  # generation upstream stopped
