"""Gateway load benchmark: the production path (gunicorn -> Redis broker -> Celery worker -> upstream).

What it does, on one machine, talking to 127.0.0.1 only:

1. creates a throw-away PostgreSQL database and flushes Redis DBs 10 (broker) and 11 (cache and
   reply channel), migrates, and builds a catalog (provider account, model, deployment, alias), a
   LOB, an approved use case and a production key with the project's services (`bench_setup.py`);
2. starts a fast mock OpenAI-compatible upstream (`mock_upstream.py`), the gateway (gunicorn with
   `deploy/gunicorn.conf.py` and its defaults unless flags say otherwise) and a `celery worker`
   consuming the provider's queue (its per-task log lines at the settings' level);
3. checks one call end to end (the answer must be the mock's), warms up, counts the Redis commands
   one call costs each process (MONITOR), then measures requests/s and p50/p90/p99 latency with a
   closed-loop load generator (wrk with a Lua script; a pure-Python one if wrk cannot be had):
   the mock directly and the gateway's `/healthz` (the web stack's floor) at concurrency 1, and
   `POST /v1/chat/completions` through the gateway at each level, while reading from /proc the
   CPU time each process spent (and what other programs took: the machine is shared);
4. optionally (`--profile`) samples the gateway and the worker with py-spy (installed with
   `pip --target` outside the project's venv) at the lowest and highest level;
5. unless `--no-compare-metering`, restarts the gateway with METERING_ENABLED=true and =false (on, off,
   off, on) and measures concurrency 1 and 64 in each state, checking that "on" really buffered usage
   records and settled the budget counters (the use case has a budget and rate limits that never
   refuse) and "off" wrote nothing: the throughput ratio on/off and the p50 difference;
6. prints a table, writes `benchmarks/results/latest.json`, and stops everything it started,
   flushes its Redis DBs and drops the database, also on failure, Ctrl-C or SIGTERM (children die
   with it even if it is killed: PR_SET_PDEATHSIG).

    .venv/bin/python benchmarks/gateway_load.py                # what `make bench` runs
    .venv/bin/python benchmarks/gateway_load.py --duration 5 --concurrency 1,64
    .venv/bin/python benchmarks/gateway_load.py --profile      # also py-spy the gateway and worker

The added latency is p50(gateway, concurrency 1) - p50(mock direct, concurrency 1): what a client
pays for going through the platform instead of calling the upstream itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import datetime as dt
import gzip
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "benchmarks"
RESULTS_DIR = BENCH_DIR / "results"
BIN = Path(sys.executable).parent
PG_ADMIN_DSN = os.environ.get("BENCH_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("BENCH_REDIS_BASE", "redis://127.0.0.1:6379")
BROKER_DB, CACHE_DB = int(os.environ.get("BENCH_BROKER_DB", "10")), int(os.environ.get("BENCH_CACHE_DB", "11"))
UPSTREAM_KEY_VARIABLE = "BENCH_UPSTREAM_KEY"
USAGE_STREAM = "genai:usage"  # genai_platform.metering.ledger.STREAM: shard 0; shard n is "genai:usage:n"
MOCK_REPLY = "Hello from the mock upstream."
PYSPY_DIR = Path(os.environ.get("BENCH_PYSPY_DIR", "/tmp/genai-bench-pyspy"))  # noqa: S108
#: Reference numbers from the issue: a widely used Python LLM gateway on the same 2-core machines.
REFERENCE_ADDED_MS, REFERENCE_RPS_AT_64 = 20.0, 150.0
TARGET_ADDED_MS, TARGET_RPS_AT_64 = REFERENCE_ADDED_MS / 2, REFERENCE_RPS_AT_64 * 2
#: Variables of the caller's environment the benchmark never passes on: it sets them itself, or leaves
#: them to the project's defaults (metering on, `celery.app.trace` at CELERY_TASK_LOG_LEVEL's default).
_SETTINGS_VARIABLES = (
    "METERING_ENABLED",
    "CELERY_TASK_LOG_LEVEL",
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "GENAI_ENV",
    "DJANGO_DEBUG",
    "DJANGO_SECRET_KEY",
    "CELERY_WORKER_PREFETCH_MULTIPLIER",
)


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which and why."""


def say(message: str) -> None:
    print(f"[bench] {message}", flush=True)


# ---------------------------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child before exec: own session (so its whole tree is signalled at once), and SIGTERM
    when the benchmark dies, even by SIGKILL, so nothing outlives it."""
    os.setsid()
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log: Path

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise BenchError(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")


@contextlib.contextmanager
def running(name: str, args: list[str], env: dict[str, str], log: Path) -> Iterator[Child]:
    """Starts `args` in its own session; on exit SIGTERMs the whole group, then SIGKILLs it."""
    with log.open("w") as out:
        process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )
    child = Child(name, process, log)
    try:
        yield child
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            say(f"{name} did not stop in 20 s; killing it")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # stragglers (prefork children, gunicorn workers)
        process.wait()


def _raise_on_sigterm(signum: int, frame: Any) -> None:
    # Once: a second Ctrl-C while cleaning up must not abandon the clean-up half way.
    for ignored in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(ignored, signal.SIG_IGN)
    raise KeyboardInterrupt(f"signal {signum}")


def manage_env(settings: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SETTINGS_VARIABLES}
    env.update(settings)
    return env


def run_python(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    done = subprocess.run(
        [str(BIN / "python"), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"`python {' '.join(args[:3])}` failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


# ---------------------------------------------------------------------------------------------
# database and redis
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    import psycopg

    name = f"genai_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    say(f"created database {name}")
    try:
        yield PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        say(f"dropped database {name}")


@contextlib.contextmanager
def flushed_redis() -> Iterator[None]:
    import redis

    clients = [redis.Redis.from_url(f"{REDIS_BASE}/{db}") for db in (BROKER_DB, CACHE_DB)]
    for client in clients:
        client.flushdb()
    try:
        yield
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                client.flushdb()
                client.close()


def redis_server_info() -> dict[str, Any]:
    import redis

    info = redis.Redis.from_url(f"{REDIS_BASE}/0").info("server")
    return {"version": info.get("redis_version"), "pid": info.get("process_id")}


def postgres_version() -> str:
    import psycopg

    with psycopg.connect(PG_ADMIN_DSN, connect_timeout=5) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


# ---------------------------------------------------------------------------------------------
# CPU accounting: user+system seconds of each process tree, read from /proc
# ---------------------------------------------------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int) -> tuple[str, int, float] | None:
    """(command name, session id, cpu seconds) of one process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return raw[raw.index("(") + 1 : raw.rindex(")")], int(fields[3]), (int(fields[11]) + int(fields[12])) / _TICKS


#: Shared services whose every process counts, whoever started them.
SERVICE_COMMANDS = {"redis-server": "redis", "postgres": "postgres"}


def cpu_seconds(sessions: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by every process of each named session, by Redis and PostgreSQL, and by
    the whole machine (`machine`, from /proc/stat), so that `other` = machine - everything named."""
    totals: dict[str, float] = defaultdict(float)
    by_session = {sid: name for name, sid in sessions.items()}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _proc_stat(int(entry))
        if stat is None:
            continue
        command, session, seconds = stat
        name = by_session.get(session) or SERVICE_COMMANDS.get(command)
        if name is not None:
            totals[name] += seconds
            if int(entry) == session:
                totals[f"{name}.leader"] += seconds  # gunicorn's arbiter; celery's consumer (prefork parent)
    with contextlib.suppress(OSError, ValueError):
        cpu = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        totals["machine"] = (sum(cpu) - cpu[3] - cpu[4]) / _TICKS  # all but idle and iowait
    return dict(totals)


def wait_for_quiet(sessions: dict[str, int], patience: float, threshold: float = 0.25) -> None:
    """Waits (at most `patience` seconds) until processes other than ours use under `threshold` cores:
    on a shared 2-core machine a test suite running next door halves the numbers."""
    deadline = time.monotonic() + patience
    while True:
        before = cpu_seconds(sessions)
        time.sleep(0.5)
        after = cpu_seconds(sessions)
        ours = sum(after.get(k, 0.0) - before.get(k, 0.0) for k in (*sessions, "redis", "postgres"))
        other = (after.get("machine", 0.0) - before.get("machine", 0.0) - ours) / 0.5
        if other < threshold:
            return
        if time.monotonic() >= deadline:
            say(f"the machine is busy ({other:.2f} other cores); measuring anyway")
            return


def loadgen_cpu_seconds() -> float:
    """CPU of the load generator: wrk is our child (counted once reaped); the Python one is us."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = resource.getrusage(resource.RUSAGE_SELF)
    return children.ru_utime + children.ru_stime + own.ru_utime + own.ru_stime


# ---------------------------------------------------------------------------------------------
# load generators
# ---------------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    errors: int
    error_detail: dict[str, int] = field(default_factory=dict)


@dataclass
class Target:
    url: str
    body: dict[str, Any] | None  # None: a GET
    headers: dict[str, str]


WRK_LUA = """\
{request}
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {{"requests":%d,"duration_us":%d,"p50":%d,"p90":%d,"p99":%d,"mean":%f,"max":%d,'
    .. '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def _lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def ensure_wrk() -> str | None:
    """The path of wrk, installing Debian's package when it is missing and we are root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        say("wrk is not installed and apt-get is not usable here")
        return None
    say("installing wrk with apt-get (once per machine)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            say(f"`{' '.join(args)}` failed: {done.stderr.strip()[-500:]}")
            return None
    return shutil.which("wrk")


def wrk_run(wrk: str, target: Target, concurrency: int, duration: float, workdir: Path) -> LoadResult:
    script = workdir / f"wrk-{uuid.uuid4().hex[:6]}.lua"
    headers = "\n".join(f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in target.headers.items())
    request = 'wrk.method = "GET"'
    if target.body is not None:
        request = f'wrk.method = "POST"\nwrk.body = {_lua_string(json.dumps(target.body))}\n'
        request += 'wrk.headers["Content-Type"] = "application/json"'
    script.write_text(WRK_LUA.format(request=request, headers=headers))
    args = [
        wrk,
        "--threads",
        "1",  # one event-loop thread drives thousands of requests/s; a second would only steal a core
        "--connections",
        str(concurrency),
        "--duration",
        f"{max(1, round(duration))}s",
        "--timeout",
        "30s",
        "--script",
        str(script),
        target.url,
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=duration + 60, check=False)
    match = re.search(r"^WRKJSON (\{.*\})$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or match is None:
        raise BenchError(f"wrk failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    raw = json.loads(match.group(1))
    seconds = raw["duration_us"] / 1e6
    detail = {k: raw[k] for k in ("connect", "read", "write", "status", "timeout") if raw[k]}
    return LoadResult(
        requests=raw["requests"],
        duration_s=round(seconds, 3),
        rps=round(raw["requests"] / seconds, 1) if seconds else 0.0,
        p50_ms=raw["p50"] / 1000,
        p90_ms=raw["p90"] / 1000,
        p99_ms=raw["p99"] / 1000,
        mean_ms=round(raw["mean"] / 1000, 3),
        max_ms=raw["max"] / 1000,
        errors=sum(detail.values()),
        error_detail=detail,
    )


async def _python_connection(
    host: str, port: int, request: bytes, stop_at: float, latencies: list[float], errors: dict[str, int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors["status"] = errors.get("status", 0) + 1
    except (OSError, asyncio.IncompleteReadError, AttributeError, ValueError) as exc:
        errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
    finally:
        writer.close()


def python_run(target: Target, concurrency: int, duration: float) -> LoadResult:
    """A pure-Python closed-loop generator (keep-alive, one coroutine per connection). It shares the
    two cores with the gateway and costs more CPU per request than wrk: a fallback only."""
    from urllib.parse import urlsplit

    url = urlsplit(target.url)
    body = json.dumps(target.body).encode() if target.body is not None else b""
    headers = {**target.headers, "Content-Type": "application/json"} if target.body is not None else target.headers
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    method = "POST" if target.body is not None else "GET"
    request = (
        f"{method} {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    latencies: list[float] = []
    errors: dict[str, int] = {}

    async def main() -> float:
        started = time.perf_counter()
        stop_at = started + duration
        await asyncio.gather(
            *(
                _python_connection(url.hostname or "127.0.0.1", url.port or 80, request, stop_at, latencies, errors)
                for _ in range(concurrency)
            )
        )
        return time.perf_counter() - started

    elapsed = asyncio.run(main())
    ordered = sorted(latencies) or [0.0]

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000, 3)

    return LoadResult(
        requests=len(latencies),
        duration_s=round(elapsed, 3),
        rps=round(len(latencies) / elapsed, 1),
        p50_ms=pct(50),
        p90_ms=pct(90),
        p99_ms=pct(99),
        mean_ms=round(sum(ordered) / len(ordered) * 1000, 3),
        max_ms=round(ordered[-1] * 1000, 3),
        errors=sum(errors.values()),
        error_detail=errors,
    )


# ---------------------------------------------------------------------------------------------
# profiling with py-spy (optional)
# ---------------------------------------------------------------------------------------------


def ensure_pyspy() -> Path:
    """py-spy, installed from PyPI into its own directory (never into the project's venv)."""
    binary = PYSPY_DIR / "bin" / "py-spy"
    if binary.exists():
        return binary
    say(f"installing py-spy into {PYSPY_DIR} (pip --target; the project's venv is not touched)")
    done = subprocess.run(
        [str(BIN / "python"), "-m", "pip", "install", "--quiet", "--target", str(PYSPY_DIR), "py-spy"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0 or not binary.exists():
        raise BenchError(f"could not install py-spy: {done.stderr[-1500:]}")
    return binary


@contextlib.contextmanager
def pyspy_recording(pyspy: Path, pid: int, out: Path, duration: float, log: Path) -> Iterator[None]:
    """Samples `pid` and its subprocesses (all threads, idle ones excluded) in collapsed-stack form."""
    args = [
        str(pyspy),
        "record",
        "--pid",
        str(pid),
        "--subprocesses",
        "--format",
        "raw",
        "--rate",
        "200",
        "--duration",
        str(max(1, round(duration))),
        "--output",
        str(out),
        # Only the thread holding the GIL: a CPU profile of the Python code, with no guessing which of
        # 32 gunicorn threads are idle; and without pausing the process, which would distort it.
        "--gil",
        "--nonblocking",
    ]
    with log.open("a") as sink:
        process = subprocess.Popen(args, stdout=sink, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
    try:
        time.sleep(0.3)  # let it attach before the load starts
        yield
    finally:
        try:
            process.wait(timeout=duration + 30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=10)


_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
PROJECT_PACKAGES = ("genai_platform", "lob_tenants", "model_catalog", "governance")


def _short_frame(frame: str) -> tuple[str, str]:
    """(`function (short/path.py)`, package) of one py-spy frame."""
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip(), "?"
    path = match.group("file")
    for marker in ("site-packages/", f"{ROOT}/", "lib/python3.11/"):  # py-spy usually shortens paths itself
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match.group('func')} ({path})", path.split("/", 1)[0].removesuffix(".py")


def summarize_collapsed(path: Path, top: int = 15) -> dict[str, Any]:
    """From py-spy's collapsed stacks: the share of samples per package (where the time is spent,
    by the library whose code was running), per function (self), and per project function
    (inclusive: the platform's own steps and everything they call)."""
    total = 0
    own: dict[str, int] = defaultdict(int)
    by_package: dict[str, int] = defaultdict(int)
    project: dict[str, int] = defaultdict(int)
    if not path.exists():
        return {"samples": 0, "packages_self": [], "functions_self": [], "project_inclusive": []}
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short_frame(f) for f in stack.split(";")[1:]]  # the first entry names the process
        if not frames:
            continue
        total += count
        own[frames[-1][0]] += count
        by_package[frames[-1][1]] += count
        for name in {f for f, package in frames if package in PROJECT_PACKAGES}:
            project[name] += count

    def ranked(table: dict[str, int], key: str) -> list[dict[str, Any]]:
        return [
            {key: name, "samples": n, "share": round(n / total, 4)}
            for name, n in sorted(table.items(), key=lambda kv: -kv[1])[:top]
        ]

    return {
        "samples": total,
        "packages_self": ranked(by_package, "package"),
        "functions_self": ranked(own, "function"),
        "project_inclusive": ranked(project, "function"),
    }


# ---------------------------------------------------------------------------------------------
# Redis round trips per request (MONITOR, attributed to processes through their TCP ports)
# ---------------------------------------------------------------------------------------------


def _tcp_ports_of_sessions(sessions: dict[str, int]) -> dict[int, str]:
    """Local TCP port -> name of the session whose process owns that socket."""
    inode_owner: dict[str, str] = {}
    by_session = {sid: name for name, sid in sessions.items()}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _proc_stat(int(entry))
        name = by_session.get(stat[1]) if stat else None
        if name is None:
            continue
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{entry}/fd"):
                with contextlib.suppress(OSError):
                    link = os.readlink(f"/proc/{entry}/fd/{fd}")
                    if link.startswith("socket:["):
                        inode_owner[link[8:-1]] = name
    ports: dict[int, str] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                owner = inode_owner.get(fields[9])
                if owner is not None:
                    ports[int(fields[1].rsplit(":", 1)[1], 16)] = owner
    return ports


def drain(queue: str, timeout: float = 15.0) -> None:
    """Waits until the broker holds no queued or unacknowledged task: the previous load has finished."""
    import redis

    broker = redis.Redis.from_url(f"{REDIS_BASE}/{BROKER_DB}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if broker.llen(queue) == 0 and broker.hlen("unacked") == 0:
            break
        time.sleep(0.05)
    broker.close()
    time.sleep(0.3)  # the gateway threads writing out the last replies


def redis_census(target: Target, requests: int, sessions: dict[str, int]) -> dict[str, Any]:
    """Runs `requests` sequential calls under Redis MONITOR and counts, per process and database,
    the commands each call costs (Lua-internal commands are listed under `lua`)."""
    import threading

    import redis

    stop_word = f"bench-census-{uuid.uuid4().hex}"
    seen: list[dict[str, Any]] = []
    monitor_client = redis.Redis.from_url(f"{REDIS_BASE}/{CACHE_DB}")
    ready = threading.Event()

    def collect() -> None:
        with monitor_client.monitor() as monitor:
            ready.set()
            while True:
                command = monitor.next_command()
                if stop_word in command["command"]:
                    return
                if command["db"] in (BROKER_DB, CACHE_DB):
                    seen.append(command)

    thread = threading.Thread(target=collect, daemon=True)
    thread.start()
    ready.wait(5)
    time.sleep(0.2)
    statuses = [post_json(target, timeout=30)[0] for _ in range(requests - 1)]
    time.sleep(0.2)
    last_call = time.time()
    statuses.append(post_json(target, timeout=30)[0])
    time.sleep(0.5)  # the worker's last acknowledgements
    ports = _tcp_ports_of_sessions(sessions)
    redis.Redis.from_url(f"{REDIS_BASE}/{CACHE_DB}").echo(stop_word)
    thread.join(10)
    counts: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    one_call: list[str] = []
    for command in seen:
        port = int(command["client_port"] or 0) if command["client_type"] == "tcp" else 0
        owner = "lua" if command["client_type"] == "lua" else ports.get(port, "other")
        if owner == "other":
            continue  # another program on the same Redis (and this benchmark's MONITOR itself)
        verb = command["command"].split(" ", 1)[0].upper()
        if command["time"] >= last_call:
            one_call.append(f"{owner} db{command['db']}: {command['command'][:100]}")
        role = "broker" if command["db"] == BROKER_DB else "cache"
        counts[owner][f"{verb} ({role})"] += 1 / requests
    per_process = {
        owner: dict(sorted(((k, round(v, 2)) for k, v in table.items()), key=lambda kv: -kv[1]))
        for owner, table in counts.items()
    }
    commands = {
        owner: round(sum(v for k, v in table.items() if not k.startswith(("MULTI", "EXEC"))), 1)
        for owner, table in per_process.items()
        if owner != "lua"
    }
    return {
        "requests": requests,
        "ok": statuses.count(200),
        "commands_per_request": per_process,
        "commands_total": commands,
        "one_call": one_call,
    }


# ---------------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------------


def openai_compatible_available() -> bool:
    """Whether this checkout's openai_compatible adapter imports (in this process, as the worker would)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:
        if importlib.util.find_spec("genai_platform.providers.openai_compatible") is None:
            return False
        importlib.import_module("genai_platform.providers.openai_compatible")
    except Exception as exc:
        say(f"genai_platform.providers.openai_compatible does not import: {exc!r}")
        return False
    return True


def machine_info() -> dict[str, Any]:
    cpu_model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_gib = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kib = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        mem_gib = round(mem_kib / 1024 / 1024, 1)
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model,
        "memory_gib": mem_gib,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def software_versions(wrk: str | None) -> dict[str, str]:
    versions = {}
    for dist in ("django", "gunicorn", "celery", "kombu", "redis", "psycopg", "pydantic", "openai", "httpx"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[dist] = importlib.metadata.version(dist)
    with contextlib.suppress(Exception):
        versions["redis-server"] = str(redis_server_info()["version"])
    with contextlib.suppress(Exception):
        versions["postgresql"] = postgres_version()
    if wrk:
        done = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
        versions["wrk"] = (done.stdout or done.stderr).split("[")[0].replace("wrk", "").strip()
    return versions


def git_revision() -> str:
    if os.environ.get("BENCH_GIT_REVISION"):  # a run from an exported tree (`git archive`) names its commit
        return os.environ["BENCH_GIT_REVISION"]
    with contextlib.suppress(Exception):
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
        )
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    return "?"


def wait_until_serving(url: str, child: Child, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        child.check_alive()
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - a loopback URL we built
                return
        except OSError:  # refused, reset or timed out (URLError is an OSError too)
            time.sleep(0.1)
    raise BenchError(f"{child.name} did not answer {url} within {timeout}s:\n{child.tail()}")


def post_json(target: Target, timeout: float) -> tuple[int, dict[str, str], dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 - a loopback URL we built
        target.url,
        data=json.dumps(target.body).encode(),
        headers={**target.headers, "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"{}")


def mock_stats(mock_url: str) -> dict[str, int]:
    with urllib.request.urlopen(mock_url + "/stats", timeout=5) as response:  # noqa: S310
        return json.loads(response.read())


@dataclass
class Level:
    name: str
    target: str  # "gateway" or "direct"
    concurrency: int
    result: LoadResult
    cpu_ms_per_request: dict[str, float]
    cpu_utilisation: dict[str, float]
    upstream_calls: int | None = None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--provider",
        choices=["auto", "openai_compatible", "sandbox"],
        default="auto",
        help="auto: openai_compatible when its adapter imports, else sandbox (with a note)",
    )
    parser.add_argument("--concurrency", default="1,16,64", help="gateway concurrency levels (comma separated)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured level")
    parser.add_argument("--warmup", type=float, default=4.0, help="seconds of warm-up load before measuring")
    parser.add_argument(
        "--gunicorn-workers", type=int, default=None, help="GUNICORN_WORKERS (default: deploy/gunicorn.conf.py decides)"
    )
    parser.add_argument(
        "--gunicorn-threads", type=int, default=None, help="GUNICORN_THREADS (default: deploy/gunicorn.conf.py decides)"
    )
    # The deploy default (deploy/Procfile.local): one process, threads pool, a thread per call in flight.
    parser.add_argument(
        "--worker-concurrency", type=int, default=int(os.environ.get("BENCH_WORKER_CONCURRENCY", "1024"))
    )
    parser.add_argument("--worker-pool", default=os.environ.get("BENCH_WORKER_POOL", "threads"))
    parser.add_argument(
        "--scenarios",
        default=os.environ.get("BENCH_SCENARIOS", "classic,latency"),
        help="classic (instant upstream: c=1/16/64, metering on/off) and/or latency (1 s upstream at "
        "--latency-concurrency, then --streams concurrent streams); `make bench SCENARIOS=latency`",
    )
    parser.add_argument("--upstream-delay", type=float, default=1.0, help="seconds the slow upstream takes (latency)")
    parser.add_argument("--latency-concurrency", default="256,1024", help="levels of the latency scenario")
    parser.add_argument("--latency-duration", type=float, default=20.0, help="seconds per latency level")
    parser.add_argument("--streams", type=int, default=1000, help="concurrent streams of the latency scenario")
    parser.add_argument(
        "--stream-ramp-seconds",
        type=float,
        default=0.0,
        help="spread the streams' starts over this many seconds (0: all at once); all are still open together "
        "when --stream-seconds is longer",
    )
    parser.add_argument("--stream-seconds", type=float, default=30.0, help="how long each stream lasts upstream")
    parser.add_argument("--stream-interval", type=float, default=1.0, help="seconds between streamed chunks")
    parser.add_argument(
        "--worker-loglevel",
        default=os.environ.get("BENCH_WORKER_LOGLEVEL", "INFO"),
        help="the worker's own --loglevel; per-task lines (celery.app.trace) follow the project settings",
    )
    parser.add_argument(
        "--task-loglevel", default=None, help="CELERY_TASK_LOG_LEVEL for celery.app.trace (default: the settings')"
    )
    parser.add_argument(
        "--prefetch-multiplier", type=int, default=None, help="CELERY_WORKER_PREFETCH_MULTIPLIER (default: settings)"
    )
    parser.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=15.0,
        help="before each level, wait up to this many seconds for other processes to leave the CPUs",
    )
    parser.add_argument(
        "--profile", action="store_true", help="after measuring, py-spy the gateway and worker at c=1 and the max level"
    )
    parser.add_argument(
        "--compare-metering",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="after the levels, measure with METERING_ENABLED=true against false (gateway restarted for each)",
    )
    parser.add_argument(
        "--metering-concurrency", default="1,64", help="levels of the metering comparison (comma separated)"
    )
    parser.add_argument(
        "--metering-rounds",
        type=int,
        default=2,
        help="on/off pairs, in the order on, off, off, on, ... so that drift cancels out (default 2)",
    )
    parser.add_argument(
        "--output", type=Path, default=None, help="default results/latest.json (latency alone: latency.json)"
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the process logs (printed path)")
    args = parser.parse_args(argv)
    args.scenarios = {name.strip() for name in str(args.scenarios).split(",") if name.strip()}
    if not args.scenarios or not args.scenarios <= {"classic", "latency"}:
        parser.error("--scenarios takes classic, latency or both")
    if args.output is None:
        args.output = RESULTS_DIR / ("latest.json" if "classic" in args.scenarios else "latency.json")
    args.latency_levels = [int(c) for c in str(args.latency_concurrency).split(",") if c.strip()]
    if not args.latency_levels or min(args.latency_levels) < 1 or max(args.latency_levels) > 4096:
        parser.error("--latency-concurrency needs levels between 1 and 4096")
    args.levels = [int(c) for c in str(args.concurrency).split(",") if c.strip()]
    if not args.levels or min(args.levels) < 1 or max(args.levels) > 1024:
        parser.error("--concurrency needs levels between 1 and 1024")
    args.metering_levels = [int(c) for c in str(args.metering_concurrency).split(",") if c.strip()]
    if not args.metering_levels or min(args.metering_levels) < 1 or max(args.metering_levels) > 1024:
        parser.error("--metering-concurrency needs levels between 1 and 1024")
    if not 1 <= args.metering_rounds <= 5:
        parser.error("--metering-rounds must be 1..5")
    if not 1 <= args.duration <= 60 or not 0 <= args.warmup <= 30:
        parser.error("--duration must be 1..60 s and --warmup 0..30 s (the run stays well under 5 minutes)")
    return args


def choose_provider(requested: str) -> tuple[str, str | None]:
    available = openai_compatible_available()
    if requested == "openai_compatible" and not available:
        raise BenchError("--provider openai_compatible: genai_platform.providers.openai_compatible is not importable")
    if requested == "auto":
        if available:
            return "openai_compatible", None
        note = (
            "NOTE: the openai_compatible adapter (genai_platform/providers/openai_compatible.py) is not there yet: "
            "benchmarking the sandbox provider instead; the worker does not call the mock upstream"
        )
        say(note)
        return "sandbox", note
    return requested, None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Explicitly, also for SIGINT: a shell starting us in the background would have it ignored.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_on_sigterm)
    try:
        return run(args)
    except BenchError as exc:
        say(f"FAILED: {exc}")
        return 1
    except KeyboardInterrupt:
        say("interrupted; everything it started has been stopped")
        return 130


def run(args: argparse.Namespace) -> int:
    started_at = dt.datetime.now(dt.UTC)
    provider, provider_note = choose_provider(args.provider)
    wrk = None
    if args.loadgen in ("auto", "wrk"):
        wrk = ensure_wrk()
        if wrk is None and args.loadgen == "wrk":
            raise BenchError("--loadgen wrk: wrk is not available")
        if wrk is None:
            say("falling back to the pure-Python load generator (less accurate: it competes for the 2 cores)")
    pyspy = ensure_pyspy() if args.profile else None
    loadgen = "wrk" if wrk else "python"

    workdir = Path(tempfile.mkdtemp(prefix="genai-bench-"))
    upstream_key = "sk-bench-" + secrets.token_hex(16)
    with contextlib.ExitStack() as stack:
        if not args.keep_logs:
            stack.callback(shutil.rmtree, workdir, True)
        database_url = stack.enter_context(fresh_database())
        stack.enter_context(flushed_redis())
        settings = {
            "DATABASE_URL": database_url,
            "REDIS_URL": f"{REDIS_BASE}/{CACHE_DB}",
            "CELERY_BROKER_URL": f"{REDIS_BASE}/{BROKER_DB}",
            # Production settings: DEBUG off (no per-query bookkeeping), as a deployed gateway runs.
            "GENAI_ENV": "production",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
        }
        # Only what was asked for: otherwise deploy/gunicorn.conf.py and the settings decide, as deployed.
        if args.gunicorn_workers is not None:
            settings["GUNICORN_WORKERS"] = str(args.gunicorn_workers)
        if args.gunicorn_threads is not None:
            settings["GUNICORN_THREADS"] = str(args.gunicorn_threads)
        if args.task_loglevel is not None:
            settings["CELERY_TASK_LOG_LEVEL"] = args.task_loglevel
        if args.prefetch_multiplier is not None:
            settings["CELERY_WORKER_PREFETCH_MULTIPLIER"] = str(args.prefetch_multiplier)
        env = manage_env(settings)
        effective = effective_settings(env)
        say(
            f"gunicorn {effective['gunicorn_workers']} process(es) x {effective['gunicorn_threads']} threads "
            f"(deploy/gunicorn.conf.py); celery.app.trace at {effective['celery_task_loglevel']}; "
            f"METERING_ENABLED {effective['metering_enabled']}"
        )

        mock_port, slow_port, gateway_port = free_port(), free_port(), free_port()
        mock_url = f"http://127.0.0.1:{mock_port}"
        slow_url = f"http://127.0.0.1:{slow_port}"
        mock_args = [str(BIN / "python"), str(BENCH_DIR / "mock_upstream.py"), "--port", str(mock_port)]
        mock_args += ["--delayed-port", f"{slow_port}={args.upstream_delay:g}"]
        mock_args += ["--stream-seconds", f"{args.stream_seconds:g}", "--stream-interval", f"{args.stream_interval:g}"]
        mock_args += ["--api-key", upstream_key]
        mock = stack.enter_context(running("mock upstream", mock_args, env, workdir / "mock.log"))
        say("migrating")
        run_python(env, "manage.py", "migrate", "--noinput", "-v0")
        setup_args = [str(BENCH_DIR / "bench_setup.py"), "--provider", provider]
        if provider == "openai_compatible":
            setup_args += ["--endpoint", f"{mock_url}/v1", "--slow-endpoint", f"{slow_url}/v1"]
        elif "latency" in args.scenarios:
            raise BenchError("the latency scenario needs the openai_compatible provider (a slow mock upstream)")
        world = json.loads(run_python(env, *setup_args).strip().splitlines()[-1])
        say(f"catalog and tenant ready: alias {world['alias']} -> deployment {world['deployment']} ({provider})")
        wait_until_serving(mock_url + "/health", mock)

        worker_env = {**env, UPSTREAM_KEY_VARIABLE: upstream_key}  # only the worker holds the provider secret
        worker_args = [
            str(BIN / "celery"),
            "-A",
            "genai_platform",
            "worker",
            "-Q",
            f"provider.{provider}",
            "-n",
            "bench@%h",
            "--pool",
            args.worker_pool,
            "--concurrency",
            str(args.worker_concurrency),
            "--loglevel",
            args.worker_loglevel,
            "--without-mingle",
            "--without-gossip",
        ]
        worker = stack.enter_context(running("celery worker", worker_args, worker_env, workdir / "worker.log"))
        # Started after the worker, so stopped before it: in-flight requests drain through the worker.
        # Its own stack, so that the metering comparison can restart it with other settings.
        gateway_stack = contextlib.ExitStack()
        stack.callback(gateway_stack.close)
        gateway_url = f"http://127.0.0.1:{gateway_port}"

        def start_gateway(extra: dict[str, str], log_name: str) -> Child:
            gateway_stack.close()  # the previous gateway, if any
            child = gateway_stack.enter_context(
                running(
                    "gateway",
                    [
                        str(BIN / "gunicorn"),
                        "--config",
                        "deploy/gunicorn.conf.py",
                        "--bind",
                        f"127.0.0.1:{gateway_port}",
                    ],
                    {**env, **extra},
                    workdir / log_name,
                )
            )
            wait_until_serving(gateway_url + "/healthz", child)
            return child

        gateway = start_gateway({}, "gateway.log")
        say(f"gateway serving on {gateway_url} (logs in {workdir})")

        gateway_target = Target(
            url=f"{gateway_url}/v1/chat/completions",
            body={"model": world["alias"], "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 16},
            headers={"Authorization": f"Bearer {world['api_key']}"},
        )
        direct_target = Target(
            url=f"{mock_url}/v1/chat/completions",
            body={"model": "bench-model", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 16},
            headers={"Authorization": f"Bearer {upstream_key}"},
        )
        first_headers = preflight(gateway_target, provider, gateway, worker)
        if effective["metering_enabled"] and "x-ratelimit-limit-requests" not in first_headers:
            raise BenchError(
                "metering is on and the use case has rate limits, but the reply has no x-ratelimit headers"
            )

        def measure(target: Target, concurrency: int, duration: float) -> LoadResult:
            if wrk:
                return wrk_run(wrk, target, concurrency, duration, workdir)
            return python_run(target, concurrency, duration)

        if args.warmup:
            say(f"warming up for {args.warmup:g}s at concurrency {max(args.levels)}")
            measure(gateway_target, max(args.levels), args.warmup)

        sessions = {"gateway": gateway.process.pid, "worker": worker.process.pid, "mock": mock.process.pid}

        census = None
        if "classic" in args.scenarios:
            drain(f"provider.{provider}")
            census = redis_census(gateway_target, 20, sessions)
            say(f"Redis commands per call (MULTI/EXEC not counted): {census['commands_total']}")

        def level(name: str, which: str, target: Target, concurrency: int, duration: float | None = None) -> Level:
            for child in (gateway, worker, mock):
                child.check_alive()
            drain(f"provider.{provider}")  # the previous level's in-flight calls
            wait_for_quiet(sessions, args.wait_quiet)
            calls_before = mock_stats(mock_url)["served"]
            cpu_before, loadgen_before = cpu_seconds(sessions), loadgen_cpu_seconds()
            wall_before = time.monotonic()
            result = measure(target, concurrency, duration or args.duration)
            wall = time.monotonic() - wall_before
            cpu_after, loadgen_after = cpu_seconds(sessions), loadgen_cpu_seconds()
            calls = mock_stats(mock_url)["served"] - calls_before
            used = {k: cpu_after.get(k, 0.0) - cpu_before.get(k, 0.0) for k in (*sessions, "redis", "postgres")}
            used["loadgen"] = loadgen_after - loadgen_before
            machine = cpu_after.get("machine", 0.0) - cpu_before.get("machine", 0.0)
            used["other"] = max(0.0, machine - sum(used.values()))
            # Not added to the totals above: parts of "worker", for the consumer's own share.
            used["worker.consumer"] = cpu_after.get("worker.leader", 0.0) - cpu_before.get("worker.leader", 0.0)
            per_request = {k: round(v * 1000 / max(result.requests, 1), 3) for k, v in used.items()}
            utilisation = {k: round(v / wall, 3) for k, v in used.items()}
            if utilisation["other"] > 0.25:
                say(f"WARNING: other processes kept {utilisation['other']:.2f} cores busy during this level")
            say(
                f"{name:<10} c={concurrency:<3} {result.rps:>9.1f} req/s  p50 {result.p50_ms:7.2f} ms  "
                f"p99 {result.p99_ms:7.2f} ms  errors {result.errors}"
            )
            if provider == "openai_compatible" and which == "gateway" and calls < result.requests:
                raise BenchError(f"{result.requests} gateway calls succeeded but the upstream saw only {calls}")
            return Level(name, which, concurrency, result, per_request, utilisation, calls)

        levels: list[Level] = []
        if "classic" in args.scenarios:
            levels.append(level("direct", "direct", direct_target, 1))
            # The floor of the web stack: gunicorn, Django and its middleware, no authentication or dispatch.
            levels.append(level("healthz", "healthz", Target(f"{gateway_url}/healthz", None, {}), 1))
            for concurrency in args.levels:
                levels.append(level("gateway", "gateway", gateway_target, concurrency))

        profiles = {}
        if pyspy is not None:
            for concurrency in sorted({min(args.levels), max(args.levels)}):
                profiles[f"c{concurrency}"] = profile_level(
                    pyspy, measure, gateway_target, concurrency, args.duration, gateway, worker, workdir, args.output
                )

        comparison = None
        if args.compare_metering and "classic" in args.scenarios:

            def restart_gateway(enabled: bool) -> Child:
                nonlocal gateway
                state = "true" if enabled else "false"
                say(f"restarting the gateway with METERING_ENABLED={state}")
                drain(f"provider.{provider}")
                gateway = start_gateway({"METERING_ENABLED": state}, f"gateway-metering-{state}.log")
                sessions["gateway"] = gateway.process.pid
                headers = preflight(gateway_target, provider, gateway, worker)
                if enabled != ("x-ratelimit-limit-requests" in headers):
                    raise BenchError(f"METERING_ENABLED={state}, but the rate headers say otherwise: {headers}")
                if args.warmup:
                    measure(gateway_target, max(args.metering_levels), args.warmup)
                return gateway

            comparison = compare_metering(args, provider, restart_gateway, level, gateway_target)

        # Last: streams its clients gave up on may still be relaying when it ends.
        latency = None
        if "latency" in args.scenarios:
            slow_gateway = Target(
                gateway_target.url, {**gateway_target.body, "model": world["slow_alias"]}, gateway_target.headers
            )
            slow_direct = Target(f"{slow_url}/v1/chat/completions", direct_target.body, direct_target.headers)
            latency = latency_scenario(args, level, sessions, slow_direct, slow_gateway, provider, mock_url)

        for child in (gateway, worker, mock):
            child.check_alive()
        report = build_report(args, started_at, provider, provider_note, loadgen, wrk, levels, profiles, effective)
        report["metering_comparison"] = comparison
        report["latency"] = latency
        # Per-task lines ("Task ... succeeded in ...") in the worker's log: none when celery.app.trace is
        # at WARNING, as the settings have it by default.
        report["worker_task_log_lines"] = sum(" succeeded in " in line for line in worker.tail(10**9).splitlines())
        report["setup"] = {k: v for k, v in world.items() if k != "api_key"}
        report["redis_census"] = census
        print_report(report)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2) + "\n")
        say(f"wrote {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}")
        # Latency-scenario errors are reported, not fatal: they are what bounds capacity today.
        failed = [lv for lv in levels if lv.result.errors]
        if failed:
            say("some requests failed; see the logs:\n" + gateway.tail(1500) + "\n" + worker.tail(1500))
            return 1
    return 0


def rss_by_session(sessions: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    """Resident memory of every process of each named session (gunicorn's arbiter and workers, the
    Celery worker, the mock), in MB."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_session = {sid: name for name, sid in sessions.items()}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _proc_stat(int(entry))
        if stat is None or stat[1] not in by_session:
            continue
        with contextlib.suppress(OSError, ValueError):
            status = Path(f"/proc/{entry}/status").read_text()
            kb = int(re.search(r"^VmRSS:\s+(\d+)", status, re.MULTILINE).group(1))  # type: ignore[union-attr]
            threads = int(re.search(r"^Threads:\s+(\d+)", status, re.MULTILINE).group(1))  # type: ignore[union-attr]
            # PSS shares each page among the processes mapping it: gunicorn's workers share the
            # application their arbiter imported (preload_app), which RSS counts in every one.
            rollup = Path(f"/proc/{entry}/smaps_rollup").read_text()
            pss_kb = int(re.search(r"^Pss:\s+(\d+)", rollup, re.MULTILINE).group(1))  # type: ignore[union-attr]
            found[by_session[stat[1]]].append(
                {
                    "pid": int(entry),
                    "command": stat[0],
                    "rss_mb": round(kb / 1024, 1),
                    "pss_mb": round(pss_kb / 1024, 1),
                    "threads": threads,
                }
            )
    return dict(found)


def _open_files(pid: int) -> int:
    with contextlib.suppress(OSError):
        return len(os.listdir(f"/proc/{pid}/fd"))
    return 0


@contextlib.contextmanager
def peak_resources(sessions: dict[str, int], interval: float = 0.5) -> Iterator[dict[str, Any]]:
    """Samples, while the block runs, the peak of what calls in flight hold: open files and RSS of
    every process of each session, and the clients connected to Redis (all of them, ours and the
    machine's: the baseline before the block is recorded beside the peak)."""
    import threading

    import redis

    client = redis.Redis.from_url(f"{REDIS_BASE}/0")
    peak: dict[str, Any] = {"redis_clients_before": int(client.info("clients")["connected_clients"])}
    peak.update({"redis_clients": 0, "open_files": {}, "rss_mb": {}})
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(interval):
            with contextlib.suppress(Exception):
                peak["redis_clients"] = max(peak["redis_clients"], int(client.info("clients")["connected_clients"]))
            for name, processes in rss_by_session(sessions).items():
                files = sum(_open_files(p["pid"]) for p in processes)
                peak["open_files"][name] = max(peak["open_files"].get(name, 0), files)
                for p in processes:
                    key = f"{name} {p['pid']}"
                    peak["rss_mb"][key] = max(peak["rss_mb"].get(key, 0.0), p["rss_mb"])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        stop.set()
        sampler.join(5)
        client.close()


def latency_scenario(
    args: argparse.Namespace,
    level: Any,
    sessions: dict[str, int],
    slow_direct: Target,
    slow_gateway: Target,
    provider: str,
    mock_url: str,
) -> dict[str, Any]:
    """Real model latency: an upstream that answers after `--upstream-delay` seconds, at each
    `--latency-concurrency` (direct to the mock, then through the gateway, in the same run), then
    `--streams` streams of `--stream-seconds` at once. CPU per call and RSS per process."""
    from stream_load import streams_run

    rows: list[dict[str, Any]] = []
    peak_rss: dict[str, list[dict[str, Any]]] = {}
    for concurrency in args.latency_levels:
        direct = level("slow-direct", "direct", slow_direct, concurrency, args.latency_duration)
        with peak_resources(sessions) as peak:
            through = level("slow-gateway", "gateway", slow_gateway, concurrency, args.latency_duration)
        peak_rss = rss_by_session(sessions)  # right after the level: what the processes hold under load
        cpu = through.cpu_ms_per_request
        rows.append(
            {
                "concurrency": concurrency,
                "direct": level_json(direct),
                "gateway": level_json(through),
                "ratio_to_direct": round(through.result.rps / direct.result.rps, 3) if direct.result.rps else None,
                "added_p50_ms": round(through.result.p50_ms - direct.result.p50_ms, 1),
                "cpu_ms_per_call_gateway_plus_worker": round(cpu["gateway"] + cpu["worker"], 2),
                "rss_mb": peak_rss,
                "peak_while_in_flight": peak,
            }
        )
        say(f"peak with {concurrency} calls in flight: {json.dumps(peak)}")
    streams: dict[str, Any] = {}
    timeout = args.stream_seconds + args.upstream_delay + 60
    ramp = args.stream_ramp_seconds
    for name, target in (("direct", slow_direct), ("gateway", slow_gateway)):
        drain(f"provider.{provider}")
        wait_for_quiet(sessions, args.wait_quiet)
        starts = f"started over {ramp:g}s" if ramp else "at once"
        say(f"{args.streams} streams of {args.stream_seconds:g}s {starts}, {name} (up to {timeout:g}s)")
        idle = rss_by_session(sessions)
        before = cpu_seconds(sessions)
        with peak_resources(sessions) as peak:
            result = streams_run(target.url, target.body or {}, target.headers, args.streams, timeout, ramp)
        after = cpu_seconds(sessions)
        used = {k: round(after.get(k, 0.0) - before.get(k, 0.0), 2) for k in (*sessions, "redis", "postgres")}
        streams[name] = {
            **asdict(result),
            "cpu_seconds": used,
            "cpu_ms_per_stream": {k: round(v * 1000 / max(result.streams, 1), 1) for k, v in used.items()},
            "rss_mb_before": idle,
            "rss_mb": rss_by_session(sessions),
            "peak_while_in_flight": peak,
        }
        say(f"peak while {args.streams} streams were in flight: {json.dumps(peak)}")
        say(
            f"streams {name:<8} completed {result.completed}/{result.streams}  TTFC p50 {result.ttfc_p50_ms} ms "
            f"p99 {result.ttfc_p99_ms} ms  errors {result.error_detail or 0}"
        )
    streams["added_ttfc_p99_ms"] = round(streams["gateway"]["ttfc_p99_ms"] - streams["direct"]["ttfc_p99_ms"], 1)
    return {
        "upstream_delay_s": args.upstream_delay,
        "duration_s": args.latency_duration,
        "levels": rows,
        "streams": {
            "count": args.streams,
            "seconds": args.stream_seconds,
            "ramp_seconds": ramp,
            "interval_s": args.stream_interval,
            **streams,
        },
    }


def print_latency(latency: dict[str, Any]) -> None:
    print(f"\nupstream latency {latency['upstream_delay_s']:g} s, {latency['duration_s']:g} s per level:")
    print(
        f"{'conc':>5} {'direct req/s':>12} {'gateway req/s':>13} {'ratio':>6} {'added p50 ms':>12} "
        f"{'errors':>6} {'CPU ms/call gw+worker':>21}"
    )
    for row in latency["levels"]:
        gateway = row["gateway"]
        print(
            f"{row['concurrency']:>5} {row['direct']['rps']:>12.1f} {gateway['rps']:>13.1f} "
            f"{row['ratio_to_direct'] or 0:>6.3f} {row['added_p50_ms']:>12.1f} {gateway['errors']:>6} "
            f"{row['cpu_ms_per_call_gateway_plus_worker']:>21.2f}"
        )
    streams = latency["streams"]
    for name in ("direct", "gateway"):
        result = streams[name]
        print(
            f"{streams['count']} streams of {streams['seconds']:g} s, {name}: completed {result['completed']}, "
            f"TTFC p50 {result['ttfc_p50_ms']} ms, p99 {result['ttfc_p99_ms']} ms, errors {result['error_detail'] or 0}"
        )
    print(f"added TTFC p99: {streams['added_ttfc_p99_ms']} ms")
    for name, processes in latency["streams"]["gateway"]["rss_mb"].items():
        print(
            f"RSS {name}: "
            + ", ".join(
                f"{p['command']} {p['rss_mb']} MB, PSS {p['pss_mb']} MB ({p['threads']} threads)" for p in processes
            )
        )


def effective_settings(env: dict[str, str]) -> dict[str, Any]:
    """What the processes will run with, asked of the project itself: gunicorn's processes and threads
    from deploy/gunicorn.conf.py, the settings' METERING_ENABLED and the level of celery.app.trace."""
    code = (
        "import json, logging, os, runpy\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'genai_platform.settings')\n"
        "conf = runpy.run_path('deploy/gunicorn.conf.py')\n"
        "import django\n"
        "django.setup()\n"
        "from django.conf import settings\n"
        "trace = logging.getLogger('celery.app.trace')\n"
        "print(json.dumps({'gunicorn_workers': conf['workers'], 'gunicorn_threads': conf.get('threads', 1),\n"
        "    'celery_task_loglevel': logging.getLevelName(trace.getEffectiveLevel()),\n"
        "    'metering_enabled': bool(settings.METERING_ENABLED), 'genai_env': os.environ.get('GENAI_ENV'),\n"
        "    'django_debug': bool(settings.DEBUG)}))\n"
    )
    return json.loads(run_python(env, "-c", code, timeout=120).strip().splitlines()[-1])


def _metering_counters(cache: Any) -> dict[str, int]:
    """The usage buffer's length, the nano-dollars settled on all budget counters, the rate windows."""
    budgets = list(cache.scan_iter("genai:budget:*", count=1000))
    return {
        "usage_stream": sum(int(cache.xlen(stream)) for stream in _usage_streams(cache)),
        "budget_nanos": sum(int(v or 0) for v in cache.mget(budgets)) if budgets else 0,
        "rate_windows": sum(1 for _ in cache.scan_iter("genai:rl2:*", count=1000)),  # metering/limits.py
    }


def _usage_streams(cache: Any) -> list[bytes]:
    """Every shard of the usage buffer (METERING_SHARDS, 8 by default): a LOB's records go to one
    shard chosen by a hash of its slug, so the benchmark's LOB need not be on shard 0."""
    shards = list(cache.scan_iter(f"{USAGE_STREAM}:*", count=1000, _type="STREAM"))
    return [USAGE_STREAM.encode(), *shards]


def compare_metering(
    args: argparse.Namespace, provider: str, restart_gateway: Any, level: Any, target: Target
) -> dict[str, Any]:
    """Throughput and latency with metering, budgets and rate limits on (METERING_ENABLED=true) against
    all of it off, the gateway restarted for each state, in the order on, off, off, on, ... Checks that
    the "on" runs really metered (usage records buffered, budget counters settled) and "off" did not."""
    import redis

    cache = redis.Redis.from_url(f"{REDIS_BASE}/{CACHE_DB}")
    order: list[bool] = []
    for round_number in range(args.metering_rounds):
        order += [True, False] if round_number % 2 == 0 else [False, True]
    say(f"metering comparison: {' '.join('on' if e else 'off' for e in order)} at concurrency {args.metering_levels}")
    runs: list[dict[str, Any]] = []
    current: bool | None = None
    for enabled in order:
        if enabled is not current:
            restart_gateway(enabled)
            current = enabled
        for concurrency in args.metering_levels:
            drain(f"provider.{provider}")
            before = _metering_counters(cache)
            lv = level(f"meter-{'on' if enabled else 'off'}", "gateway", target, concurrency)
            drain(f"provider.{provider}")  # in-flight calls settle and record after wrk stops
            after = _metering_counters(cache)
            buffered = after["usage_stream"] - before["usage_stream"]
            settled = after["budget_nanos"] - before["budget_nanos"]
            if enabled and (buffered < lv.result.requests or settled <= 0 or not after["rate_windows"]):
                raise BenchError(
                    f"metering on, {lv.result.requests} calls, but {buffered} usage records buffered, "
                    f"{settled} nano-USD settled on the budgets, {after['rate_windows']} rate windows"
                )
            if not enabled and (buffered or settled):
                raise BenchError(f"metering off, yet {buffered} usage records and {settled} nano-USD were written")
            runs.append(
                {
                    "metering": enabled,
                    **level_json(lv),
                    "usage_records_buffered": buffered,
                    "budget_nano_usd_settled": settled,
                }
            )
    newest = [entry for stream in _usage_streams(cache) for entry in cache.xrevrange(stream, count=1)]
    newest.sort(key=lambda entry: tuple(int(part) for part in entry[0].split(b"-")))
    sample = json.loads(newest[-1][1][b"event"]) if newest else None
    cache.close()

    def mean(values: list[float]) -> float:
        return round(sum(values) / len(values), 3) if values else 0.0

    summary = {}
    for concurrency in args.metering_levels:
        on = [r for r in runs if r["metering"] and r["concurrency"] == concurrency]
        off = [r for r in runs if not r["metering"] and r["concurrency"] == concurrency]
        on_rps, off_rps = mean([r["rps"] for r in on]), mean([r["rps"] for r in off])
        on_p50, off_p50 = mean([r["p50_ms"] for r in on]), mean([r["p50_ms"] for r in off])
        on_cpu = mean([r["cpu_ms_per_request"]["gateway"] for r in on])
        off_cpu = mean([r["cpu_ms_per_request"]["gateway"] for r in off])
        summary[str(concurrency)] = {
            "rps_on": on_rps,
            "rps_off": off_rps,
            "rps_ratio_on_to_off": round(on_rps / off_rps, 3) if off_rps else None,
            "rps_on_runs": [r["rps"] for r in on],
            "rps_off_runs": [r["rps"] for r in off],
            "p50_ms_on": on_p50,
            "p50_ms_off": off_p50,
            "p50_ms_difference": round(on_p50 - off_p50, 3),
            "gateway_cpu_ms_per_request_on": on_cpu,
            "gateway_cpu_ms_per_request_off": off_cpu,
            "redis_cpu_ms_per_request_on": mean([r["cpu_ms_per_request"]["redis"] for r in on]),
            "redis_cpu_ms_per_request_off": mean([r["cpu_ms_per_request"]["redis"] for r in off]),
            "other_cores_max": max(
                (r["cpu_cores_busy"]["other"] for r in runs if r["concurrency"] == concurrency), default=0
            ),
        }
    return {
        "order": ["on" if e else "off" for e in order],
        "levels": args.metering_levels,
        "duration_s": args.duration,
        "what_on_means": "METERING_ENABLED=true: rate limits (use case, LOB) and budget (use case) admitted by "
        "the Lua script and settled after the call, usage record XADDed to genai:usage (no flusher runs)",
        "summary": summary,
        "runs": runs,
        "last_usage_record": sample,
    }


def preflight(target: Target, provider: str, gateway: Child, worker: Child) -> dict[str, str]:
    """One call end to end, waiting for the worker to come up; checks the answer is the upstream's."""
    deadline = time.monotonic() + 90
    while True:
        gateway.check_alive()
        worker.check_alive()
        status, headers, body = post_json(target, timeout=70)
        if status == 200:
            break
        if time.monotonic() > deadline or status not in (502, 503, 504):
            raise BenchError(
                f"the first call answered {status}: {json.dumps(body)[:800]}\n{gateway.tail(1500)}\n{worker.tail(1500)}"
            )
        time.sleep(0.5)
    headers = {k.lower(): v for k, v in headers.items()}
    content = body["choices"][0]["message"]["content"]
    if headers.get("x-genai-provider") != provider:
        raise BenchError(f"the call was served by {headers.get('x-genai-provider')!r}, not {provider!r}")
    if provider == "openai_compatible" and content != MOCK_REPLY:
        raise BenchError(f"the gateway answered {content!r}, not the mock upstream's reply")
    say(f"first call OK through {headers.get('x-genai-deployment')}: {content!r}, usage {body.get('usage')}")
    return headers


def profile_level(
    pyspy: Path,
    measure: Any,
    target: Target,
    concurrency: int,
    duration: float,
    gateway: Child,
    worker: Child,
    workdir: Path,
    output: Path,
) -> dict[str, Any]:
    say(f"profiling gateway and worker with py-spy at concurrency {concurrency} ({duration:g}s)")
    # One py-spy at a time: two samplers on two busy cores fall behind and skew the samples.
    outputs = {}
    results = {}
    for name, child in (("gateway", gateway), ("worker", worker)):
        outputs[name] = workdir / f"pyspy-{name}-c{concurrency}.txt"
        with pyspy_recording(pyspy, child.process.pid, outputs[name], duration, workdir / "pyspy.log"):
            results[name] = measure(target, concurrency, duration)
    keep = output.parent / "profiles"  # the raw collapsed stacks, for flamegraph.pl or speedscope
    keep.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {}
    for name, path in outputs.items():
        if path.exists():
            (keep / (path.name + ".gz")).write_bytes(gzip.compress(path.read_bytes()))
        summary[name] = summarize_collapsed(path)
        summary[name]["rps_while_profiled"] = results[name].rps
        summary[name]["requests"] = results[name].requests
    return summary


def level_json(lv: Level) -> dict[str, Any]:
    return {
        "name": lv.name,
        "target": lv.target,
        "concurrency": lv.concurrency,
        **asdict(lv.result),
        "upstream_calls": lv.upstream_calls,
        "cpu_ms_per_request": lv.cpu_ms_per_request,
        "cpu_cores_busy": lv.cpu_utilisation,
    }


def build_report(
    args: argparse.Namespace,
    started_at: dt.datetime,
    provider: str,
    provider_note: str | None,
    loadgen: str,
    wrk: str | None,
    levels: list[Level],
    profiles: dict[str, Any],
    settings: dict[str, Any],
) -> dict[str, Any]:
    direct = next((lv for lv in levels if lv.target == "direct"), None)
    gateway_levels = [lv for lv in levels if lv.target == "gateway"]
    at_one = next((lv for lv in gateway_levels if lv.concurrency == 1), None)
    at_64 = next((lv for lv in gateway_levels if lv.concurrency == 64), None)
    added = round(at_one.result.p50_ms - direct.result.p50_ms, 3) if at_one and direct else None
    verdict = {
        "reference": {"added_p50_ms_at_c1": REFERENCE_ADDED_MS, "rps_at_c64": REFERENCE_RPS_AT_64},
        "target": {"added_p50_ms_at_c1": TARGET_ADDED_MS, "rps_at_c64": TARGET_RPS_AT_64},
        "added_p50_ms_at_c1": added,
        "rps_at_c64": at_64.result.rps if at_64 else None,
        "meets_latency_target": added is not None and added <= TARGET_ADDED_MS,
        "meets_throughput_target": at_64 is not None and at_64.result.rps >= TARGET_RPS_AT_64,
    }
    return {
        "benchmark": "gateway_load",
        "date": started_at.isoformat(timespec="seconds"),
        "git": git_revision(),
        "machine": machine_info(),
        "software": software_versions(wrk),
        "settings": {
            "provider": provider,
            "provider_note": provider_note,
            "loadgen": loadgen,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "concurrency_levels": args.levels,
            "gunicorn_workers": settings["gunicorn_workers"],
            "gunicorn_threads": settings["gunicorn_threads"],
            "gunicorn_config": "deploy/gunicorn.conf.py"
            + (" with flags" if args.gunicorn_workers or args.gunicorn_threads else " defaults"),
            "celery_pool": args.worker_pool,
            "celery_concurrency": args.worker_concurrency,
            "celery_loglevel": args.worker_loglevel,
            "celery_task_loglevel": settings["celery_task_loglevel"],
            "metering_enabled": settings["metering_enabled"],
            "celery_prefetch_multiplier": args.prefetch_multiplier or "settings default",
            "genai_env": settings["genai_env"],
            "django_debug": settings["django_debug"],
            "redis_dbs": {"broker": BROKER_DB, "cache_and_replies": CACHE_DB},
        },
        "levels": [level_json(lv) for lv in levels],
        "verdict": verdict,
        "profiles": profiles,
    }


def print_report(report: dict[str, Any]) -> None:
    s, m = report["settings"], report["machine"]
    print()
    print(
        f"Gateway load benchmark  {report['date']}  git {report['git']}  "
        f"{m['nproc']} x {m['cpu_model']}  Python {m['python']}  loadgen {s['loadgen']}"
    )
    print(
        f"provider {s['provider']}; gunicorn {s['gunicorn_workers']} worker(s) x {s['gunicorn_threads']} threads; "
        f"celery {s['celery_pool']} x {s['celery_concurrency']}; {s['duration_s']:g}s per level"
    )
    if s["provider_note"]:
        print(s["provider_note"])
    header = (
        f"{'target':<8} {'conc':>4} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
        f"{'errors':>6} | {'CPU ms/req: gateway':>19} {'worker':>6} {'redis':>5} {'loadgen':>7} "
        f"| {'cores busy: ours':>16} {'other':>5}"
    )
    print(header)
    print("-" * len(header))
    for lv in report["levels"]:
        cpu, busy = lv["cpu_ms_per_request"], lv["cpu_cores_busy"]
        ours = sum(v for k, v in busy.items() if k != "other" and "." not in k)
        print(
            f"{lv['target']:<8} {lv['concurrency']:>4} {lv['requests']:>8} {lv['rps']:>8.1f} {lv['p50_ms']:>8.2f} "
            f"{lv['p90_ms']:>8.2f} {lv['p99_ms']:>8.2f} {lv['errors']:>6} | {cpu['gateway']:>19.2f} "
            f"{cpu['worker']:>6.2f} {cpu['redis']:>5.2f} {cpu['loadgen']:>7.2f} | {ours:>16.2f} {busy['other']:>5.2f}"
        )
    v = report["verdict"]
    print()
    added, rps = v["added_p50_ms_at_c1"], v["rps_at_c64"]
    if added is not None:
        print(
            f"latency added by the gateway (p50 c=1 gateway - direct): {added:.2f} ms  "
            f"(target <= {v['target']['added_p50_ms_at_c1']:g} ms: {'MET' if v['meets_latency_target'] else 'NOT MET'})"
        )
    if rps is not None:
        print(
            f"throughput at concurrency 64: {rps:.1f} req/s  "
            f"(target >= {v['target']['rps_at_c64']:g} req/s: {'MET' if v['meets_throughput_target'] else 'NOT MET'})"
        )
    if report.get("latency"):
        print_latency(report["latency"])
    comparison = report.get("metering_comparison")
    if comparison:
        print(f"metering, budgets and rate limits on vs off ({' '.join(comparison['order'])}, means):")
        for concurrency, row in comparison["summary"].items():
            print(
                f"  c={concurrency:<3} req/s on {row['rps_on']:.1f} / off {row['rps_off']:.1f} = "
                f"{row['rps_ratio_on_to_off']:.3f}  p50 on {row['p50_ms_on']:.2f} / off {row['p50_ms_off']:.2f} ms "
                f"({row['p50_ms_difference']:+.2f} ms)  gateway CPU ms/req "
                f"on {row['gateway_cpu_ms_per_request_on']:.2f} / off {row['gateway_cpu_ms_per_request_off']:.2f}"
            )
    for name, profile in report["profiles"].items():
        print(f"\npy-spy at {name} (share of samples; --gil: Python code holding the GIL):")
        for role in ("gateway", "worker"):
            p = profile[role]
            print(f"  {role}: {p['samples']} samples at {p['rps_while_profiled']} req/s")
            packages = ", ".join(f"{e['package']} {e['share'] * 100:.0f}%" for e in p["packages_self"][:8])
            print(f"    by package (self): {packages}")
            for entry in p["project_inclusive"][:8]:
                print(f"    {entry['share'] * 100:5.1f}%  {entry['function']}")
    print()


if __name__ == "__main__":
    sys.exit(main())
