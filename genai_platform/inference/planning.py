"""Plan: may this key call this model, and which deployments, in which order, may serve the call.

The production gate, the key's models, the model's approval for the use case's data, capability,
context window, the alias's strategy and open circuit breakers. Refusals are domain errors.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from genai_platform.providers.tokens import estimate_tokens
from genai_platform.providers.types import ChatRequest, EmbeddingRequest
from genai_platform.router.health import health_store
from genai_platform.router.strategies import plan_attempts
from model_catalog.selectors import AliasRoutes, DeploymentTarget, alias_names, alias_routes

from .errors import InvalidRequest, ModelNotFound, NotPermitted, Unavailable
from .principal import KeyPrincipal

RETIRED = "retired"


@dataclass(frozen=True)
class ChatPlan:
    """Where one chat request may go: the alias's routes, the deployments to try in order, and the
    prompt's estimated size."""

    routes: AliasRoutes
    targets: tuple[DeploymentTarget, ...]
    prompt_tokens: int


@dataclass(frozen=True)
class EmbeddingPlan:
    routes: AliasRoutes
    targets: tuple[DeploymentTarget, ...]
    input_tokens: int


def models_visible(principal: KeyPrincipal) -> list[tuple[str, int]]:
    """The aliases this key may call, with their creation time: its use case's models, and only
    sandbox ones for a sandbox key."""
    return alias_names(names=principal.allowed_aliases, sandbox_only=not principal.is_production)


def chat_plan(principal: KeyPrincipal, request: ChatRequest) -> ChatPlan:
    """Gates and routes a chat request; raises an `InferenceError` when it cannot go anywhere."""
    routes = gated_routes(principal, request.model)
    prompt_tokens = sum(estimate_tokens(m.content) for m in request.messages)
    fitting = _fitting(_eligible(routes.targets, capability="chat"), request, prompt_tokens)
    targets = plan_attempts(
        routes.strategy, fitting, store=health_store(), input_tokens=prompt_tokens, output_tokens=request.max_tokens
    )
    return ChatPlan(routes=routes, targets=tuple(targets), prompt_tokens=prompt_tokens)


def embedding_plan(routes: AliasRoutes, request: EmbeddingRequest) -> EmbeddingPlan:
    """Routes an embedding request over `routes`, which the caller gated (`gated_routes` for a key's
    own call; a vector store's alias was checked when the store was registered)."""
    input_tokens = sum(estimate_tokens(text) for text in request.inputs)
    targets = plan_attempts(
        routes.strategy,
        _eligible(routes.targets, capability="embeddings"),
        store=health_store(),
        input_tokens=input_tokens,
        output_tokens=0,
    )
    return EmbeddingPlan(routes=routes, targets=tuple(targets), input_tokens=input_tokens)


def gated_routes(principal: KeyPrincipal, model: str) -> AliasRoutes:
    """The alias's routes if this key may call it; otherwise the reason it may not."""
    if principal.is_production:
        production_gate(principal)
    routes = alias_routes(model) if model in principal.allowed_aliases else None
    if routes is None:
        raise model_not_found(model)
    if principal.is_production and model not in principal.approved_aliases:
        raise NotPermitted(
            f"The model '{model}' is not among the models the governance board approved for use case "
            f"'{principal.use_case_slug}'; a change of models goes back to review.",
            code="model_not_approved",
            param="model",
        )
    if principal.is_production and model not in principal.classification_aliases:
        raise NotPermitted(
            f"The model '{model}' is not approved for {principal.data_classification} data.",
            code="model_not_approved",
            param="model",
        )
    if not principal.is_production and not routes.available_in_sandbox:
        raise NotPermitted(
            f"The model '{model}' is not available to sandbox keys; "
            "use a production key once the use case is approved.",
            code="model_not_approved",
            param="model",
        )
    return routes


def production_gate(principal: KeyPrincipal) -> None:
    """Production keys work only while the use case's approval is current and unexpired."""
    expired = principal.approval_expires_at is not None and principal.approval_expires_at <= timezone.now()
    if principal.approval_status == "current" and not expired:
        return
    if principal.approval_status == "suspended":
        reason = "its approval is suspended"
    elif principal.approval_status == "expired" or expired:
        reason = "its approval has expired"
    else:
        reason = f"it is {principal.use_case_status.replace('_', ' ')} and has no approval"
    raise NotPermitted(
        f"Use case '{principal.use_case_slug}' may not serve production traffic: {reason}. Production keys work "
        "only while the governance board's approval is current; sandbox keys work before approval.",
        code="use_case_not_approved",
    )


def model_not_found(name: str) -> ModelNotFound:
    return ModelNotFound(
        f"The model '{name}' does not exist or you do not have access to it.", param="model", code="model_not_found"
    )


def _eligible(targets: tuple[DeploymentTarget, ...], *, capability: str) -> tuple[DeploymentTarget, ...]:
    live = tuple(t for t in targets if t.lifecycle != RETIRED)
    capable = tuple(t for t in live if (t.supports_chat if capability == "chat" else t.supports_embeddings))
    if not live:
        raise Unavailable("The model has no active deployment.", code="model_unavailable")
    if not capable:
        kind = "chat completions" if capability == "chat" else "embeddings"
        raise InvalidRequest(f"This model does not support {kind}.", param="model", code="model_not_supported")
    return capable


def _fitting(
    targets: tuple[DeploymentTarget, ...], request: ChatRequest, prompt_tokens: int
) -> tuple[DeploymentTarget, ...]:
    needed = prompt_tokens + (request.max_tokens or 0)
    fitting = tuple(t for t in targets if needed <= t.context_window)
    if not fitting:
        largest = max(t.context_window for t in targets)
        raise InvalidRequest(
            f"This model's maximum context length is {largest} tokens, but the request needs about {needed} "
            f"({prompt_tokens} in the messages plus {request.max_tokens or 0} for the completion).",
            param="messages",
            code="context_length_exceeded",
        )
    return fitting
