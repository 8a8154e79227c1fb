"""Celery beat's scheduler: celery-redbeat's (the schedule and a lock in Redis, so one of several beat
processes sends), made to survive Redis losing its data.

When Redis is flushed or restarted empty, the lock and the schedule entries are gone: redbeat would
fail renewing the lock (and the beat process would exit), and a beat restarted against the empty
Redis would find no entries, so no periodic task, the usage flush included, would ever be sent
again. This scheduler notices the lost lock, takes the lock again (waiting while another beat holds
it) and writes the static schedule back before sending anything."""

from __future__ import annotations

import logging
from typing import Any

from redbeat.schedulers import RedBeatScheduler, acquire_distributed_beat_lock
from redis.exceptions import LockError

logger = logging.getLogger(__name__)


class PlatformBeatScheduler(RedBeatScheduler):
    def tick(self, min: Any = min, **kwargs: Any) -> float:
        try:
            return super().tick(min=min, **kwargs)
        except LockError:
            logger.warning("beat lost its lock (Redis lost its data?): taking it again, then restoring the schedule")
            self.lock = None
            acquire_distributed_beat_lock(sender=_Sender(self))  # blocks while another beat holds it
            self.setup_schedule()
            return self.max_interval


class _Sender:
    """What redbeat's lock-taking signal handler reads off the beat service: its scheduler."""

    def __init__(self, scheduler: PlatformBeatScheduler) -> None:
        self.scheduler = scheduler
