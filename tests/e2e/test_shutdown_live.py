"""A gateway stopped (SIGTERM) while 20 streams are open: it stops accepting, lets streams run until
the drain deadline (graceful timeout less a margin), then ends the rest with an error event and
[DONE]; every call that started is metered with what it delivered (docs/reliability.md)."""

from __future__ import annotations

import json
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from .conftest import (
    LiveStack,
    catalog_setup,
    consuming_worker,
    free_port,
    gateway_args,
    manage,
    running,
    wait_for,
    wait_until_serving,
    worker_args,
)

pytestmark = pytest.mark.e2e

STREAMS = 20
# A short graceful timeout keeps the test quick; the drain margin is the production default.
GATEWAY_ENV = {"GUNICORN_GRACEFUL_TIMEOUT": "6", "GATEWAY_DRAIN_MARGIN_SECONDS": "3"}
STACK_ENV = {"GATEWAY_REQUEST_DEADLINE_SECONDS": "120"}  # a deadline over the whole stream

SETUP = """
from tests.factories import approve
from lob_tenants.models import Lob
account = provider_account_upsert(name="drain-sandbox", provider="sandbox")
model = model_upsert(name="drain-model", max_output_tokens=400)
slow = deployment_upsert(name="drain-slow", account=account, model=model, provider_model_id="d",
                         options={"stream_chunk_delay_ms": 1000, "stream_chunk_chars": 40})
use_case = UseCase.objects.create(lob=Lob.objects.get(slug="demo-retail"), slug="drain", name="drain",
                                  status="approved")
use_case.aliases.add(alias_upsert(name="drain-slow", deployments=[slow]))
approve(use_case)
result = api_key_issue(use_case=use_case, name="drain", environment="production")[1]
"""

LEDGER = """
from genai_platform.metering.models import UsageRecord
result = {r.request_id: [r.status, r.error_code, r.output_tokens]
          for r in UsageRecord.objects.filter(use_case__slug="drain")}
"""


def stream(base_url: str, key: str, first_text: threading.Barrier) -> dict:
    """One streamed completion, read to its end; says how it ended. Waits at `first_text` once some
    of the answer arrived (so every call has delivered tokens to meter)."""
    # The sandbox echoes it: ~22 pieces of 40 characters, 22 s at 1 s (few, so the 20 streams cost
    # little CPU on a busy machine). The output guardrails hold back a window
    # of text, so the client gets the answer in a few larger pieces, seconds apart: between two of
    # them a stream is waiting, which is when the drain deadline must still end it.
    words = " ".join(f"word{i}" for i in range(120))
    body = {"model": "drain-slow", "stream": True, "messages": [{"role": "user", "content": words}]}
    frames: list[str] = []
    with httpx.stream(
        "POST", f"{base_url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=120
    ) as response:
        request_id = response.headers["x-request-id"]
        for line in response.iter_lines():
            if line.startswith("data: "):
                frames.append(line.removeprefix("data: "))
                if '"content":"[sandbox]' in frames[-1]:
                    first_text.wait(timeout=90)
    last_documents = [json.loads(frame) for frame in frames[-2:-1] if frame != "[DONE]"]
    return {
        "request_id": request_id,
        "done": frames[-1:] == ["[DONE]"],
        "error": next((d["error"]["code"] for d in last_documents if "error" in d), None),
        "finished": any('"finish_reason":"stop"' in frame or '"finish_reason":"length"' in frame for frame in frames),
    }


@pytest.fixture
def threaded_worker(services_stack: LiveStack):
    """A worker that runs all 20 streams at once (threads: they wait on the sandbox's delays)."""
    args = [*worker_args("drain", concurrency=STREAMS + 4), "--pool", "threads"]
    with consuming_worker(args, services_stack.env, services_stack.logs / "worker-drain.log") as worker:
        yield worker


def test_a_gateway_stopped_during_20_streams_ends_each_cleanly_and_meters_all(services_stack, threaded_worker):
    key = catalog_setup(services_stack, SETUP)
    port = free_port()
    log = services_stack.logs / "gateway-drain.log"
    with running(gateway_args(port), {**services_stack.env, **GATEWAY_ENV}, log) as gateway:
        base_url = f"http://127.0.0.1:{port}"
        wait_until_serving(base_url, gateway, log)
        first_text = threading.Barrier(STREAMS + 1)
        with ThreadPoolExecutor(STREAMS) as pool:
            futures = [pool.submit(stream, base_url, key, first_text) for _ in range(STREAMS)]
            first_text.wait(timeout=90)  # every stream has delivered some of its answer
            os.kill(gateway.pid, signal.SIGTERM)
            outcomes = [future.result(timeout=90) for future in futures]
        gateway.wait(timeout=30)
        cut_by_uvicorn = "timeout graceful shutdown exceeded" in log.read_text()

    assert all(outcome["done"] for outcome in outcomes), outcomes
    assert all(outcome["finished"] or outcome["error"] == "gateway_shutdown" for outcome in outcomes), outcomes
    assert any(outcome["error"] == "gateway_shutdown" for outcome in outcomes)  # 22 s streams, 3 s of drain
    assert not cut_by_uvicorn  # the drain ended every stream before the server's own last resort

    def metered():
        manage(services_stack.env, "flush_usage", "--claim-idle-ms", "0")
        rows = catalog_setup(services_stack, LEDGER)
        return rows if len(rows) >= STREAMS else None

    rows = wait_for(metered, timeout=60, what="every stream's usage record")
    assert sorted(rows) == sorted(outcome["request_id"] for outcome in outcomes)
    assert all(output_tokens > 0 for _, _, output_tokens in rows.values())  # what each delivered
    cut = {outcome["request_id"] for outcome in outcomes if outcome["error"] == "gateway_shutdown"}
    # Waiting for its next piece at the deadline, or cut at its next wait once the piece being
    # written went out: each recorded as ended by the shutdown, as its client saw it.
    assert all(rows[request_id][:2] == ["cancelled", "gateway_shutdown"] for request_id in cut), rows
