"""Embedding calls: plan -> admit -> dispatch -> meter, the one way the platform embeds, whether
for `/v1/embeddings`, a vector store's ingestion or a retrieval query."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from genai_platform.providers.types import EmbeddingRequest, EmbeddingResponse
from genai_platform.router.dispatch import DispatchError, Served, embedding_dispatch_steps
from genai_platform.router.waiting import Steps, drive
from model_catalog.selectors import AliasRoutes

from .errors import ProviderFailed
from .guarding import CallGuard
from .metering import CallMeter
from .planning import embedding_plan, gated_routes
from .principal import KeyPrincipal


@dataclass(frozen=True)
class EmbeddingResult:
    response: EmbeddingResponse
    alias: str
    served: Served
    cost: Decimal
    rate_headers: dict[str, str]


def embeddings_create(
    principal: KeyPrincipal,
    request: EmbeddingRequest,
    *,
    request_id: str,
    routes: AliasRoutes | None = None,
    end_user: str = "",
    guard: CallGuard | None = None,
) -> EmbeddingResult:
    """`embeddings_create_steps`, blocking this thread while it waits (ingestion, retrieval)."""
    steps = embeddings_create_steps(
        principal, request, request_id=request_id, routes=routes, end_user=end_user, guard=guard
    )
    return drive(steps)


def embeddings_create_steps(
    principal: KeyPrincipal,
    request: EmbeddingRequest,
    *,
    request_id: str,
    routes: AliasRoutes | None = None,
    end_user: str = "",
    guard: CallGuard | None = None,
) -> Steps[EmbeddingResult]:
    """Embeds through the router, admitted and metered as the principal's call. Without `routes`
    the key's own gate decides (`/v1/embeddings`); a vector store passes its alias's routes, which
    were checked when the store was registered. Raises an `InferenceError`."""
    plan = embedding_plan(routes or gated_routes(principal, request.model), request)
    with CallMeter(principal, request_id, "embeddings", plan.routes.alias, end_user=end_user) as meter:
        if guard is not None:  # a caller's own texts (not the platform's chunks) are checked like prompts
            meter.guardrails = guard.summary()
            request = dataclasses.replace(request, inputs=guard.check_texts(request.inputs))
        rate_headers = meter.admit(plan.targets, input_tokens=plan.input_tokens, max_output_tokens=0)
        deadline = time.time() + settings.GATEWAY_REQUEST_DEADLINE_SECONDS
        try:
            outcome = yield from embedding_dispatch_steps(
                request=request, targets=plan.targets, deadline=deadline, request_id=request_id
            )
        except DispatchError as exc:
            raise ProviderFailed(exc.error, attempts=exc.attempts) from None
        meter.served, meter.usage = outcome.served, outcome.response.usage
    return EmbeddingResult(outcome.response, plan.routes.alias, outcome.served, meter.cost, rate_headers)
