"""Time from start to first answer: the gateway and one provider worker started together, as
`make up` starts them (deploy/Procfile.local), on a database already migrated and seeded, until
the first `POST /v1/chat/completions` through them answers 200.

    .venv/bin/python benchmarks/startup.py                # 3 cold starts, the median reported
    .venv/bin/python benchmarks/startup.py --runs 5 --gunicorn-workers 1

Like `gateway_load.py` (whose helpers it uses) it needs PostgreSQL and Redis on 127.0.0.1, makes a
throw-away database and uses Redis dbs BENCH_BROKER_DB / BENCH_CACHE_DB (10 / 11 by default),
flushed before and after. Each run starts both processes from nothing (new interpreters, no warm
state in Redis but the catalog in PostgreSQL), polls every 20 ms, and stops them. Reports, per run:
when /healthz first answered, when the first chat completion answered, the CPU both processes had
used by then, and their RSS. The load average is printed beside the numbers: on a shared 2-core
machine the wall time follows the other programs' load.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gateway_load as bench


def _answers(url: str, body: bytes, headers: dict[str, str]) -> bool:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status == 200
    except (OSError, urllib.error.HTTPError):
        return False


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback
            return response.status == 200
    except OSError:
        return False


def one_start(
    env: dict[str, str],
    worker_env: dict[str, str],
    world: dict[str, Any],
    workdir: Path,
    run: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    port = bench.free_port()
    base = f"http://127.0.0.1:{port}"
    body = json.dumps(
        {"model": world["alias"], "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 16}
    ).encode()
    headers = {"Authorization": f"Bearer {world['api_key']}", "Content-Type": "application/json"}
    worker_args = [
        str(bench.BIN / "celery"),
        "-A",
        "genai_platform",
        "worker",
        "-Q",
        "provider.openai_compatible",
        "-n",
        f"startup{run}@%h",
        "--pool",
        "threads",
        "--concurrency",
        "1024",
        "--prefetch-multiplier",
        "1",
        "--loglevel",
        "INFO",
        "--without-mingle",
        "--without-gossip",
    ]
    gateway_args = [str(bench.BIN / "gunicorn"), "--config", "deploy/gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"]
    gateway_env = dict(env)
    if args.gunicorn_workers:
        gateway_env["GUNICORN_WORKERS"] = str(args.gunicorn_workers)
    with contextlib.ExitStack() as stack:
        started = time.monotonic()
        worker = stack.enter_context(bench.running("celery worker", worker_args, worker_env, workdir / f"w{run}.log"))
        gateway = stack.enter_context(bench.running("gateway", gateway_args, gateway_env, workdir / f"g{run}.log"))
        healthy_at = answered_at = None
        while time.monotonic() - started < args.timeout:
            gateway.check_alive()
            worker.check_alive()
            if healthy_at is None and _healthy(base + "/healthz"):
                healthy_at = time.monotonic() - started
            if healthy_at is not None and _answers(base + "/v1/chat/completions", body, headers):
                answered_at = time.monotonic() - started
                break
            time.sleep(0.02)
        sessions = {"gateway": gateway.process.pid, "worker": worker.process.pid}
        cpu = bench.cpu_seconds(sessions)
        rss = bench.rss_by_session(sessions)
    if answered_at is None:
        raise bench.BenchError(f"no answer within {args.timeout:g}s:\n{gateway.tail()}\n{worker.tail()}")
    return {
        "healthz_s": round(healthy_at or 0.0, 3),
        "first_answer_s": round(answered_at, 3),
        "cpu_s": {k: round(cpu.get(k, 0.0), 2) for k in sessions},
        "rss_mb": {k: [p["rss_mb"] for p in v] for k, v in rss.items()},
        "loadavg": open("/proc/loadavg").read().split()[:3],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--gunicorn-workers", type=int, default=None, help="default: deploy/gunicorn.conf.py decides")
    parser.add_argument("--output", type=Path, default=bench.RESULTS_DIR / "startup.json")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="genai-startup-"))
    upstream_key = "sk-bench-" + secrets.token_hex(16)
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(bench.fresh_database())
        stack.enter_context(bench.flushed_redis())
        env = bench.manage_env(
            {
                "DATABASE_URL": database_url,
                "REDIS_URL": f"{bench.REDIS_BASE}/{bench.CACHE_DB}",
                "CELERY_BROKER_URL": f"{bench.REDIS_BASE}/{bench.BROKER_DB}",
                "GENAI_ENV": "production",
                "DJANGO_DEBUG": "false",
                "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
            }
        )
        mock_port = bench.free_port()
        mock_args = [
            str(bench.BIN / "python"),
            str(bench.BENCH_DIR / "mock_upstream.py"),
            "--port",
            str(mock_port),
            "--api-key",
            upstream_key,
        ]
        mock = stack.enter_context(bench.running("mock upstream", mock_args, env, workdir / "mock.log"))
        bench.say("migrating and seeding (not timed)")
        bench.run_python(env, "manage.py", "migrate", "--noinput", "-v0")
        setup = [
            str(bench.BENCH_DIR / "bench_setup.py"),
            "--provider",
            "openai_compatible",
            "--endpoint",
            f"http://127.0.0.1:{mock_port}/v1",
        ]
        world = json.loads(bench.run_python(env, *setup).strip().splitlines()[-1])
        bench.wait_until_serving(f"http://127.0.0.1:{mock_port}/health", mock)
        worker_env = {**env, bench.UPSTREAM_KEY_VARIABLE: upstream_key}
        runs = []
        for run in range(args.runs):
            bench.flushed_redis().__enter__()  # a cold start: no cached catalog, keys or replies
            result = one_start(env, worker_env, world, workdir, run, args)
            bench.say(
                f"run {run + 1}: /healthz after {result['healthz_s']:.2f} s, first answer after "
                f"{result['first_answer_s']:.2f} s; CPU {result['cpu_s']}; RSS {result['rss_mb']}; "
                f"load average {' '.join(result['loadavg'])}"
            )
            runs.append(result)
    median = statistics.median(r["first_answer_s"] for r in runs)
    bench.say(f"first answer after start: median {median:.2f} s over {len(runs)} runs (target <= 3 s)")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"runs": runs, "median_first_answer_s": median}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
