"""GET /metrics in Prometheus text format, optionally behind a bearer token (METRICS_TOKEN).

The counters live in `metering.metrics` (every part counts into them); what is asked at scrape
time of the router (breakers), the broker (queue depths) and the workers (slots) is collected
here, above all of them, so that counting never depends on the parts it counts."""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from kombu.exceptions import ChannelError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from genai_platform.metering.metrics import (
    _GENAI,
    COST,
    DEAD_LETTERS,
    ERRORS,
    GUARDRAIL_ACTIONS,
    GUARDRAIL_ERRORS,
    LATENCY,
    REQUESTS,
    TOKENS,
)

logger = logging.getLogger(__name__)


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    if token:
        presented = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(presented.encode(), token.encode()):
            return HttpResponse("metrics need the scrape token\n", status=401, content_type="text/plain")
    return HttpResponse(metrics_exposition(), content_type=CONTENT_TYPE_LATEST)


class BreakerCollector(Collector):
    """genai_breaker_state{deployment}: 0 closed, 1 half-open, 2 open."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from genai_platform.router.health import CLOSED, HALF_OPEN, health_store
        from model_catalog.models import Deployment

        names = list(Deployment.objects.values_list("name", flat=True))
        gauge = GaugeMetricFamily("genai_breaker_state", "Circuit breaker per deployment.", labels=["deployment"])
        for name, health in health_store().snapshot(names).items() if names else []:
            gauge.add_metric([name], {CLOSED: 0, HALF_OPEN: 1}.get(health.breaker, 2))
        yield gauge


class LedgerCollector(Collector):
    """genai_ledger_backlog (entries waiting in the usage buffer), genai_ledger_backlog_limit and
    genai_ledger_dead_letters_open (set-aside records nobody resolved yet), read at scrape time."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.conf import settings

        from genai_platform.metering.ledger import usage_backlog
        from genai_platform.metering.models import DeadLetterUsage

        yield GaugeMetricFamily(
            "genai_ledger_backlog", "Usage records buffered, not yet in the ledger.", value=usage_backlog()
        )
        yield GaugeMetricFamily(
            "genai_ledger_backlog_limit",
            "Backlog above which /readyz is degraded.",
            value=settings.METERING_BACKLOG_LIMIT,
        )
        yield GaugeMetricFamily(
            "genai_ledger_dead_letters_open",
            "Set-aside usage records not yet resolved.",
            value=DeadLetterUsage.objects.filter(resolved_at__isnull=True).count(),
        )


class QueueCollector(Collector):
    """genai_queue_depth{queue}: invocations waiting on each provider queue (and `platform`), asked of
    the broker at scrape time; the signal to scale a provider's workers on."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.conf import settings

        gauge = GaugeMetricFamily("genai_queue_depth", "Messages waiting on each queue.", labels=["queue"])
        if settings.CELERY_BROKER_URL:
            from genai_platform.celery import app

            try:
                with app.connection_for_read() as connection:
                    for queue in app.conf.task_queues:
                        gauge.add_metric([queue.name], _queue_depth(connection, queue.name))
            except Exception:  # a scrape must answer even when the broker does not; the gap is the alert
                logger.warning("could not read queue depths from the broker", exc_info=True)
        yield gauge


def _queue_depth(connection: Any, name: str) -> int:
    """Messages ready on `name`; a channel each, since AMQP closes a channel whose passive declare failed."""
    from amqp.exceptions import NotFound

    with connection.channel() as channel:
        try:
            return channel.queue_declare(queue=name, passive=True).message_count
        except (NotFound, ChannelError):  # never declared yet: nothing was ever sent to it
            return 0


def metrics_exposition() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        collectors = (REQUESTS, TOKENS, COST, LATENCY, GUARDRAIL_ACTIONS, GUARDRAIL_ERRORS, ERRORS, DEAD_LETTERS)
        for collector in (*collectors, *_GENAI):
            registry.register(collector)
    registry.register(BreakerCollector())
    registry.register(LedgerCollector())
    registry.register(QueueCollector())
    from genai_platform.worker_load import WorkerLoadCollector

    registry.register(WorkerLoadCollector())
    return generate_latest(registry)
