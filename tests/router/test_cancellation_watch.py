"""The cancellation watch (router/channel.py): a relaying worker learns that a client gave its stream
up from one MGET per interval for all its streams, not one round trip per stream. Real Redis; the
reader thread is given an hour's interval so each test drives the reads itself (`refresh`)."""

from __future__ import annotations

import uuid

import pytest
import redis

from genai_platform.router.channel import CancellationWatch, RedisReplyChannel


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingRedis(redis.Redis):
    """Counts the commands the watch sends."""

    commands: list[str]

    def execute_command(self, *args, **options):
        self.commands.append(args[0])
        return super().execute_command(*args, **options)


@pytest.fixture
def client(settings):
    counting = CountingRedis.from_url(settings.REDIS_URL)
    counting.commands = []
    return counting


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def watch(client, clock):
    return CancellationWatch(client, interval=3600, forget_after=5, clock=clock)


@pytest.fixture
def channel(settings):
    return RedisReplyChannel(settings.REDIS_URL)


def new_id() -> str:
    return uuid.uuid4().hex


def test_the_first_question_about_an_invocation_cancelled_before_is_answered_exactly(watch, channel):
    invocation = new_id()
    channel.cancel(invocation)

    assert watch.is_cancelled(invocation) is True


def test_a_cancellation_after_watching_began_is_seen_after_the_next_read(watch, channel):
    invocation = new_id()
    assert watch.is_cancelled(invocation) is False
    channel.cancel(invocation)

    watch.refresh()

    assert watch.is_cancelled(invocation) is True


def test_one_read_covers_every_watched_stream_and_questions_between_reads_cost_no_round_trip(watch, client, channel):
    streams = [new_id() for _ in range(50)]
    for invocation in streams:
        watch.is_cancelled(invocation)
    channel.cancel(streams[7])
    client.commands.clear()

    watch.refresh()
    answers = [watch.is_cancelled(invocation) for invocation in streams]

    assert client.commands == ["MGET"]
    assert [i for i, cancelled in zip(streams, answers, strict=True) if cancelled] == [streams[7]]


def test_an_invocation_no_longer_asked_about_is_no_longer_read(watch, client, clock):
    ended, open_stream = new_id(), new_id()
    watch.is_cancelled(ended)
    clock.now += 3
    watch.is_cancelled(open_stream)
    clock.now += 3  # `ended` last asked 6 s ago, `open_stream` 3 s ago
    client.commands.clear()

    watch.refresh()
    clock.now += 3
    watch.refresh()

    assert client.commands == ["MGET"]  # the second read found nothing left to watch
