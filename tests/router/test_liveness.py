"""A dead worker is noticed (router/liveness.py): a wait for an invocation whose worker stopped
beating is answered at once with a retryable error (and the invocation cancelled), a call still
queued or whose worker beats is left to wait, and the router dispatches a lost call again.
Real Redis; the live version (kill -9 of a worker) is tests/e2e/test_worker_loss_live.py."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from asgiref.sync import async_to_sync

from genai_platform.providers.types import ChatRequest, Message
from genai_platform.router import liveness as liveness_module
from genai_platform.router.channel import RedisReplyChannel
from genai_platform.router.dispatch import chat_dispatch_steps
from genai_platform.router.liveness import RedisLiveness, areceive_alive, lost_reply, receive_alive
from genai_platform.router.services import AdapterPool, invocation_execute
from genai_platform.router.waiting import Pause, Receive
from model_catalog.selectors import deployment_target
from tests.factories import DeploymentFactory

#: Generous against a busy machine, yet far below the timeouts the waits are given.
NOTICED_WITHIN_SECONDS = 10
WAIT_TIMEOUT_SECONDS = 60


@pytest.fixture
def fast_beats(settings):
    settings.ROUTER_WORKER_BEAT_SECONDS = 0.1
    settings.ROUTER_WORKER_LOST_AFTER_SECONDS = 0.5


@pytest.fixture
def store(settings, fast_beats, monkeypatch):
    """A fresh liveness store on the test's Redis, used by the waits under test."""
    fresh = RedisLiveness(settings.REDIS_URL)
    monkeypatch.setattr(liveness_module, "liveness", lambda: fresh)
    return fresh


@pytest.fixture
def channel(settings):
    return RedisReplyChannel(settings.REDIS_URL)


def invocation_id() -> str:
    return uuid.uuid4().hex


def a_worker_died_after_starting(store: RedisLiveness, invocation: str) -> None:
    """Its started mark and one beat, then nothing: what a worker killed mid-call leaves behind."""
    started, beat = store._keys(invocation)
    store._redis.set(started, "1", ex=60)
    store._redis.set(beat, "1", px=500)


def test_a_wait_for_a_worker_that_died_is_answered_with_a_retryable_error_long_before_its_timeout(store, channel):
    invocation = invocation_id()
    a_worker_died_after_starting(store, invocation)

    began = time.monotonic()
    message = receive_alive(channel, invocation, WAIT_TIMEOUT_SECONDS)

    assert time.monotonic() - began < NOTICED_WITHIN_SECONDS
    assert message == lost_reply()
    assert message["error"]["kind"] == "unavailable"  # retryable: the router dispatches it again
    assert channel.is_cancelled(invocation)  # so a copy the broker redelivers is skipped


def test_the_event_loop_wait_notices_a_dead_worker_too(store, channel):
    invocation = invocation_id()
    a_worker_died_after_starting(store, invocation)

    message = async_to_sync(areceive_alive)(channel, invocation, WAIT_TIMEOUT_SECONDS)

    assert message == lost_reply()


def test_a_call_still_queued_is_left_to_wait_for_its_timeout(store, channel):
    # Not started: no worker has it yet, so none was lost.
    assert receive_alive(channel, invocation_id(), 1.0) is None


def test_a_worker_that_beats_is_waited_for_however_long_it_takes(store, channel):
    invocation = invocation_id()
    assert store.invocation_started(invocation)
    answer = {"type": "result", "response": {"content": "late but alive"}}
    slow_worker = threading.Timer(2.0, channel.publish, args=(invocation, answer))  # 4x the lost-after time
    slow_worker.start()
    try:
        assert receive_alive(channel, invocation, WAIT_TIMEOUT_SECONDS) == answer
    finally:
        slow_worker.join()
        store.invocation_finished(invocation)


def test_a_reply_published_before_the_beat_expired_wins_over_giving_up(store, channel):
    invocation = invocation_id()
    a_worker_died_after_starting(store, invocation)
    answer = {"type": "result", "response": {"content": "answered, then the worker died"}}
    channel.publish(invocation, answer)

    assert receive_alive(channel, invocation, WAIT_TIMEOUT_SECONDS) == answer
    assert not channel.is_cancelled(invocation)


@pytest.mark.django_db
def test_a_worker_skips_an_invocation_its_caller_gave_up(store, channel):
    invocation = invocation_id()
    channel.cancel(invocation)  # the gateway saw its first worker die and dispatched the call again
    target = deployment_target(DeploymentFactory())
    redelivered = {
        "id": invocation,
        "request_id": "req_x",
        "kind": "chat",
        "deadline": time.time() + 60,
        "target": {
            "deployment": target.deployment,
            "provider": target.provider,
            "region": target.region,
            "endpoint": target.endpoint,
            "credentials_ref": target.credentials_ref,
            "options": target.options,
            "timeout_seconds": target.timeout_seconds,
        },
        "request": {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
    }

    invocation_execute(redelivered, channel=channel, adapters=AdapterPool(), health=_NoHealth(), liveness=store)

    assert channel.receive(invocation, 0.2) is None  # the provider was not called again


@pytest.mark.django_db
def test_the_router_dispatches_a_call_whose_worker_was_lost_again_under_a_new_invocation():
    target = deployment_target(DeploymentFactory())
    request = ChatRequest(model="m", messages=(Message(role="user", content="hi"),))
    steps = chat_dispatch_steps(request=request, targets=[target], deadline=time.time() + 60, request_id="req_lost")

    first = steps.send(None)
    assert isinstance(first, Receive)
    after_loss = steps.send(lost_reply())
    if isinstance(after_loss, Pause):  # the retry round's backoff
        after_loss = steps.send(None)

    assert isinstance(after_loss, Receive)
    assert after_loss.invocation_id != first.invocation_id
    steps.close()


class _NoHealth:
    def record_success(self, deployment: str, latency_ms: float) -> None:
        raise AssertionError("a skipped invocation has no outcome to record")

    def record_failure(self, deployment: str) -> None:
        raise AssertionError("a skipped invocation has no outcome to record")
