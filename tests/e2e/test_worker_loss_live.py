"""A worker killed (kill -9) mid-call on the Redis broker (the `make up` default), with a second
worker standing by. The broker would redeliver the call only after its visibility timeout (minutes),
so the gateway notices the worker's beat stop (router/liveness.py): before the first byte it
dispatches the call again and the other worker answers, well before the deadline, metered once;
after the first byte of a stream, the client gets an error event and [DONE] at once
(docs/reliability.md). With RabbitMQ the broker redelivers too: tests/e2e/test_rabbitmq_broker.py."""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from .conftest import LiveStack, catalog_setup, consuming_worker, manage, wait_for, worker_args

pytestmark = pytest.mark.e2e

DEADLINE_SECONDS = 40
# Celery's "Task received" line (off by default) tells which worker took a call.
STACK_ENV = {"GATEWAY_REQUEST_DEADLINE_SECONDS": str(DEADLINE_SECONDS), "CELERY_TASK_LOG_LEVEL": "INFO"}

SETUP = """
from tests.factories import approve
from lob_tenants.models import Lob
account = provider_account_upsert(name="loss-sandbox", provider="sandbox")
model = model_upsert(name="loss-model", max_output_tokens=400)
slow = deployment_upsert(name="loss-slow", account=account, model=model, provider_model_id="s",
                         options={"latency_ms": 6000, "stream_chunk_delay_ms": 500, "stream_chunk_chars": 40})
use_case = UseCase.objects.create(lob=Lob.objects.get(slug="demo-retail"), slug="loss", name="loss",
                                  status="approved")
use_case.aliases.add(alias_upsert(name="loss-slow", deployments=[slow]))
approve(use_case)
result = api_key_issue(use_case=use_case, name="loss", environment="production")[1]
"""

LEDGER = """
from genai_platform.metering.models import UsageRecord
result = [[r.request_id, r.status, r.output_tokens] for r in UsageRecord.objects.filter(use_case__slug="loss")]
"""


@pytest.fixture(scope="module")
def key(services_stack: LiveStack) -> str:
    return catalog_setup(services_stack, SETUP)


@pytest.fixture
def two_workers(services_stack: LiveStack):
    """Two worker processes on the sandbox queue: `{name: (process, log)}`."""
    logs = {name: services_stack.logs / f"worker-{name}-{time.monotonic_ns()}.log" for name in ("left", "right")}
    with (
        consuming_worker(worker_args("left", concurrency=2), services_stack.env, logs["left"]) as left,
        consuming_worker(worker_args("right", concurrency=2), services_stack.env, logs["right"]) as right,
    ):
        yield {"left": (left, logs["left"]), "right": (right, logs["right"])}


def received(workers: dict) -> int:
    """Calls the workers have received (Celery's "Task received" line)."""
    return sum(log.read_text().count("router.invoke_provider[") for _, log in workers.values())


def kill_the_worker_holding_the_call(workers: dict) -> str:
    """kill -9 the first worker that took a call, whether it runs it yet or only holds it (a worker
    marks a call held from its receipt: tests/e2e/test_reserved_calls_live.py)."""

    def holder():
        return next((name for name, (_, log) in workers.items() if "router.invoke_provider[" in log.read_text()), None)

    name = wait_for(holder, timeout=30, what="a worker to take the call")
    os.killpg(workers[name][0].pid, signal.SIGKILL)
    return name


def ledger_rows(stack: LiveStack, request_id: str) -> list:
    def recorded():
        manage(stack.env, "flush_usage", "--claim-idle-ms", "0")
        return [row for row in catalog_setup(stack, LEDGER) if row[0] == request_id]

    return wait_for(recorded, timeout=60, what="the call's usage record")


def test_a_call_whose_worker_is_killed_before_answering_is_answered_by_the_other_worker_and_billed_once(
    services_stack, key, two_workers
):
    body = {"model": "loss-slow", "messages": [{"role": "user", "content": "survive a dead worker"}]}
    with ThreadPoolExecutor(1) as pool:
        began = time.monotonic()
        pending = pool.submit(
            httpx.post,
            f"{services_stack.base_url}/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {key}"},
            timeout=DEADLINE_SECONDS + 30,
        )
        killed = kill_the_worker_holding_the_call(two_workers)
        answer = pending.result()
        took = time.monotonic() - began

    assert answer.status_code == 200, answer.text
    assert "survive a dead worker" in answer.json()["choices"][0]["message"]["content"]
    # The survivor took it up: 6 s of latency twice plus noticing the loss, not the 40 s deadline.
    assert took < DEADLINE_SECONDS / 2, took
    survivor = next(name for name in two_workers if name != killed)
    assert "router.invoke_provider[" in two_workers[survivor][1].read_text()
    assert answer.headers["x-genai-attempts"] == "2"
    rows = ledger_rows(services_stack, answer.headers["x-request-id"])
    assert [row[1] for row in rows] == ["success"]


CALLS_IN_FLIGHT = 4  # both workers busy (concurrency 2 each): the dead one held calls, the other is loaded


def test_under_load_a_killed_worker_costs_no_call_its_deadline_and_none_is_billed_twice(
    services_stack, key, two_workers
):
    def call(n: int) -> httpx.Response:
        body = {"model": "loss-slow", "messages": [{"role": "user", "content": f"call {n} under load"}]}
        return httpx.post(
            f"{services_stack.base_url}/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {key}"},
            timeout=DEADLINE_SECONDS + 30,
        )

    with ThreadPoolExecutor(CALLS_IN_FLIGHT) as pool:
        began = time.monotonic()
        pending = [pool.submit(call, n) for n in range(CALLS_IN_FLIGHT)]
        # Both workers hold two calls each.
        wait_for(lambda: received(two_workers) >= CALLS_IN_FLIGHT, timeout=30, what="both workers busy")
        kill_the_worker_holding_the_call(two_workers)
        answers = [future.result() for future in pending]
        took = time.monotonic() - began

    assert [answer.status_code for answer in answers] == [200] * CALLS_IN_FLIGHT, [a.text for a in answers]
    for n, answer in enumerate(answers):
        assert f"call {n} under load" in answer.json()["choices"][0]["message"]["content"]
    # The survivor answers its own calls, then the dead worker's: 6 s twice plus noticing, not the deadline.
    assert took < DEADLINE_SECONDS, took
    for answer in answers:
        rows = ledger_rows(services_stack, answer.headers["x-request-id"])
        assert [row[1] for row in rows] == ["success"]


def test_a_stream_whose_worker_is_killed_after_the_first_chunk_ends_with_an_error_event_at_once_and_is_metered(
    services_stack, key, two_workers
):
    words = " ".join(f"word{i}" for i in range(120))  # ~22 pieces, 0.5 s apart: 11 s of stream
    body = {"model": "loss-slow", "stream": True, "messages": [{"role": "user", "content": words}]}
    frames: list[str] = []
    killed_at = None
    with httpx.stream(
        "POST",
        f"{services_stack.base_url}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=DEADLINE_SECONDS + 30,
    ) as response:
        request_id = response.headers["x-request-id"]
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            frames.append(line.removeprefix("data: "))
            if killed_at is None and '"content":"[sandbox]' in frames[-1]:  # text reached the client
                kill_the_worker_holding_the_call(two_workers)
                killed_at = time.monotonic()
        ended_after = time.monotonic() - killed_at

    assert frames[-1] == "[DONE]"
    error = json.loads(frames[-2])["error"]
    assert error["code"] == "unavailable", error
    assert ended_after < DEADLINE_SECONDS / 2, ended_after
    assert not any('"finish_reason":"stop"' in frame for frame in frames)  # cut, not completed by another worker
    rows = ledger_rows(services_stack, request_id)
    assert len(rows) == 1
    assert rows[0][1] == "provider_error" and rows[0][2] > 0  # metered once, with what was delivered
