"""Metering with live processes: nothing lost or doubled when a flusher or a worker dies, and
budgets and rate limits that hold under concurrency across two gateway processes."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

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

# Celery's "Task received" line (off by default) tells when the worker took a call.
STACK_ENV = {"GATEWAY_REQUEST_DEADLINE_SECONDS": "10", "GUNICORN_THREADS": "48", "CELERY_TASK_LOG_LEVEL": "INFO"}

SETUP = """
from decimal import Decimal
from tests.factories import approve
from genai_platform.metering.services import budget_set, rate_limit_set
from lob_tenants.models import Lob
account = provider_account_upsert(name="meter-sandbox", provider="sandbox")
model = model_upsert(name="meter-model", max_output_tokens=100)
fast = deployment_upsert(name="fast", account=account, model=model, provider_model_id="f",
                         input_price_per_million=Decimal("1"), output_price_per_million=Decimal("2"))
slow = deployment_upsert(name="slow", account=account, model=model, provider_model_id="s",
                         options={"latency_ms": 3000})
lob = Lob.objects.get(slug="demo-retail")
keys = {}
for name, alias in [("budgeted", "fast"), ("limited", "fast"), ("plain", "fast"), ("slow", "slow")]:
    use_case = UseCase.objects.create(lob=lob, slug=f"meter-{name}", name=name, status="approved")
    use_case.aliases.add(alias_upsert(name=alias, deployments=[fast if alias == "fast" else slow]))
    approve(use_case)
    keys[name] = api_key_issue(use_case=use_case, name=name, environment="production")[1]
    if name == "budgeted":
        budget_set(use_case=use_case, monthly_limit_usd=Decimal("0.002"), thresholds=[])
    if name == "limited":
        rate_limit_set(use_case=use_case, requests_per_minute=25)
result = keys
"""

LEDGER = """
from django.db.models import Sum, Count
from genai_platform.metering.models import UsageRecord
rows = UsageRecord.objects.filter(use_case__slug=USE_CASE)
result = {
    "count": rows.count(),
    "distinct": rows.values("request_id").distinct().count(),
    "cost": str(rows.aggregate(total=Sum("cost"))["total"] or 0),
    "statuses": dict(rows.values_list("status").annotate(n=Count("id"))),
    "request_ids": sorted(rows.values_list("request_id", flat=True)),
}
"""


@pytest.fixture(scope="module")
def keys(services_stack: LiveStack) -> dict[str, str]:
    return catalog_setup(services_stack, SETUP)


@pytest.fixture(scope="module")
def second_gateway(services_stack: LiveStack):
    port = free_port()
    log = services_stack.logs / "gateway-2.log"
    with running(gateway_args(port), services_stack.env, log) as process:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url, process, log)
        yield url


def ask(base_url: str, key: str, model: str = "fast", **extra) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "meter this"}], "max_tokens": 50, **extra}
    return httpx.post(
        f"{base_url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


def ledger(stack: LiveStack, use_case: str) -> dict:
    return catalog_setup(stack, f"USE_CASE = {use_case!r}\n" + LEDGER)


def flush(stack: LiveStack, claim_idle_ms: int = 0) -> None:
    manage(stack.env, "flush_usage", "--claim-idle-ms", str(claim_idle_ms))


def test_a_flusher_killed_between_reading_and_committing_loses_nothing(services_stack, sandbox_worker, keys):
    answered = [ask(services_stack.base_url, keys["plain"]) for _ in range(12)]
    assert all(r.status_code == 200 for r in answered)
    # A flusher reads the whole buffer and dies before its commit.
    doomed = (
        "import os\n"
        "from genai_platform.metering.ledger import usage_buffer\n"
        "batch = usage_buffer().read_batch(consumer='doomed', count=1000, claim_idle_ms=60000)\n"
        "assert len(batch) >= 12, len(batch)\n"
        "os._exit(17)\n"
    )
    crashed = manage_raw(services_stack, doomed)
    assert crashed == 17

    flush(services_stack, claim_idle_ms=0)

    totals = ledger(services_stack, "meter-plain")
    assert totals["count"] == totals["distinct"] == 12
    assert sorted(r.headers["x-request-id"] for r in answered) == totals["request_ids"]
    expected = sum(Decimal(r.headers["x-genai-cost-usd"]) for r in answered)
    assert abs(Decimal(totals["cost"]) - expected) < Decimal("0.00000001") * 12


def test_a_flusher_killed_after_committing_but_before_acknowledging_counts_nothing_twice(
    services_stack, sandbox_worker, keys
):
    before = ledger(services_stack, "meter-plain")["count"]
    answered = [ask(services_stack.base_url, keys["plain"]) for _ in range(5)]
    doomed = (
        "import os\n"
        "from genai_platform.metering.ledger import usage_buffer\n"
        "from genai_platform.ledger.services import usage_records_write\n"
        "batch = usage_buffer().read_batch(consumer='doomed', count=1000, claim_idle_ms=60000)\n"
        "usage_records_write([event for _, event in batch])\n"
        "os._exit(17)\n"
    )
    assert manage_raw(services_stack, doomed) == 17

    flush(services_stack, claim_idle_ms=0)

    totals = ledger(services_stack, "meter-plain")
    assert totals["count"] == totals["distinct"] == before + len(answered)


def test_a_worker_killed_mid_invocation_leaves_one_record_for_the_answered_request(services_stack, keys):
    log = services_stack.logs / "doomed-worker.log"
    with (
        running(worker_args("doomed", concurrency=1), services_stack.env, log) as worker,
        ThreadPoolExecutor(1) as pool,
    ):
        pending = pool.submit(ask, services_stack.base_url, keys["slow"], "slow")
        wait_for(lambda: "router.invoke_provider[" in log.read_text(), what="the worker to take the call")
        os.killpg(worker.pid, signal.SIGKILL)
        answer = pending.result()
    assert answer.status_code == 504

    flush(services_stack)

    totals = ledger(services_stack, "meter-slow")
    assert totals["request_ids"] == [answer.headers["x-request-id"]]
    assert totals["statuses"] == {"provider_error": 1}


def test_concurrent_requests_across_two_gateways_never_spend_beyond_the_budget(services_stack, second_gateway, keys):
    worker_log = services_stack.logs / "budget-worker.log"
    gateways = [services_stack.base_url, second_gateway]
    with (
        consuming_worker(worker_args("budget", concurrency=8), services_stack.env, worker_log),
        ThreadPoolExecutor(48) as pool,
    ):
        answers = list(pool.map(lambda i: ask(gateways[i % 2], keys["budgeted"]), range(300)))
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {200, 429}
    assert statuses.count(429) > 0
    assert all(a.json()["error"]["code"] == "budget_exceeded" for a in answers if a.status_code == 429)

    flush(services_stack)

    totals = ledger(services_stack, "meter-budgeted")
    assert totals["count"] == 300
    assert Decimal(totals["cost"]) <= Decimal("0.002")


def test_a_rate_limit_holds_within_one_request_across_two_gateways(services_stack, second_gateway, keys):
    gateways = [services_stack.base_url, second_gateway]
    worker_log = services_stack.logs / "limit-worker.log"
    with (
        consuming_worker(worker_args("limit", concurrency=8), services_stack.env, worker_log),
        ThreadPoolExecutor(48) as pool,
    ):
        answers = list(pool.map(lambda i: ask(gateways[i % 2], keys["limited"]), range(100)))

    statuses = [a.status_code for a in answers]
    assert statuses.count(200) == 25
    assert statuses.count(429) == 75
    assert all(1 <= int(a.headers["retry-after"]) <= 61 for a in answers if a.status_code == 429)


BOUNDARY_SETUP = """
from tests.factories import approve
from genai_platform.metering.services import rate_limit_set
from lob_tenants.models import Lob
from model_catalog.models import Alias
use_case = UseCase.objects.create(lob=Lob.objects.get(slug="demo-retail"), slug="meter-boundary", name="boundary",
                                  status="approved")
use_case.aliases.add(Alias.objects.get(name="fast"))
approve(use_case)
rate_limit_set(use_case=use_case, requests_per_minute=10)
result = api_key_issue(use_case=use_case, name="boundary", environment="production")[1]
"""


def test_two_gateways_across_a_minute_boundary_never_admit_more_than_the_limit(services_stack, second_gateway, keys):
    # The clock-minute limiter admitted 60 calls in 2.5 s against 30 per minute across a boundary.
    key = catalog_setup(services_stack, BOUNDARY_SETUP)
    worker_log = services_stack.logs / "boundary-worker.log"
    with consuming_worker(worker_args("boundary", concurrency=4), services_stack.env, worker_log):
        wait_for(lambda: time.time() % 60 >= 57, timeout=65, what="the last seconds of a clock minute")
        before = [ask(services_stack.base_url, key) for _ in range(10)]
        wait_for(lambda: time.time() % 60 < 5, timeout=10, what="the next clock minute")
        after = [ask(second_gateway, key) for _ in range(10)]

    assert [a.status_code for a in before] == [200] * 10
    assert [a.status_code for a in after] == [429] * 10
    assert all(50 <= int(a.headers["retry-after"]) <= 61 for a in after)
    assert all(a.headers["x-ratelimit-remaining-requests"] == "0" for a in after)


def manage_raw(stack: LiveStack, code: str) -> int:
    import subprocess

    from .conftest import BIN, ROOT

    done = subprocess.run(
        [str(BIN / "python"), "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode
