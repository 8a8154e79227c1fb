"""Two beat processes, as in a rollout or an HA pair: only the one holding the lock in Redis sends the
periodic tasks, when it dies the other takes over within the lock's timeout, and when Redis loses
its data the holder restores the lock and the schedule and goes on."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import redis

from .conftest import BIN, LiveStack, running, wait_for

pytestmark = pytest.mark.e2e

STACK_ENV = {"BEAT_MAX_LOOP_SECONDS": "1", "BEAT_LOCK_TIMEOUT_SECONDS": "5", "METERING_FLUSH_SECONDS": "1"}
SENT = "Sending due task flush-usage"


def beat_args() -> list[str]:
    return [str(BIN / "celery"), "-A", "genai_platform.beat_app", "beat", "--loglevel", "INFO"]


def sends(log: Path) -> int:
    return log.read_text().count(SENT) if log.exists() else 0


def test_only_the_beat_holding_the_lock_sends_and_the_other_takes_over_when_it_dies(services_stack: LiveStack):
    first_log, second_log = services_stack.logs / "beat-1.log", services_stack.logs / "beat-2.log"
    with running(beat_args(), services_stack.env, first_log) as first:
        wait_for(lambda: sends(first_log) >= 1, timeout=60, what="the first beat to send")
        with running(beat_args(), services_stack.env, second_log):
            wait_for(lambda: "beat: Starting" in second_log.read_text(), timeout=60, what="the second beat to start")
            already = sends(first_log)
            wait_for(lambda: sends(first_log) >= already + 3, timeout=60, what="three more sends by the holder")

            assert sends(second_log) == 0

            os.killpg(first.pid, signal.SIGKILL)  # no clean release: the lock must expire
            first.wait()
            wait_for(lambda: sends(second_log) >= 2, timeout=60, what="the second beat to take over")

            # Redis loses everything, beat's lock and schedule included: beat takes the lock again,
            # writes the schedule back and goes on sending.
            redis.Redis.from_url(services_stack.env["REDIS_URL"]).flushdb()
            after_flush = sends(second_log)
            wait_for(lambda: sends(second_log) >= after_flush + 3, timeout=60, what="sends after Redis was flushed")
            assert "beat lost its lock" in second_log.read_text()
        assert first.returncode == -signal.SIGKILL
