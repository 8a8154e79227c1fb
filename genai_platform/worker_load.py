"""Worker saturation: each Celery worker process reports how many of its slots are busy, so `/metrics`
(scraped from the gateways) shows `genai_worker_busy_slots` and `genai_worker_slots` per worker, the
signal that a provider's workers need more replicas before callers wait in the queue.

A worker writes its counts into one Redis hash every `REPORT_SECONDS` from a daemon thread; the
scrape ignores (and removes) reports older than `STALE_SECONDS`, so a dead worker drops out."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from celery.signals import celeryd_after_setup, task_postrun, task_prerun
from django.conf import settings
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

HASH_KEY = "genai:workers:load"
REPORT_SECONDS = 2.0
STALE_SECONDS = 15.0


class _Load:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.busy = 0
        self.slots = 0
        self.hostname = ""


_load = _Load()


@celeryd_after_setup.connect
def _start_reporting(sender: str, instance: Any, **_: Any) -> None:
    if not settings.REDIS_URL:
        return
    _load.hostname, _load.slots = sender, int(instance.concurrency or 1)
    threading.Thread(target=_report_forever, name="worker-load", daemon=True).start()


@task_prerun.connect
def _task_started(**_: Any) -> None:
    with _load.lock:
        _load.busy += 1


@task_postrun.connect
def _task_ended(**_: Any) -> None:
    with _load.lock:
        _load.busy = max(0, _load.busy - 1)


def _report_forever() -> None:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    while True:
        with _load.lock:
            report = {"busy": _load.busy, "slots": _load.slots, "at": time.time()}
        try:
            client.hset(HASH_KEY, _load.hostname, json.dumps(report))
        except redis.RedisError:  # the next report will do; saturation is advisory
            logger.debug("could not report worker load", exc_info=True)
        time.sleep(REPORT_SECONDS)


class WorkerLoadCollector(Collector):
    """genai_worker_busy_slots{worker} and genai_worker_slots{worker} from the workers' reports."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        busy = GaugeMetricFamily("genai_worker_busy_slots", "Calls a worker is running now.", labels=["worker"])
        slots = GaugeMetricFamily("genai_worker_slots", "Calls a worker can run at once.", labels=["worker"])
        if settings.REDIS_URL:
            import redis

            client = redis.Redis.from_url(settings.REDIS_URL)
            try:
                reports = client.hgetall(HASH_KEY)
            except redis.RedisError:
                reports = {}
            now = time.time()
            for worker, raw in reports.items():
                report = json.loads(raw)
                if now - report["at"] > STALE_SECONDS:
                    client.hdel(HASH_KEY, worker)
                    continue
                busy.add_metric([worker.decode()], report["busy"])
                slots.add_metric([worker.decode()], report["slots"])
        yield busy
        yield slots
