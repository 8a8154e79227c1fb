"""Production mode refuses unsafe settings at start-up."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.e2e.conftest import ROOT, clean_env

STRONG_KEY = "k" * 50


def start_django(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=clean_env(DJANGO_SETTINGS_MODULE="genai_platform.settings", **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"DJANGO_SECRET_KEY": STRONG_KEY, "DJANGO_DEBUG": "true"}, "DJANGO_DEBUG"),
        ({}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "short"}, "DJANGO_SECRET_KEY"),
    ],
)
def test_production_refuses_to_start_with_debug_or_a_weak_secret_key(env, complaint):
    started = start_django(GENAI_ENV="production", **env)

    assert started.returncode != 0
    assert "ImproperlyConfigured" in started.stderr
    assert complaint in started.stderr


def test_production_starts_with_a_strong_secret_key_and_debug_off():
    assert start_django(GENAI_ENV="production", DJANGO_SECRET_KEY=STRONG_KEY).returncode == 0


def test_a_broker_without_redis_for_replies_is_refused():
    started = start_django(CELERY_BROKER_URL="redis://127.0.0.1:6379/12")

    assert started.returncode != 0
    assert "REDIS_URL" in started.stderr
