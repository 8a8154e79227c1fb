"""Routing with live processes: streams relayed chunk by chunk from a real worker, cancellation when
the client leaves, and circuit breakers shared by separate worker processes through Redis."""

from __future__ import annotations

import time

import httpx
import openai
import pytest
import redis

from .conftest import REDIS_BASE, LiveStack, catalog_setup, consuming_worker, wait_for, worker_args

pytestmark = pytest.mark.e2e

STACK_ENV = {
    "ROUTER_BREAKER_FAILURES": "3",
    "ROUTER_BREAKER_COOLDOWN_SECONDS": "2",
    # Both gateway processes read the breakers on every call, so the fourth call already skips `flaky`
    # (by default a process reuses what it read for a second: tests/router/test_health.py).
    "ROUTER_HEALTH_FRESHNESS_SECONDS": "0",
    "GATEWAY_REQUEST_DEADLINE_SECONDS": "30",
}

SETUP = """
from tests.factories import approve
account = provider_account_upsert(name="live-sandbox", provider="sandbox")
model = model_upsert(name="live-model")
slow = deployment_upsert(name="slow-stream", account=account, model=model, provider_model_id="s",
                         options={"stream_chunk_delay_ms": 50})
flaky = deployment_upsert(name="flaky", account=account, model=model, provider_model_id="f",
                          options={"fail_with": "unavailable"})
steady = deployment_upsert(name="steady", account=account, model=model, provider_model_id="s")
aliases = [
    alias_upsert(name="slow-stream", deployments=[slow]),
    alias_upsert(name="guarded", deployments=[flaky, steady]),
]
use_case = UseCase.objects.get(slug="support-assistant")
use_case.aliases.add(*aliases)
approve(use_case)  # the board approves the new models, as a material change would need
result = {"key": api_key_issue(use_case=use_case, name="routing", environment="production")[1]}
"""
LONG_MESSAGE = " ".join(f"word{i}" for i in range(80))


@pytest.fixture(scope="module")
def key(services_stack: LiveStack) -> str:
    return catalog_setup(services_stack, SETUP)["key"]


def test_the_first_streamed_chunk_reaches_the_client_before_the_upstream_finishes(services_stack, sandbox_worker, key):
    client = openai.OpenAI(base_url=services_stack.base_url + "/v1", api_key=key, max_retries=0, timeout=60)
    client.chat.completions.create(model="slow-stream", messages=[{"role": "user", "content": "warm up"}])
    started = time.monotonic()
    arrivals = []

    stream = client.chat.completions.create(
        model="slow-stream", messages=[{"role": "user", "content": LONG_MESSAGE}], stream=True
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic() - started)

    # ~84 chunks 50 ms apart upstream. The output guardrail holds back at most a window of text
    # (256 characters), so text arrives in several releases over the stream's four seconds; a relay
    # that buffered would deliver everything at the end.
    assert len(arrivals) >= 3
    assert arrivals[-1] - arrivals[0] > 1.5
    assert arrivals[0] < arrivals[-1] / 2


def test_a_client_that_disconnects_cancels_the_upstream_stream(services_stack, sandbox_worker, key):
    body = {"model": "slow-stream", "messages": [{"role": "user", "content": LONG_MESSAGE * 5}], "stream": True}
    with (
        httpx.Client(timeout=30) as http,
        http.stream(
            "POST",
            services_stack.base_url + "/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {key}"},
        ) as response,
    ):
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")
    # The connection is closed after one chunk of a ~15 s stream.
    log = services_stack.logs / "worker.log"
    wait_for(lambda: "cancelled by its client" in log.read_text(), timeout=20, what="the worker to stop the stream")


def attempts_of(client: openai.OpenAI) -> int:
    raw = client.chat.completions.with_raw_response.create(
        model="guarded", messages=[{"role": "user", "content": "hello"}]
    )
    return int(raw.headers["x-genai-attempts"])


def test_the_breaker_is_shared_by_separate_worker_processes_and_half_opens_after_cooldown(services_stack, key):
    client = openai.OpenAI(base_url=services_stack.base_url + "/v1", api_key=key, max_retries=0, timeout=60)
    store = redis.Redis.from_url(f"{REDIS_BASE}/13", decode_responses=True)
    logs = services_stack.logs
    with (
        consuming_worker(worker_args("one", concurrency=1), services_stack.env, logs / "one.log"),
        consuming_worker(worker_args("two", concurrency=1), services_stack.env, logs / "two.log"),
    ):
        # Three failures of `flaky`, recorded by whichever worker ran them, open its breaker for everyone.
        assert [attempts_of(client) for _ in range(3)] == [2, 2, 2]
        assert [attempts_of(client) for _ in range(3)] == [1, 1, 1]
        assert int(store.hget("genai:breaker:flaky", "failures")) == 3

        opened_at = float(store.hget("genai:breaker:flaky", "opened_at"))
        wait_for(lambda: time.time() > opened_at + 2.1, timeout=5, what="the cooldown to pass")

        assert attempts_of(client) == 2  # the one half-open probe tried flaky, failed, reopened it
        assert attempts_of(client) == 1
    # One genai_platform.task line per task (Celery's own "received" line is off by default).
    handled = [
        (logs / name).read_text().count("genai_platform.task router.invoke_provider ")
        for name in ("one.log", "two.log")
    ]
    assert all(count > 0 for count in handled), f"both workers took tasks: {handled}"
