"""Routing strategies: the order in which an alias's eligible deployments are tried.

Each strategy only orders; the dispatcher then tries deployments in that order, so every
strategy gets fallback for free. Deployments whose breaker is open are left out, and a half-open
one is kept only by the one caller that wins its probe.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from decimal import Decimal

from model_catalog.selectors import DeploymentTarget

from .health import CLOSED, HALF_OPEN, DeploymentHealth, HealthStore

#: Output tokens assumed when a request sets no max_tokens, to compare prices between deployments.
TYPICAL_OUTPUT_TOKENS = 256


def by_priority(targets: Sequence[DeploymentTarget], **_: object) -> list[DeploymentTarget]:
    return sorted(targets, key=lambda t: t.priority)


def by_weight(targets: Sequence[DeploymentTarget], *, rng: random.Random, **_: object) -> list[DeploymentTarget]:
    """A weighted draw without replacement: the first pick follows the weights, fallbacks too."""
    remaining = list(targets)
    ordered: list[DeploymentTarget] = []
    while remaining:
        weights = [max(t.weight, 0) for t in remaining]
        if not any(weights):
            ordered.extend(sorted(remaining, key=lambda t: t.priority))
            break
        pick = rng.choices(range(len(remaining)), weights=weights)[0]
        ordered.append(remaining.pop(pick))
    return ordered


def by_cost(
    targets: Sequence[DeploymentTarget], *, input_tokens: int, output_tokens: int | None, **_: object
) -> list[DeploymentTarget]:
    expected_output = output_tokens or TYPICAL_OUTPUT_TOKENS

    def cost(target: DeploymentTarget) -> tuple[Decimal, int]:
        price = input_tokens * target.input_price_per_million + expected_output * target.output_price_per_million
        return price, target.priority

    return sorted(targets, key=cost)


def by_latency(
    targets: Sequence[DeploymentTarget], *, health: dict[str, DeploymentHealth], **_: object
) -> list[DeploymentTarget]:
    """Fastest observed first; a deployment not yet measured goes first so that it gets measured."""

    def latency(target: DeploymentTarget) -> tuple[float, int]:
        observed = health[target.deployment].latency_ms
        return (observed if observed is not None else -1.0), target.priority

    return sorted(targets, key=latency)


STRATEGIES: dict[str, Callable[..., list[DeploymentTarget]]] = {
    "priority": by_priority,
    "weighted": by_weight,
    "lowest_cost": by_cost,
    "lowest_latency": by_latency,
}


def plan_attempts(
    strategy: str,
    targets: Sequence[DeploymentTarget],
    *,
    store: HealthStore,
    input_tokens: int = 0,
    output_tokens: int | None = None,
    rng: random.Random | None = None,
) -> list[DeploymentTarget]:
    """The deployments to try, in order, for one request."""
    health = store.snapshot([t.deployment for t in targets])
    ordered = STRATEGIES[strategy](
        targets, health=health, input_tokens=input_tokens, output_tokens=output_tokens, rng=rng or random.Random()
    )
    planned = []
    for target in ordered:
        state = health[target.deployment].breaker
        if state == CLOSED or (state == HALF_OPEN and store.try_probe(target.deployment)):
            planned.append(target)
    return planned
