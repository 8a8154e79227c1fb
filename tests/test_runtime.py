"""What a process may import: torch and transformers only where local models may run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from genai_platform import runtime

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, True),  # no broker: tasks, and so local models, run in this process
        ({"CELERY_BROKER_URL": "redis://127.0.0.1:6379/1"}, False),
        ({"CELERY_BROKER_URL": "redis://127.0.0.1:6379/1", "GENAI_ML_FRAMEWORKS": "on"}, True),
        ({"GENAI_ML_FRAMEWORKS": "off"}, False),
    ],
)
def test_a_process_wants_ml_frameworks_only_where_tasks_run_in_it_unless_told(environ, wanted):
    assert runtime.ml_frameworks_wanted(environ) is wanted


@pytest.mark.parametrize(
    ("queues", "wanted"),
    [
        (["provider.openai_compatible", "provider.bedrock"], False),
        (["platform"], False),
        (["provider.local"], True),
        ("provider.sandbox,provider.local", True),
        (None, True),  # a worker without -Q consumes every queue, the local provider's too
        ([], True),
    ],
)
def test_a_worker_wants_ml_frameworks_only_when_it_consumes_the_local_providers_queue(queues, wanted):
    assert runtime.worker_wants_ml_frameworks({"CELERY_BROKER_URL": "redis://x"}, queues) is wanted


def test_kept_out_frameworks_import_as_if_not_installed_and_come_back_when_let_in():
    code = (
        "from genai_platform import runtime\n"
        "runtime.keep_ml_frameworks_out()\n"
        "try:\n    import transformers\n    print('imported')\nexcept ImportError:\n    print('absent')\n"
        "runtime.let_ml_frameworks_in()\n"
        "import importlib.util\nprint('findable' if importlib.util.find_spec('transformers') else 'missing')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)

    assert done.stdout.split() == ["absent", "findable"], done.stderr[-2000:]


def test_a_gateway_process_of_a_deployment_with_a_broker_loads_no_ml_framework():
    env = {
        **os.environ,
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/1",
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    }
    env.pop("GENAI_ML_FRAMEWORKS", None)
    code = (
        "import json, sys\nimport genai_platform.wsgi\n"
        "print(json.dumps([m for m in ('torch', 'transformers') if sys.modules.get(m) is not None]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_the_open_files_limit_is_raised_to_the_hard_limit():
    import resource

    limit = runtime.raise_open_files_limit()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert limit == soft
    assert hard == resource.RLIM_INFINITY or soft == hard


def test_a_settled_heap_is_left_out_of_garbage_collections_unless_turned_off():
    import gc

    try:
        assert runtime.heap_settled({"GC_FREEZE_AT_START": "false"}) is False
        assert gc.get_freeze_count() == 0

        assert runtime.heap_settled({}) is True
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_the_gateway_application_freezes_what_it_loaded_before_serving():
    """A full collection would otherwise walk every start-up object (~100 ms, the GIL held) each
    time load triggers one: the stalls were most of the streams' added time to first chunk
    (docs/performance.md)."""
    env = {
        **os.environ,
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/1",
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    }
    code = "import gc\nimport genai_platform.asgi\nprint(gc.get_freeze_count())\n"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.strip().splitlines()[-1]) > 50_000
