"""A dead worker is noticed (router/liveness.py): a wait for an invocation whose worker stopped
keeping it alive (running it, or holding it received but not started) is answered at once with a
retryable error (and the invocation cancelled), a call still queued or whose worker lives is left
to wait, and the router dispatches a lost call again. Real Redis, and real processes (forked) where
a worker's death is the point; the live version (kill -9 of a Celery worker) is
tests/e2e/test_worker_loss_live.py."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable
from types import SimpleNamespace

import pytest
from asgiref.sync import async_to_sync

from genai_platform.providers.types import ChatRequest, Message
from genai_platform.router import liveness as liveness_module
from genai_platform.router.channel import RedisReplyChannel
from genai_platform.router.dispatch import chat_dispatch_steps, invocation_build
from genai_platform.router.liveness import (
    INVOCATION_TASK,
    RedisLiveness,
    _on_task_received,
    _on_task_revoked,
    areceive_alive,
    lost_reply,
    receive_alive,
)
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


@pytest.fixture
def slower_beats(settings):
    """Beats that a busy machine cannot miss by accident, for tests where a live process must not
    look lost."""
    settings.ROUTER_WORKER_BEAT_SECONDS = 0.2
    settings.ROUTER_WORKER_LOST_AFTER_SECONDS = 2.0


def invocation_id() -> str:
    return uuid.uuid4().hex


def an_invocation(*, deadline_in: float = 60) -> dict:
    """An invocation as the router enqueues it."""
    target = deployment_target(DeploymentFactory())
    request = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    return invocation_build(
        kind="chat", target=target, deadline=time.time() + deadline_in, request_id="req_x", request=request
    )


def _fork(work: Callable[[], object]) -> tuple[int, str]:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: its beat threads keep running while this one waits for its end
        try:
            os.close(read_end)
            os.write(write_end, f"{work()}\n".encode())
            while True:
                signal.pause()
        finally:
            os._exit(1)
    os.close(write_end)
    with os.fdopen(read_end) as reader:
        report = reader.readline().strip()
    return pid, report


def kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):  # a grandchild is reaped by whoever adopted it
        os.waitpid(pid, 0)


@pytest.fixture
def forked_worker():
    """Forks a process that runs `work`, reports what it returned, then lives until killed: a worker
    process the test can kill -9 (and that the test's end kills, whatever happened)."""
    forked: list[int] = []

    def fork(work: Callable[[], object]) -> tuple[int, str]:
        pid, report = _fork(work)
        forked.append(pid)
        return pid, report

    yield fork
    for pid in forked:
        kill(pid)


def noticed_lost(store: RedisLiveness, invocation: str) -> bool:
    """Polls until `store` sees the invocation lost, within NOTICED_WITHIN_SECONDS."""
    deadline = time.monotonic() + NOTICED_WITHIN_SECONDS
    while time.monotonic() < deadline:
        if store.is_lost(invocation):
            return True
        time.sleep(0.05)
    return False


def a_worker_died_after_starting(store: RedisLiveness, invocation: str) -> None:
    """Its held mark and one beat, then nothing: what a worker killed mid-call leaves behind."""
    held, alive = store._keys(invocation)
    store._redis.set(held, "a-dead-worker", ex=60)
    store._redis.set(alive, "1", px=500)


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
    redelivered = an_invocation()
    channel.cancel(redelivered["id"])  # the gateway saw its first worker die and dispatched the call again
    store.invocation_received(redelivered["id"])

    invocation_execute(redelivered, channel=channel, adapters=AdapterPool(), health=_NoHealth(), liveness=store)

    assert channel.receive(redelivered["id"], 0.2) is None  # the provider was not called again
    assert store.holding() == frozenset()  # nor is the skipped copy kept alive


@pytest.mark.django_db
def test_a_call_a_worker_received_but_had_not_started_is_noticed_lost_when_the_worker_dies(
    store, channel, forked_worker
):
    # Prefetched behind a busy call: the broker handed it over, the worker never ran it.
    reserved = an_invocation()
    worker, _ = forked_worker(lambda: store.invocation_received(reserved["id"]))

    kill(worker)
    message = receive_alive(channel, reserved["id"], WAIT_TIMEOUT_SECONDS)

    assert message == lost_reply()
    assert channel.is_cancelled(reserved["id"])


@pytest.mark.django_db
def test_a_call_a_live_worker_holds_unstarted_is_waited_for(store, channel, slower_beats):
    reserved = an_invocation()
    store.invocation_received(reserved["id"])
    answer = {"type": "result", "response": {"content": "started late, answered"}}
    busy_worker = threading.Timer(5.0, channel.publish, args=(reserved["id"], answer))  # 2.5x the lost-after time
    busy_worker.start()
    try:
        assert receive_alive(channel, reserved["id"], WAIT_TIMEOUT_SECONDS) == answer
    finally:
        busy_worker.join()
        store.invocation_released(reserved["id"])


@pytest.mark.django_db
def test_a_prefork_parent_lets_go_of_a_call_once_its_child_runs_it_so_the_childs_death_is_noticed(
    store, settings, slower_beats, forked_worker
):
    invocation = an_invocation()["id"]
    store.invocation_received(invocation)  # the pool's parent process consumes the message
    child = RedisLiveness(settings.REDIS_URL)
    pool_process, _ = forked_worker(lambda: child.invocation_started(invocation))

    let_go = time.monotonic() + NOTICED_WITHIN_SECONDS
    while invocation in store.holding() and time.monotonic() < let_go:
        time.sleep(0.05)
    assert invocation not in store.holding()
    assert not store.is_lost(invocation)  # the child keeps it alive meanwhile
    kill(pool_process)

    assert noticed_lost(store, invocation)  # the parent, still alive, does not mask its child's death


@pytest.mark.django_db
def test_a_forked_process_does_not_keep_its_parents_calls_alive(store, settings, slower_beats, forked_worker):
    held_by_parent, run_by_child = an_invocation()["id"], an_invocation()["id"]

    def parent() -> int:
        store.invocation_received(held_by_parent)
        child, _ = _fork(lambda: store.invocation_started(run_by_child))
        return child

    parent_pid, child_pid = forked_worker(parent)
    try:
        kill(parent_pid)

        assert noticed_lost(store, held_by_parent)
        assert not store.is_lost(run_by_child)  # the child lives and keeps its own call alive
    finally:
        kill(int(child_pid))


@pytest.mark.django_db
def test_the_worker_holds_an_invocation_from_its_receipt_and_lets_go_if_celery_revokes_it(store):
    invocation = an_invocation()
    task = SimpleNamespace(name=INVOCATION_TASK)
    # Celery's Request and revoked Context, as far as the signals use them; the task id is the invocation's.
    request = SimpleNamespace(name=INVOCATION_TASK, id=invocation["id"], args=[invocation])

    _on_task_received(request=request, sender=object())
    assert store.holding() == {invocation["id"]}
    _on_task_revoked(request=request, sender=task, expired=True)

    assert store.holding() == frozenset()


@pytest.mark.django_db
def test_a_worker_lets_go_of_a_call_whose_deadline_passed_while_it_waited(store, channel):
    late = an_invocation(deadline_in=-1)
    store.invocation_received(late["id"])

    invocation_execute(late, channel=channel, adapters=AdapterPool(), health=_NoHealth(), liveness=store)

    assert store.holding() == frozenset()  # no beat keeps a call nobody waits for alive
    assert channel.receive(late["id"], 0.2) is None  # and the provider was not called


def test_another_tasks_messages_are_not_held(store):
    _on_task_received(request=SimpleNamespace(name="metering.flush_usage", id=invocation_id(), args=[]))

    assert store.holding() == frozenset()


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


def test_a_wait_first_looks_at_liveness_only_once_a_loss_could_show(store, channel, settings, monkeypatch):
    # A worker's alive key outlives its last beat by the lost-after time: a reply arriving before
    # that is waited for without a liveness read (at a 1 s upstream that was a round trip per call).
    settings.ROUTER_WORKER_BEAT_SECONDS = 0.1
    settings.ROUTER_WORKER_LOST_AFTER_SECONDS = 30.0
    looks: list[str] = []
    monkeypatch.setattr(store, "is_lost", lambda invocation: looks.append(invocation) or False)
    invocation = invocation_id()
    assert store.invocation_started(invocation)
    answer = {"type": "result", "response": {"content": "after a few beats"}}
    worker = threading.Timer(0.5, channel.publish, args=(invocation, answer))  # five beats
    worker.start()
    try:
        assert receive_alive(channel, invocation, WAIT_TIMEOUT_SECONDS) == answer
    finally:
        worker.join()
        store.invocation_finished(invocation)
    assert looks == []


@pytest.mark.django_db
def test_a_call_received_by_this_process_starts_by_reading_its_cancellation_only(store, channel, monkeypatch):
    """A thread-pool worker receives and runs a call in one process: the marks its receipt wrote
    already name this process, so starting the call writes nothing (a prefork child still does)."""
    invocation, cancelled = an_invocation(), an_invocation()
    channel.cancel(cancelled["id"])
    store.invocation_received(invocation["id"])
    store.invocation_received(cancelled["id"])
    pipelines: list[object] = []
    monkeypatch.setattr(store._redis, "pipeline", lambda *args, **kwargs: pipelines.append(args))

    assert store.invocation_started(invocation["id"])
    assert not store.invocation_started(cancelled["id"])

    assert pipelines == []
    assert store.holding() == {invocation["id"]}
