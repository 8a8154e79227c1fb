"""A worker killed (kill -9) while it holds calls it has not started: prefetched behind a busy call,
handed over by the Redis broker, which would redeliver them only after its visibility timeout
(minutes). The worker marks each call held from Celery's `task_received` (router/liveness.py), so
the gateway notices them lost within seconds and dispatches them again to the spare worker: no
caller waits for its deadline, and each call is billed once (docs/reliability.md).

The upstream (an OpenAI-compatible fake on 127.0.0.1) holds every answer until the test releases
it, so at the kill the holder is running one call and holding three, and the spare is busy with
four: nothing depends on timing."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.fakes.openai_wire import OpenAIWireFake
from tests.fakes.server import RecordedRequest

from .conftest import LiveStack, catalog_setup, consuming_worker, manage, wait_for, worker_args

pytestmark = pytest.mark.e2e

DEADLINE_SECONDS = 30
CALLS = 8
HOLDER_PREFETCH = 4  # one thread: one call running, three waiting in the worker
SPARE_THREADS = 4  # prefetch 1: exactly as many calls as it runs, so the eight calls split 4 + 4
UPSTREAM_KEY_VARIABLE = "E2E_RESERVED_UPSTREAM_KEY"
# Celery's "Task received" line (off by default) counts what each worker took.
STACK_ENV = {"GATEWAY_REQUEST_DEADLINE_SECONDS": str(DEADLINE_SECONDS), "CELERY_TASK_LOG_LEVEL": "INFO"}

SETUP = """
from tests.factories import approve
from lob_tenants.models import Lob
account = provider_account_upsert(
    name="reserved-upstream", provider="openai_compatible", endpoint=ENDPOINT,
    credentials_ref={"api_key": "env:E2E_RESERVED_UPSTREAM_KEY"}, timeout_seconds=60,
)
model = model_upsert(name="reserved-model")
deployment = deployment_upsert(name="reserved-upstream", account=account, model=model, provider_model_id="gpt-4o-mini")
use_case = UseCase.objects.create(lob=Lob.objects.get(slug="demo-retail"), slug="reserved", name="reserved",
                                  status="approved")
use_case.aliases.add(alias_upsert(name="reserved-model", deployments=[deployment]))
approve(use_case)
result = api_key_issue(use_case=use_case, name="reserved", environment="production")[1]
"""

LEDGER = """
from genai_platform.metering.models import UsageRecord
result = [[r.request_id, r.status] for r in UsageRecord.objects.filter(use_case__slug="reserved")]
"""


class GatedUpstream(OpenAIWireFake):
    """Holds every answer from `hold()` until `release()`: a model still thinking when the worker dies."""

    def __init__(self) -> None:
        self._gate = threading.Event()
        self._gate.set()
        self._lock = threading.Lock()
        self.waiting = 0
        super().__init__()

    def hold(self) -> None:
        with self._lock:
            self.waiting = 0
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    def _handle(self, request: RecordedRequest):  # type: ignore[override]
        with self._lock:
            self.waiting += 1
        self._gate.wait(timeout=DEADLINE_SECONDS * 2)  # bounded: a failed test must not hang
        return super()._handle(request)


@pytest.fixture(scope="module")
def upstream() -> Iterator[GatedUpstream]:
    with GatedUpstream() as fake:
        yield fake


@pytest.fixture
def holding_upstream(upstream: GatedUpstream) -> Iterator[GatedUpstream]:
    upstream.hold()
    try:
        yield upstream
    finally:
        upstream.release()


@pytest.fixture(scope="module")
def key(services_stack: LiveStack, upstream: GatedUpstream) -> str:
    return catalog_setup(services_stack, f"ENDPOINT = {upstream.url!r}\n" + SETUP)


@pytest.fixture(params=["threads", "prefork"])
def holder_and_spare(request, services_stack: LiveStack, upstream: GatedUpstream):
    """The holder (one thread, or one pool process under prefork, where the parent receives and its
    child runs; prefetch 4) and the spare (four threads, prefetch 1) on the queue:
    `{name: (process, log)}`."""
    env = {**services_stack.env, UPSTREAM_KEY_VARIABLE: upstream.api_key}
    queue = "provider.openai_compatible"
    holder_args = worker_args("holder", queue=queue, concurrency=1, pool=request.param)
    holder_args[holder_args.index("--prefetch-multiplier") + 1] = str(HOLDER_PREFETCH)
    logs = {name: services_stack.logs / f"worker-{name}-{time.monotonic_ns()}.log" for name in ("holder", "spare")}
    with (
        consuming_worker(holder_args, env, logs["holder"]) as holder,
        consuming_worker(worker_args("spare", queue=queue, concurrency=SPARE_THREADS), env, logs["spare"]) as spare,
    ):
        yield {"holder": (holder, logs["holder"]), "spare": (spare, logs["spare"])}


def received(log) -> int:
    return log.read_text().count("router.invoke_provider[")


def test_calls_a_killed_worker_held_unstarted_are_answered_by_the_spare_well_before_the_deadline_and_billed_once(
    services_stack, holding_upstream, key, holder_and_spare
):
    upstream = holding_upstream
    holder, holder_log = holder_and_spare["holder"]
    spare_log = holder_and_spare["spare"][1]

    def call(n: int) -> httpx.Response:
        body = {"model": "reserved-model", "messages": [{"role": "user", "content": f"reserved call {n}"}]}
        return httpx.post(
            f"{services_stack.base_url}/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {key}"},
            timeout=DEADLINE_SECONDS + 30,
        )

    with ThreadPoolExecutor(CALLS) as pool:
        pending = [pool.submit(call, n) for n in range(CALLS)]
        # Every call is in a worker: four running at the upstream (the spare's) plus the holder's one,
        # and the holder's other three received but not started.
        wait_for(lambda: upstream.waiting == 1 + SPARE_THREADS, timeout=60, what="five calls at the upstream")
        wait_for(lambda: received(holder_log) + received(spare_log) == CALLS, timeout=30, what="all calls received")
        assert received(holder_log) == HOLDER_PREFETCH

        os.killpg(holder.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        upstream.release()
        answers = [future.result() for future in pending]
        took = time.monotonic() - killed_at

    assert [answer.status_code for answer in answers] == [200] * CALLS, [answer.text for answer in answers]
    for n, answer in enumerate(answers):
        assert answer.json()["choices"][0]["message"]["content"] == f'You said: "reserved call {n}"'
    # Noticing the loss takes ROUTER_WORKER_LOST_AFTER_SECONDS (3) and a beat; the deadline is 30 s.
    assert took < DEADLINE_SECONDS / 2, took
    # The holder's four were dispatched again; the spare's four answered at the first attempt.
    assert Counter(answer.headers["x-genai-attempts"] for answer in answers) == {"1": SPARE_THREADS, "2": 4}

    request_ids = {answer.headers["x-request-id"] for answer in answers}

    def billed() -> list | None:
        manage(services_stack.env, "flush_usage", "--claim-idle-ms", "0")
        rows = [row for row in catalog_setup(services_stack, LEDGER) if row[0] in request_ids]
        return rows if len(rows) >= CALLS else None

    rows = wait_for(billed, timeout=60, what="every call's usage record")
    assert sorted(rows) == sorted([request_id, "success"] for request_id in request_ids)  # once each
