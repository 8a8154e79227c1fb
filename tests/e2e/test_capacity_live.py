"""Capacity with live processes: hundreds of calls in flight at once against an upstream that takes a
second to answer, through a live gateway and ONE worker process on the threads pool. Under the old
prefork pool (4 processes, one call each) 200 such calls took 50 s; here a generous 20 s bound only
separates "waits without a process per call" from "does not". Speed itself is measured by
`make bench` (docs/performance.md), never here."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.openai_wire import OpenAIWireFake

from .conftest import LiveStack, catalog_setup, consuming_worker, worker_args

pytestmark = pytest.mark.e2e

CALLS = 200
UPSTREAM_SECONDS = 1.0
BOUND_SECONDS = 20.0
UPSTREAM_KEY_VARIABLE = "E2E_CAPACITY_UPSTREAM_KEY"

SETUP = """
from tests.factories import approve
account = provider_account_upsert(
    name="slow-upstream", provider="openai_compatible", endpoint=ENDPOINT,
    credentials_ref={"api_key": "env:E2E_CAPACITY_UPSTREAM_KEY"}, timeout_seconds=30,
)
model = model_upsert(name="slow-model")
deployment = deployment_upsert(name="slow-upstream", account=account, model=model, provider_model_id="gpt-4o-mini")
alias = alias_upsert(name="slow-upstream", deployments=[deployment])
use_case = UseCase.objects.get(slug="support-assistant")
use_case.aliases.add(alias)
approve(use_case)
result = {"key": api_key_issue(use_case=use_case, name="capacity", environment="production")[1]}
"""


@pytest.fixture(scope="module")
def upstream() -> Iterator[OpenAIWireFake]:
    with OpenAIWireFake(response_delay=UPSTREAM_SECONDS) as fake:
        yield fake


@pytest.fixture(scope="module")
def stack_env() -> dict[str, str]:
    # Calls queue in the gateway's threads until the async gateway lands: leave them time to.
    return {"GATEWAY_REQUEST_DEADLINE_SECONDS": "30"}


@pytest.fixture(scope="module")
def key(services_stack: LiveStack, upstream: OpenAIWireFake) -> str:
    return catalog_setup(services_stack, f"ENDPOINT = {upstream.url!r}\n" + SETUP)["key"]


@pytest.fixture(scope="module")
def one_worker(services_stack: LiveStack, upstream: OpenAIWireFake) -> Iterator[None]:
    """The deploy default: one process, threads pool, concurrency 1024."""
    env = {**services_stack.env, UPSTREAM_KEY_VARIABLE: upstream.api_key}
    args = worker_args("capacity", queue="provider.openai_compatible", concurrency=1024)
    with consuming_worker(args, env, services_stack.logs / "capacity-worker.log"):
        yield


def body(n: int, *, stream: bool = False) -> dict:
    return {"model": "slow-upstream", "messages": [{"role": "user", "content": f"question {n}"}], "stream": stream}


async def call(http: httpx.AsyncClient, url: str, key: str, n: int) -> tuple[int, str]:
    response = await http.post(url, json=body(n), headers={"Authorization": f"Bearer {key}"})
    return response.status_code, response.json()["choices"][0]["message"]["content"] if response.is_success else ""


async def stream(http: httpx.AsyncClient, url: str, key: str, n: int) -> tuple[int, str]:
    text, done = [], False
    async with http.stream("POST", url, json=body(n, stream=True), headers={"Authorization": f"Bearer {key}"}) as r:
        async for line in r.aiter_lines():
            if line == "data: [DONE]":
                done = True
            elif line.startswith("data: "):
                chunk = json.loads(line[6:])
                text.extend(choice["delta"].get("content") or "" for choice in chunk.get("choices", []))
        return (r.status_code if done else -1), "".join(text)


def all_at_once(stack: LiveStack, key: str, one) -> tuple[list[tuple[int, str]], float]:
    async def main() -> list[tuple[int, str]]:
        limits = httpx.Limits(max_connections=CALLS, max_keepalive_connections=CALLS)
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:
            url = stack.base_url + "/v1/chat/completions"
            return await asyncio.gather(*(one(http, url, key, n) for n in range(CALLS)))

    started = time.monotonic()
    results = asyncio.run(main())
    return results, time.monotonic() - started


def test_two_hundred_concurrent_calls_to_a_one_second_upstream_all_succeed_through_one_worker(
    services_stack, upstream, key, one_worker
):
    upstream.reset()

    results, elapsed = all_at_once(services_stack, key, call)

    assert Counter(status for status, _ in results) == {200: CALLS}
    assert [text for _, text in results] == [f'You said: "question {n}"' for n in range(CALLS)]
    assert len(upstream.requests) == CALLS  # each one reached the upstream: nothing was answered from a cache
    assert elapsed < BOUND_SECONDS


def test_two_hundred_concurrent_streams_from_a_one_second_upstream_all_complete_through_one_worker(
    services_stack, upstream, key, one_worker
):
    upstream.reset()

    results, elapsed = all_at_once(services_stack, key, stream)

    assert Counter(status for status, _ in results) == {200: CALLS}
    assert [text for _, text in results] == [f'You said: "question {n}"' for n in range(CALLS)]
    assert len(upstream.requests) == CALLS
    assert elapsed < BOUND_SECONDS
