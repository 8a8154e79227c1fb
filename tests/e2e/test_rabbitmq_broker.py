"""RabbitMQ as the broker: the same product with `CELERY_BROKER_URL=amqp://…`, each provider queue a
quorum queue, and a worker killed in the middle of a call costing its caller neither the answer nor
a second charge. Each module run gets a virtual host of its own, removed afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import uuid
from collections.abc import Iterator

import httpx
import openai
import pytest

from .conftest import LiveStack, catalog_setup, consuming_worker, manage, wait_for, worker_args

pytestmark = pytest.mark.e2e

RABBITMQ = os.environ.get("E2E_RABBITMQ", "guest:guest@127.0.0.1:5672")

SETUP = """
from tests.factories import approve
from lob_tenants.models import Lob
account = provider_account_upsert(name="rabbit-sandbox", provider="sandbox")
model = model_upsert(name="rabbit-model", max_output_tokens=100)
slow = deployment_upsert(name="rabbit-slow", account=account, model=model, provider_model_id="s",
                         options={"latency_ms": 4000})
use_case = UseCase.objects.create(lob=Lob.objects.get(slug="demo-retail"), slug="rabbit-slow", name="slow",
                                  status="approved")
use_case.aliases.add(alias_upsert(name="rabbit-slow", deployments=[slow]))
approve(use_case)
result = api_key_issue(use_case=use_case, name="slow", environment="production")[1]
"""

LEDGER = """
from genai_platform.metering.models import UsageRecord
result = list(UsageRecord.objects.filter(request_id=REQUEST_ID).values_list("status", flat=True))
"""


def rabbitmqctl(*args: str) -> str:
    done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def stack_env() -> Iterator[dict[str, str]]:
    vhost = f"genai_e2e_{uuid.uuid4().hex[:8]}"
    user = RABBITMQ.split(":", 1)[0]
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
    try:
        yield {"CELERY_BROKER_URL": f"amqp://{RABBITMQ}/{vhost}", "GATEWAY_REQUEST_DEADLINE_SECONDS": "30"}
    finally:
        rabbitmqctl("delete_vhost", vhost)


@pytest.fixture
def amqp_worker(services_stack: LiveStack) -> Iterator[subprocess.Popen]:
    with consuming_worker(worker_args("rabbit"), services_stack.env, services_stack.logs / "worker.log") as worker:
        yield worker


def client_for(stack: LiveStack) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.base_url + "/v1", api_key=stack.demo["api_key"], max_retries=0, timeout=60)


def queue_types(stack: LiveStack) -> dict[str, str]:
    vhost = stack.env["CELERY_BROKER_URL"].rsplit("/", 1)[1]
    listed = rabbitmqctl("list_queues", "-p", vhost, "--no-table-headers", "name", "type")
    return dict(line.split() for line in listed.splitlines() if line.strip())


def test_the_sdk_gets_a_completion_and_a_stream_through_rabbitmq(services_stack, amqp_worker):
    client = client_for(services_stack)

    reply = client.chat.completions.create(
        model=services_stack.demo["model"], messages=[{"role": "user", "content": "over amqp"}]
    )
    stream = client.chat.completions.create(
        model=services_stack.demo["model"], messages=[{"role": "user", "content": "streamed over amqp"}], stream=True
    )

    assert reply.choices[0].message.content == '[sandbox] You said: "over amqp"'
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == '[sandbox] You said: "streamed over amqp"'


def test_provider_queues_are_quorum_queues(services_stack, amqp_worker):
    types = queue_types(services_stack)

    assert types["provider.sandbox"] == "quorum"
    assert types["platform"] == "quorum"


def test_a_worker_killed_mid_call_is_replaced_and_the_call_is_answered_and_billed_once(services_stack):
    key = catalog_setup(services_stack, SETUP)
    log = services_stack.logs / "doomed-worker.log"
    answer: dict[str, httpx.Response] = {}

    def call() -> None:
        answer["response"] = httpx.post(
            f"{services_stack.base_url}/v1/chat/completions",
            json={"model": "rabbit-slow", "messages": [{"role": "user", "content": "survive this"}]},
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        )

    with consuming_worker(worker_args("doomed"), services_stack.env, log) as doomed:
        caller = threading.Thread(target=call)
        caller.start()
        wait_for(lambda: "router.invoke_provider" in log.read_text(), what="the doomed worker to take the call")
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait()

    # The unacknowledged invocation goes back to the quorum queue and a new worker takes it.
    with consuming_worker(worker_args("rescuer"), services_stack.env, services_stack.logs / "rescuer.log"):
        caller.join(timeout=60)

    response = answer["response"]
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == '[sandbox] You said: "survive this"'
    manage(services_stack.env, "flush_usage", "--claim-idle-ms", "0")
    request_id = response.headers["x-request-id"]
    statuses = catalog_setup(services_stack, f"REQUEST_ID = {request_id!r}\n" + LEDGER)
    assert statuses == ["success"]
