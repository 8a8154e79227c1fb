"""The app `celery beat` runs: it sends what the project's app would send, where it would send it,
without setting Django up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Runs in a fresh process: the test process has Django set up already.
PROBE = """
import json
import sys
from django.apps import apps
from genai_platform import beat_app
from genai_platform.celery import app as project

def route(current, entry):
    options = dict(entry.get("options") or {})
    return current.amqp.router.route(options, entry["task"])["queue"].name

schedule = beat_app.app.conf.beat_schedule
print(json.dumps({
    "django_set_up": apps.ready,
    "models_imported": sorted(m for m in sys.modules if m.endswith(".models") and not m.startswith("django.")),
    "schedule": sorted(schedule) == sorted(project.conf.beat_schedule),
    "routes": {name: [route(beat_app.app, e), route(project, e)] for name, e in schedule.items()},
    "scheduler": [beat_app.app.conf.beat_scheduler, project.conf.beat_scheduler],
    "broker": beat_app.app.conf.broker_url == project.conf.broker_url,
}))
"""


def probe() -> dict:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "genai_platform.settings",
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/2",  # never connected to: nothing is sent
        "REDIS_URL": "redis://127.0.0.1:1/1",
    }
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_beat_sends_every_scheduled_task_to_the_queue_the_project_app_would_without_setting_django_up():
    seen = probe()

    assert seen["django_set_up"] is False
    assert seen["models_imported"] == []
    assert seen["schedule"] and seen["broker"]
    assert seen["scheduler"][0] == seen["scheduler"][1] == "genai_platform.beat.PlatformBeatScheduler"
    assert seen["routes"], "the schedule is empty"
    for name, (beat_queue, project_queue) in seen["routes"].items():
        assert beat_queue == project_queue, name
    assert seen["routes"]["flush-usage"][0] == "platform"
