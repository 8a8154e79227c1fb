"""Prometheus metrics for every gateway call, fed from the one place that sees each call end
(`CallMeter.finish`). Under several gunicorn processes set PROMETHEUS_MULTIPROC_DIR so the scrape
sums them; circuit-breaker states are read from the shared health store at scrape time."""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

REQUESTS = Counter("genai_requests", "Gateway calls by outcome.", ["endpoint", "provider", "deployment", "status"])
TOKENS = Counter("genai_tokens", "Tokens metered.", ["provider", "deployment", "direction"])
COST = Counter("genai_cost_usd", "Cost metered, in US dollars at the price of each call.", ["provider", "deployment"])
LATENCY = Histogram(
    "genai_request_latency_seconds",
    "Gateway latency of a call, from admission to its last byte.",
    ["endpoint", "provider", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
GUARDRAIL_ACTIONS = Counter(
    "genai_guardrail_actions", "Guardrail checks that acted, by check, action and direction.",
    ["check", "action", "direction"],
)  # fmt: skip

DEAD_LETTERS = Counter("genai_ledger_dead_letters", "Buffered usage records the ledger could not store and set aside.")


def observe_guardrail(*, check: str, action: str, direction: str) -> None:
    GUARDRAIL_ACTIONS.labels(check, action, direction).inc()


def observe_call(
    *,
    endpoint: str,
    provider: str,
    deployment: str,
    status: str,
    input_tokens: int,
    output_tokens: int,
    cost: Decimal,
    latency_seconds: float,
) -> None:
    provider, deployment = provider or "none", deployment or "none"
    REQUESTS.labels(endpoint, provider, deployment, status).inc()
    if input_tokens:
        TOKENS.labels(provider, deployment, "input").inc(input_tokens)
    if output_tokens:
        TOKENS.labels(provider, deployment, "output").inc(output_tokens)
    if cost:
        COST.labels(provider, deployment).inc(float(cost))
    LATENCY.labels(endpoint, provider, status).observe(latency_seconds)


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

        from .ledger import usage_backlog
        from .models import DeadLetterUsage

        yield GaugeMetricFamily("genai_ledger_backlog", "Usage records buffered, not yet in the ledger.",
                                value=usage_backlog())  # fmt: skip
        yield GaugeMetricFamily(
            "genai_ledger_backlog_limit", "Backlog above which /readyz is degraded.",
            value=settings.METERING_BACKLOG_LIMIT,
        )  # fmt: skip
        yield GaugeMetricFamily(
            "genai_ledger_dead_letters_open", "Set-aside usage records not yet resolved.",
            value=DeadLetterUsage.objects.filter(resolved_at__isnull=True).count(),
        )  # fmt: skip


def metrics_exposition() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        for collector in (REQUESTS, TOKENS, COST, LATENCY, GUARDRAIL_ACTIONS, DEAD_LETTERS):
            registry.register(collector)
    registry.register(BreakerCollector())
    registry.register(LedgerCollector())
    return generate_latest(registry)
