"""Prometheus metrics for every gateway call, fed from the one place that sees each call end
(`CallMeter.finish`). Under several gunicorn processes set PROMETHEUS_MULTIPROC_DIR so the scrape
sums them; circuit-breaker states are read from the shared health store at scrape time."""

from __future__ import annotations

import logging
from decimal import Decimal

from prometheus_client import Counter, Histogram

logger = logging.getLogger(__name__)

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
    "genai_guardrail_actions",
    "Guardrail checks that acted, by check, action and direction.",
    ["check", "action", "direction"],
)

DEAD_LETTERS = Counter("genai_ledger_dead_letters", "Buffered usage records the ledger could not store and set aside.")


ERRORS = Counter("genai_errors", "Calls that did not succeed, by error code.", ["endpoint", "code"])
# The GenAI semantic conventions' client metrics, under Prometheus' names for them.
GENAI_TOKEN_USAGE = Histogram(
    "gen_ai_client_token_usage",
    "Tokens per model call (gen_ai.client.token.usage), by token type.",
    ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_token_type"],
    buckets=(1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576),
)
GENAI_DURATION = Histogram(
    "gen_ai_client_operation_duration_seconds",
    "Duration of a model call as its caller saw it (gen_ai.client.operation.duration).",
    ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "error_type"],
    buckets=(0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92),
)
GENAI_TIME_TO_FIRST_CHUNK = Histogram(
    "gen_ai_client_operation_time_to_first_chunk_seconds",
    "Time from a streamed call's start to its first chunk (gen_ai.client.operation.time_to_first_chunk).",
    ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model"],
    buckets=(0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24),
)
_GENAI = (GENAI_TOKEN_USAGE, GENAI_DURATION, GENAI_TIME_TO_FIRST_CHUNK)


def observe_genai_call(
    *,
    operation: str,
    provider: str,
    request_model: str,
    duration_seconds: float,
    input_tokens: int,
    output_tokens: int,
    time_to_first_chunk: float | None,
    error_type: str,
) -> None:
    """The GenAI client metrics of one call, in Prometheus (OpenTelemetry records its own)."""
    labels = (operation, provider or "none", request_model)
    GENAI_DURATION.labels(*labels, error_type).observe(duration_seconds)
    if input_tokens:
        GENAI_TOKEN_USAGE.labels(*labels, "input").observe(input_tokens)
    if output_tokens:
        GENAI_TOKEN_USAGE.labels(*labels, "output").observe(output_tokens)
    if time_to_first_chunk is not None:
        GENAI_TIME_TO_FIRST_CHUNK.labels(*labels).observe(time_to_first_chunk)


def observe_guardrail(*, check: str, action: str, direction: str) -> None:
    GUARDRAIL_ACTIONS.labels(check, action, direction).inc()


GUARDRAIL_ERRORS = Counter(
    "genai_guardrail_errors",
    "Guardrail checks that failed (raised or overran), by check, direction and error.",
    ["check", "direction", "error"],
)


def observe_guardrail_error(*, check: str, direction: str, error: str) -> None:
    """A check that could not give a verdict; alerted on (deploy/prometheus/genai-alerts.yaml, GenAIGuardrailErrors)."""
    GUARDRAIL_ERRORS.labels(check, direction, error).inc()


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
    error_code: str = "",
) -> None:
    provider, deployment = provider or "none", deployment or "none"
    REQUESTS.labels(endpoint, provider, deployment, status).inc()
    if error_code:
        ERRORS.labels(endpoint, error_code).inc()
    if input_tokens:
        TOKENS.labels(provider, deployment, "input").inc(input_tokens)
    if output_tokens:
        TOKENS.labels(provider, deployment, "output").inc(output_tokens)
    if cost:
        COST.labels(provider, deployment).inc(float(cost))
    LATENCY.labels(endpoint, provider, status).observe(latency_seconds)
