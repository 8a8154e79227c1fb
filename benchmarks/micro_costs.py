"""CPU cost of single steps on the gateway and worker path, measured in isolation.

The load benchmark (`gateway_load.py`) says how much CPU a call costs in each process; py-spy says
where; this script puts a number on the suspects, each against its cheaper alternative:

- a Django cache read (`django.core.cache` with the Redis backend) vs the same GET on a kept client;
- constructing `redis.Redis(connection_pool=...)`, which Django's Redis backend does per operation;
- enqueueing `router.invoke_provider` with Celery's `apply_async` (also with `argsrepr`/`kwargsrepr`
  given, which skips Celery's `saferepr` of the arguments) vs one raw LPUSH of a message;
- one chat call through the `openai` SDK adapter vs a plain keep-alive `http.client` POST;
- validating a chat request body with the gateway's pydantic schema;
- the gateway's Redis steps of a call: reading deployment health (from Redis, or from the process's
  copy), and settling the reservation and buffering the usage record (apart, or in one pipeline).

It starts its own mock upstream, uses Redis DBs 10 and 11 (flushed before and after, as the load
benchmark does) and no database. CPU time is `time.process_time()` per operation, in microseconds.

    .venv/bin/python benchmarks/micro_costs.py [--iterations 2000]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import pickle
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REDIS_BASE = os.environ.get("BENCH_REDIS_BASE", "redis://127.0.0.1:6379")
BROKER_DB, CACHE_DB = 10, 11
API_KEY = "sk-micro-costs"


def cost(label: str, operation: Callable[[], object], iterations: int) -> float:
    """Microseconds of process CPU per call of `operation` (after a short warm-up)."""
    for _ in range(min(50, iterations)):
        operation()
    started = time.process_time()
    for _ in range(iterations):
        operation()
    micros = (time.process_time() - started) / iterations * 1e6
    print(f"  {label:<66} {micros:9.1f} us", flush=True)
    return micros


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def mock_upstream() -> object:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "mock_upstream.py"), "--port", str(port), "--api-key", API_KEY],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(10)


def gateway_redis_steps(url: str, n: int) -> dict[str, float]:
    """The gateway's Redis steps around a call: reading deployment health, and after the reply
    settling the reservation and buffering the usage record (issue 13's third pass)."""
    import datetime as dt

    from genai_platform.metering.ledger import RedisStreamBuffer
    from genai_platform.metering.limits import Admission, BudgetScope, LimitPolicy, RedisLimitStore, current_month
    from genai_platform.router.health import RedisHealthStore

    results: dict[str, float] = {}
    print("reading deployment health (plan_attempts, every call)")
    deployments = ["micro-a", "micro-b"]
    every_call = RedisHealthStore(url, freshness_seconds=0)
    kept = RedisHealthStore(url, freshness_seconds=3600)
    results["health_snapshot_read"] = cost(
        "HGETALL + MGET pipeline (read on every call)", lambda: every_call.snapshot(deployments), n
    )
    results["health_snapshot_kept"] = cost(
        "the process's copy (within ROUTER_HEALTH_FRESHNESS_SECONDS)", lambda: kept.snapshot(deployments), n
    )

    print("after the reply: settle the reservation, buffer the usage record")
    store, buffer = RedisLimitStore(url), RedisStreamBuffer(url)
    budget = BudgetScope(budget_id=1, name="use_case", id=1, limit_nanos=10**12, hard=True, thresholds=(50, 80, 100))
    policy, month = LimitPolicy(budgets=(budget,)), current_month()
    store.admit(policy, tokens=0, reserve_nanos=0, rebuild=lambda *_: 0)  # the budget counter exists
    event = {
        "request_id": "req_" + "0" * 32,
        "occurred_at": dt.datetime.now(dt.UTC).isoformat(),
        "lob_id": 1,
        "use_case_id": 1,
        "lob_slug": "micro",
        "endpoint": "chat",
        "input_tokens": 12,
        "output_tokens": 6,
        "cost": "0.000024",
        "status": "success",
    }

    def admission() -> Admission:
        return Admission(month=month, window=int(time.time()), reserved_nanos=1_000, counted_tokens=0)

    def apart() -> None:
        store.settle(policy, admission(), actual_tokens=18, actual_nanos=24)
        buffer.append(event)

    def together() -> None:
        call = store.settle_call(policy, admission(), actual_tokens=18, actual_nanos=24)
        assert call is not None
        call.result(buffer.append(event, along=call))

    results["settle_then_xadd"] = cost("settlement EVALSHA, then XADD + GET epoch/watermark (2 round trips)", apart, n)
    results["settle_with_xadd"] = cost("the same in one pipeline (1 round trip)", together, n)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000)
    args = parser.parse_args(argv)
    n = args.iterations

    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "genai_platform.settings",
            "REDIS_URL": f"{REDIS_BASE}/{CACHE_DB}",
            "CELERY_BROKER_URL": f"{REDIS_BASE}/{BROKER_DB}",
            "DJANGO_DEBUG": "false",
            "LOG_LEVEL": "WARNING",
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import redis
    from django.core.cache import cache

    from genai_platform.gateway.schemas import ChatCompletionIn, parse_body
    from genai_platform.providers.types import AccountConfig, ChatRequest, Message
    from genai_platform.router.tasks import invoke_provider

    raw = redis.Redis.from_url(f"{REDIS_BASE}/{CACHE_DB}")
    broker = redis.Redis.from_url(f"{REDIS_BASE}/{BROKER_DB}")
    raw.flushdb()
    broker.flushdb()
    results: dict[str, float] = {}
    try:
        print(f"CPU per operation ({n} iterations each)")
        print("cache reads (a hit of a small pickled value)")
        cache.set("micro:key", {"principal": "x" * 200}, timeout=300)
        raw_key = cache.make_and_validate_key("micro:key")
        results["django_cache_get"] = cost(
            "django cache.get (RedisCache: new redis.Redis per call)", lambda: cache.get("micro:key"), n
        )

        def raw_get() -> object:
            value = raw.get(raw_key)
            assert value is not None, "the cached value vanished: is something else flushing Redis DB 11?"
            return pickle.loads(value)  # noqa: S301 - our own value

        results["raw_redis_get"] = cost("redis-py GET + pickle.loads on a kept client", raw_get, n)
        pool = raw.connection_pool
        results["redis_client_init"] = cost(
            "redis.Redis(connection_pool=pool) construction alone", lambda: redis.Redis(connection_pool=pool), n
        )

        print("enqueueing an invocation")
        invocation = {
            "id": "0" * 32,
            "request_id": "req_" + "0" * 32,
            "kind": "chat",
            "deadline": time.time() + 3600,
            "target": {
                "deployment": "bench",
                "provider": "openai_compatible",
                "region": "",
                "endpoint": "http://127.0.0.1:1/v1",
                "credentials_ref": {"api_key": "env:X"},
                "options": {},
                "timeout_seconds": 30.0,
            },
            "request": {"model": "m", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 16},
        }
        results["celery_apply_async"] = cost(
            "celery invoke_provider.apply_async(queue=..., expires=...)",
            lambda: invoke_provider.apply_async(args=[invocation], queue="micro.costs", expires=60),
            n,
        )
        results["celery_apply_async_reprs_given"] = cost(
            "the same with argsrepr/kwargsrepr given (no saferepr of the dict)",
            lambda: invoke_provider.apply_async(
                args=[invocation], queue="micro.costs", expires=60, argsrepr="[invocation]", kwargsrepr="{}"
            ),
            n,
        )
        results["celery_apply_async_no_declare"] = cost(
            "the same with declare=[] (what router/dispatch.py sends on Redis)",
            lambda: invoke_provider.apply_async(
                args=[invocation], queue="micro.costs", expires=60, argsrepr="[invocation]", kwargsrepr="{}", declare=[]
            ),
            n,
        )
        body = json.dumps(invocation)
        results["raw_lpush"] = cost("redis-py LPUSH of the JSON invocation", lambda: broker.lpush("micro.raw", body), n)
        broker.delete("micro.costs", "micro.raw")

        results.update(gateway_redis_steps(f"{REDIS_BASE}/{CACHE_DB}", n))

        print("validating the request body")
        request_body = json.dumps(
            {"model": "bench-chat", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 16}
        ).encode()
        results["pydantic_parse"] = cost(
            "parse_body(ChatCompletionIn, body) + to_chat_request()",
            lambda: parse_body(ChatCompletionIn, request_body).to_chat_request(),
            n,
        )

        with mock_upstream() as port:
            print("one upstream chat call (mock upstream; its own CPU is not counted)")
            try:
                from genai_platform.providers.openai_compatible import OpenAICompatibleAdapter
            except ImportError as exc:
                print(f"  (openai_compatible adapter not importable: {exc})")
            else:
                adapter = OpenAICompatibleAdapter(
                    AccountConfig(
                        provider="openai_compatible",
                        region="",
                        endpoint=f"http://127.0.0.1:{port}/v1",
                        credentials={"api_key": API_KEY},
                        options={},
                        timeout_seconds=30.0,
                    )
                )
                request = ChatRequest(model="bench-model", messages=(Message("user", "Say hello."),), max_tokens=16)
                results["openai_sdk_chat"] = cost(
                    "OpenAICompatibleAdapter.chat() (SDK client post + json.loads)",
                    lambda: adapter.chat(request),
                    n // 2,
                )
            connection = http.client.HTTPConnection("127.0.0.1", port)
            payload = json.dumps(
                {"model": "bench-model", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 16}
            )
            headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}

            def plain_post() -> object:
                connection.request("POST", "/v1/chat/completions", body=payload, headers=headers)
                return json.loads(connection.getresponse().read())

            results["http_client_chat"] = cost("http.client keep-alive POST + json.loads", plain_post, n // 2)
            connection.close()
    finally:
        raw.flushdb()
        broker.flushdb()
    print(json.dumps({k: round(v, 1) for k, v in results.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
