"""The request pipeline behind the OpenAI-compatible endpoints:
authenticate -> gate -> choose deployments -> dispatch -> respond.

Views only parse HTTP and render; every decision is made here.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone

from genai_platform.metering.models import UsageRecord
from genai_platform.providers.tokens import estimate_tokens
from genai_platform.providers.types import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    ProviderError,
    StreamEnd,
    TextDelta,
    ToolCallDelta,
    Usage,
    chat_response_from_dict,
    chat_response_to_dict,
)
from genai_platform.router.dispatch import (
    DispatchError,
    EmbeddingOutcome,
    Served,
    chat_dispatch,
    chat_stream_dispatch,
    embedding_dispatch,
)
from genai_platform.router.health import health_store
from genai_platform.router.strategies import plan_attempts
from governance.guardrails.policy import Direction
from lob_tenants.selectors import KeyPrincipal, key_principal
from model_catalog.selectors import AliasRoutes, DeploymentTarget, alias_names, alias_routes

from .accounting import CallMeter
from .errors import GatewayError, provider_error_as_gateway_error
from .guarding import CallGuard, call_guard
from .prompting import with_pinned_prompt
from .response_cache import cached_response, remember_response, response_cache_key
from .schemas import ChatCompletionIn, EmbeddingsIn, GuardrailApplyIn, VectorStoreSearchIn

RETIRED = "retired"
DEPRECATED = "deprecated"


@dataclass
class GatewayReply:
    """A rendered reply: a JSON document, or an iterator of server-sent event lines, plus headers."""

    body: dict[str, Any] | None = None
    stream: Iterator[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def authenticate(authorization: str | None) -> KeyPrincipal:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise GatewayError(
            401,
            "You didn't provide an API key. Send it in the Authorization header: 'Authorization: Bearer YOUR_KEY'.",
            code="missing_api_key",
        )
    principal = key_principal(token.strip())
    if principal is None:
        raise GatewayError(401, "Incorrect, revoked or expired API key provided.", code="invalid_api_key")
    return principal


def models_list(principal: KeyPrincipal) -> dict[str, Any]:
    """The aliases this key may call: its use case's models, and only sandbox ones for a sandbox key."""
    entries = alias_names(names=principal.allowed_aliases, sandbox_only=not principal.is_production)
    return {"object": "list", "data": [_model_entry(name, created) for name, created in entries]}


def model_retrieve(principal: KeyPrincipal, name: str) -> dict[str, Any]:
    for entry in models_list(principal)["data"]:
        if entry["id"] == name:
            return entry
    raise _model_not_found(name)


@dataclass(frozen=True)
class ChatPlan:
    """Where one chat request may go: the alias's routes, the deployments to try in order, and the
    prompt's estimated size."""

    routes: AliasRoutes
    targets: tuple[DeploymentTarget, ...]
    prompt_tokens: int


def chat_plan(principal: KeyPrincipal, request: ChatRequest) -> ChatPlan:
    """Gates and routes a chat request exactly as `/v1/chat/completions` does (production gate, the
    key's models, capability, context window, the alias's strategy and open breakers); raises
    GatewayError when it cannot go anywhere. Agent runs plan each model step through here."""
    routes = _routes_for(principal, request.model)
    prompt_tokens = sum(estimate_tokens(m.content) for m in request.messages)
    fitting = _fitting(_eligible(routes.targets, capability="chat"), request, prompt_tokens)
    targets = plan_attempts(
        routes.strategy, fitting, store=health_store(), input_tokens=prompt_tokens, output_tokens=request.max_tokens
    )
    return ChatPlan(routes=routes, targets=tuple(targets), prompt_tokens=prompt_tokens)


def chat_completion(principal: KeyPrincipal, body: ChatCompletionIn, request_id: str) -> GatewayReply:
    unpinned = body.to_chat_request()
    request = with_pinned_prompt(principal, unpinned, body.prompt_variables)  # the prompt catalog's system message
    plan = chat_plan(principal, request)
    routes, targets, prompt_tokens = plan.routes, plan.targets, plan.prompt_tokens
    meter = CallMeter(principal, request_id, "chat", routes.alias, end_user=request.user or "", stream=body.stream)
    guard = call_guard(principal)
    meter.guardrails = guard.summary()  # the same dict, so actions taken later are recorded too
    try:
        if body.prompt_variables:
            variables = guard.check_values(body.prompt_variables)
            if variables != body.prompt_variables:  # render what the provider may see
                request = with_pinned_prompt(principal, unpinned, variables)
        request = guard.check_input(request)  # the provider receives masked text, or nothing at all
    except GatewayError as blocked:
        meter.finish(status=UsageRecord.Status.GUARDRAIL_BLOCKED, error_code=blocked.code or "guardrail_blocked")
        raise blocked
    request, sources = _grounded(principal, request, request_id, meter, guard)
    if sources:  # the added context lengthens the prompt: plan again for windows that fit it
        try:
            plan = chat_plan(principal, request)
        except GatewayError as refused:
            meter.finish(status=UsageRecord.Status.PROVIDER_ERROR, error_code=refused.code or "no_deployment")
            raise refused
        targets, prompt_tokens = plan.targets, plan.prompt_tokens
    cache_key = None if body.stream else response_cache_key(principal, routes.alias, request, guard.version)
    hit = cached_response(cache_key)
    if hit is not None:
        response = chat_response_from_dict(hit)
        meter.finish(
            status=UsageRecord.Status.CACHE_HIT, usage=response.usage, prompt=transcript(request),
            output=response.content,
        )  # fmt: skip
        return GatewayReply(
            body=_completion_document(request_id, routes.alias, response, sources),
            headers={"x-genai-cache": "hit", **guard.headers()},
        )
    rate_headers = meter.admit(targets, input_tokens=prompt_tokens, max_output_tokens=request.max_tokens)
    deadline = time.time() + settings.GATEWAY_REQUEST_DEADLINE_SECONDS
    if body.stream:
        reply = _chat_stream(request, routes, targets, deadline, request_id, body, meter, guard)
        reply.headers.update(rate_headers)
        if sources:
            reply.stream = _with_sources(reply.stream, sources)
        return reply
    try:
        outcome = chat_dispatch(request=request, targets=targets, deadline=deadline, request_id=request_id)
    except DispatchError as exc:
        meter.finish(status=UsageRecord.Status.PROVIDER_ERROR, error_code=exc.error.kind.value)
        raise _dispatch_failure(exc) from None
    try:
        response = dataclasses.replace(outcome.response, content=guard.check_output(outcome.response.content))
    except GatewayError as blocked:
        meter.finish(
            status=UsageRecord.Status.GUARDRAIL_BLOCKED, served=outcome.served, usage=outcome.response.usage,
            error_code=blocked.code or "guardrail_blocked",
        )  # fmt: skip
        raise blocked
    cost = meter.finish(
        status=UsageRecord.Status.SUCCESS, served=outcome.served, usage=response.usage,
        prompt=transcript(request), output=response.content,
    )  # fmt: skip
    headers = {**rate_headers, **_served_headers(outcome.served, cost), **guard.headers()}
    if cache_key is not None:
        remember_response(cache_key, chat_response_to_dict(response), principal.response_cache_ttl_seconds)
        headers["x-genai-cache"] = "miss"
    return GatewayReply(body=_completion_document(request_id, routes.alias, response, sources), headers=headers)


def embeddings(principal: KeyPrincipal, body: EmbeddingsIn, request_id: str) -> GatewayReply:
    request = body.to_embedding_request()
    routes = _routes_for(principal, request.model)
    outcome, cost, rate_headers = routed_embeddings(
        principal, routes, request, request_id=request_id, end_user=body.user or "", guard=call_guard(principal)
    )
    usage = outcome.response.usage
    document = {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": list(vector)}
            for i, vector in enumerate(outcome.response.vectors)
        ],
        "model": routes.alias,
        "usage": {"prompt_tokens": usage.input_tokens, "total_tokens": usage.total_tokens},
    }
    return GatewayReply(body=document, headers={**rate_headers, **_served_headers(outcome.served, cost)})


def routed_embeddings(
    principal: KeyPrincipal,
    routes: AliasRoutes,
    request: EmbeddingRequest,
    *,
    request_id: str,
    end_user: str = "",
    endpoint: str = "embeddings",
    guard: CallGuard | None = None,
) -> tuple[EmbeddingOutcome, Decimal, dict[str, str]]:
    """Embeds through the router, admitted and metered as the principal's call: the one way the
    platform embeds, whether for `/v1/embeddings`, retrieval or ingestion. Raises `GatewayError`."""
    input_tokens = sum(estimate_tokens(text) for text in request.inputs)
    targets = plan_attempts(
        routes.strategy,
        _eligible(routes.targets, capability="embeddings"),
        store=health_store(),
        input_tokens=input_tokens,
        output_tokens=0,
    )
    meter = CallMeter(principal, request_id, endpoint, routes.alias, end_user=end_user)
    if guard is not None:  # a caller's own texts (not the platform's chunks) are checked like prompts
        meter.guardrails = guard.summary()
        try:
            request = dataclasses.replace(request, inputs=guard.check_texts(request.inputs))
        except GatewayError as blocked:
            meter.finish(status=UsageRecord.Status.GUARDRAIL_BLOCKED, error_code=blocked.code or "guardrail_blocked")
            raise blocked
    rate_headers = meter.admit(targets, input_tokens=input_tokens, max_output_tokens=0)
    deadline = time.time() + settings.GATEWAY_REQUEST_DEADLINE_SECONDS
    try:
        outcome = embedding_dispatch(request=request, targets=targets, deadline=deadline, request_id=request_id)
    except DispatchError as exc:
        meter.finish(status=UsageRecord.Status.PROVIDER_ERROR, error_code=exc.error.kind.value)
        raise _dispatch_failure(exc) from None
    cost = meter.finish(status=UsageRecord.Status.SUCCESS, served=outcome.served, usage=outcome.response.usage)
    return outcome, cost, rate_headers


def vector_store_search(
    principal: KeyPrincipal, store_id: str, body: VectorStoreSearchIn, request_id: str
) -> GatewayReply:
    """Searches a store the key's use case owns or was granted; any other store is a 404."""
    from lob_tenants.vector_stores.retrieval import search
    from lob_tenants.vector_stores.selectors import classification_covers, readable_store

    if principal.is_production:
        _gate_production(principal)
    store = readable_store(use_case_id=principal.use_case_id, public_id=store_id)
    if store is None:
        raise GatewayError(
            404, f"No vector store found with id '{store_id}'.", param="vector_store_id", code="not_found"
        )
    if not classification_covers(principal.data_classification, store.data_classification):
        raise GatewayError(
            403,
            f"Vector store '{store_id}' holds {store.data_classification} data; use case "
            f"'{principal.use_case_slug}' is approved for {principal.data_classification} data only.",
            code="data_classification_exceeded",
        )
    query = call_guard(principal).check_texts((body.query_text(),))[0]  # a search query is the caller's input
    threshold = body.ranking_options.score_threshold if body.ranking_options else None
    filters = body.filters.model_dump() if body.filters is not None else None
    hits = search(
        store, principal, query, top_k=body.max_num_results, score_threshold=threshold, filters=filters,
        request_id=request_id,
    )  # fmt: skip
    return GatewayReply(
        body={
            "object": "vector_store.search_results.page",
            "search_query": [query],
            "data": [
                {
                    "file_id": hit.document_id,
                    "filename": hit.title or hit.document_id,
                    "score": round(hit.score, 6),
                    "attributes": {**hit.attributes, "chunk_id": hit.chunk_id, "version": hit.document_version},
                    "content": [{"type": "text", "text": hit.text}],
                }
                for hit in hits
            ],
            "has_more": False,
            "next_page": None,
        }
    )


def guardrails_apply(principal: KeyPrincipal, body: GuardrailApplyIn) -> GatewayReply:
    """Checks text under the caller's effective policy, as input or output, without calling a model."""
    guard = call_guard(principal)
    document = guard.apply(body.texts(), Direction(body.direction), body.context)
    return GatewayReply(body=document, headers=guard.headers())


# ---- gate and route ----


def _routes_for(principal: KeyPrincipal, model: str) -> AliasRoutes:
    if principal.is_production:
        _gate_production(principal)
    routes = alias_routes(model) if model in principal.allowed_aliases else None
    if routes is None:
        raise _model_not_found(model)
    if principal.is_production and model not in principal.approved_aliases:
        raise GatewayError(
            403,
            f"The model '{model}' is not among the models the governance board approved for use case "
            f"'{principal.use_case_slug}'; a change of models goes back to review.",
            code="model_not_approved",
            param="model",
        )
    if principal.is_production and model not in principal.classification_aliases:
        raise GatewayError(
            403,
            f"The model '{model}' is not approved for {principal.data_classification} data.",
            code="model_not_approved",
            param="model",
        )
    if not principal.is_production and not routes.available_in_sandbox:
        raise GatewayError(
            403,
            f"The model '{model}' is not available to sandbox keys; "
            "use a production key once the use case is approved.",
            code="model_not_approved",
            param="model",
        )
    return routes


def _gate_production(principal: KeyPrincipal) -> None:
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
    raise GatewayError(
        403,
        f"Use case '{principal.use_case_slug}' may not serve production traffic: {reason}. Production keys work "
        "only while the governance board's approval is current; sandbox keys work before approval.",
        code="use_case_not_approved",
    )


def _eligible(targets: tuple[DeploymentTarget, ...], *, capability: str) -> tuple[DeploymentTarget, ...]:
    live = tuple(t for t in targets if t.lifecycle != RETIRED)
    capable = tuple(t for t in live if (t.supports_chat if capability == "chat" else t.supports_embeddings))
    if not live:
        raise GatewayError(503, "The model has no active deployment.", code="model_unavailable")
    if not capable:
        kind = "chat completions" if capability == "chat" else "embeddings"
        raise GatewayError(400, f"This model does not support {kind}.", param="model", code="model_not_supported")
    return capable


def _fitting(
    targets: tuple[DeploymentTarget, ...], request: ChatRequest, prompt_tokens: int
) -> tuple[DeploymentTarget, ...]:
    needed = prompt_tokens + (request.max_tokens or 0)
    fitting = tuple(t for t in targets if needed <= t.context_window)
    if not fitting:
        largest = max(t.context_window for t in targets)
        raise GatewayError(
            400,
            f"This model's maximum context length is {largest} tokens, but the request needs about {needed} "
            f"({prompt_tokens} in the messages plus {request.max_tokens or 0} for the completion).",
            param="messages",
            code="context_length_exceeded",
        )
    return fitting


def _model_not_found(name: str) -> GatewayError:
    return GatewayError(
        404,
        f"The model '{name}' does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )


def _dispatch_failure(exc: DispatchError) -> GatewayError:
    error = provider_error_as_gateway_error(exc.error)
    error.headers["x-genai-attempts"] = str(exc.attempts)
    return error


# ---- rendering ----


def transcript(request: ChatRequest) -> str:
    """The conversation as the audit trail captures it: one `role: text` line per message (agent
    runs capture their model steps with it too)."""
    return "\n".join(f"{m.role}: {m.content}" for m in request.messages)


def _completion_document(
    request_id: str, alias: str, response: ChatResponse, sources: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": response.content or None, "refusal": None}
    if response.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in response.tool_calls
        ]
    document = {
        "id": _completion_id(request_id),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": alias,
        "choices": [{"index": 0, "message": message, "finish_reason": response.finish_reason, "logprobs": None}],
        "usage": _usage_document(response.usage),
        "system_fingerprint": None,
    }
    if sources:
        document["sources"] = sources  # extension: what a grounded answer's [n] citations refer to
    return document


# ---- grounding in the use case's vector stores ----


def _grounded(
    principal: KeyPrincipal, request: ChatRequest, request_id: str, meter: CallMeter, guard: CallGuard
) -> tuple[ChatRequest, list[dict[str, Any]]]:
    from lob_tenants.vector_stores.retrieval import ground

    try:  # each retrieved chunk is screened for instructions before the model reads it
        return ground(principal, request, request_id, screen=guard.screen_retrieved)
    except GatewayError as failed:
        refused = (failed.code or "").startswith("guardrail_")
        status = UsageRecord.Status.GUARDRAIL_BLOCKED if refused else UsageRecord.Status.PROVIDER_ERROR
        meter.finish(status=status, error_code=failed.code or "retrieval_failed")
        raise failed


def _with_sources(frames: Iterator[bytes], sources: list[dict[str, Any]]) -> Iterator[bytes]:
    """The stream with the sources in its first chunk, so a client can render citations as they arrive."""
    try:
        first = next(frames, None)
        if first is not None:
            try:
                document = json.loads(first.removeprefix(b"data: "))
            except ValueError:
                document = None
            if isinstance(document, dict):
                document["sources"] = sources
                first = b"data: " + json.dumps(document, separators=(",", ":")).encode() + b"\n\n"
            yield first
        yield from frames
    finally:
        close = getattr(frames, "close", None)
        if close is not None:
            close()


def _model_entry(name: str, created: int) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": "genai-platform"}


def _completion_id(request_id: str) -> str:
    return "chatcmpl-" + request_id.removeprefix("req_")


def _usage_document(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }


def _served_headers(served: Served, cost: Decimal | None) -> dict[str, str]:
    headers = {
        "x-genai-deployment": served.target.deployment,
        "x-genai-provider": served.target.provider,
        "x-genai-attempts": str(served.attempts),
    }
    if cost is not None:
        headers["x-genai-cost-usd"] = f"{cost:.8f}"
    if served.target.lifecycle == DEPRECATED:
        replacement = f"; move to {served.target.replacement}" if served.target.replacement else ""
        headers["x-genai-warning"] = f"deployment {served.target.deployment} is deprecated{replacement}"
    return headers


def _chat_stream(
    request: ChatRequest,
    routes: AliasRoutes,
    targets: tuple[DeploymentTarget, ...],
    deadline: float,
    request_id: str,
    body: ChatCompletionIn,
    meter: CallMeter,
    guard: CallGuard,
) -> GatewayReply:
    try:
        stream = chat_stream_dispatch(request=request, targets=targets, deadline=deadline, request_id=request_id)
    except DispatchError as exc:
        meter.finish(status=UsageRecord.Status.PROVIDER_ERROR, error_code=exc.error.kind.value)
        raise _dispatch_failure(exc) from None
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    prompt_tokens = sum(estimate_tokens(m.content) for m in request.messages)
    frames = _sse_frames(
        stream.events, _completion_id(request_id), routes.alias, include_usage, meter, stream.served, prompt_tokens,
        transcript(request), guard,
    )  # fmt: skip
    return GatewayReply(stream=frames, headers={**_served_headers(stream.served, None), **guard.headers()})


def _sse_frames(
    events: Iterator[Any],
    completion_id: str,
    model: str,
    include_usage: bool,
    meter: CallMeter,
    served: Served,
    prompt_tokens: int,
    prompt: str,
    guard: CallGuard,
) -> Iterator[bytes]:
    """OpenAI chunks for each stream event. The usage record is written however the stream ends:
    completed, failed, or abandoned by the client (then with the tokens relayed so far, estimated)."""
    created = int(time.time())
    relayed: list[str] = []
    status, usage, error_code = UsageRecord.Status.CANCELLED, None, "client_disconnected"

    def chunk(delta: dict[str, Any], finish_reason: str | None = None, usage: Usage | None = None) -> bytes:
        document: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
        }
        if usage is not None:
            document["choices"] = []
            document["usage"] = _usage_document(usage)
        elif include_usage:
            document["usage"] = None
        return b"data: " + json.dumps(document, separators=(",", ":")).encode() + b"\n\n"

    screen = guard.stream()  # holds back at most a window of text, so a split entity is still caught
    try:
        yield chunk({"role": "assistant", "content": ""})
        try:
            for event in events:
                if isinstance(event, TextDelta):
                    text = screen.feed(event.text) if screen is not None else event.text
                    if text:
                        relayed.append(text)
                        yield chunk({"content": text})
                    if screen is not None and screen.blocked:
                        break
                elif isinstance(event, ToolCallDelta):
                    relayed.append(event.arguments)
                    call: dict[str, Any] = {"index": event.index, "function": {"arguments": event.arguments}}
                    if event.id:
                        call.update(id=event.id, type="function")
                    if event.name:
                        call["function"]["name"] = event.name
                    yield chunk({"tool_calls": [call]})
                elif isinstance(event, StreamEnd):
                    rest = screen.finish() if screen is not None else ""
                    if rest:
                        relayed.append(rest)
                        yield chunk({"content": rest})
                    if screen is not None and screen.blocked:
                        break
                    status, usage, error_code = UsageRecord.Status.SUCCESS, event.usage, ""
                    yield chunk({}, finish_reason=event.finish_reason)
                    if include_usage:
                        yield chunk({}, usage=event.usage)
            if screen is not None and screen.blocked:
                guard.record_stream_outcome(screen)
                status, error_code = UsageRecord.Status.GUARDRAIL_BLOCKED, "guardrail_blocked"
                yield b"data: " + json.dumps(screen.error_event).encode() + b"\n\n"
        except ProviderError as exc:
            status, error_code = UsageRecord.Status.PROVIDER_ERROR, exc.kind.value
            error = provider_error_as_gateway_error(exc)
            payload = {"error": {"message": error.message, "type": "api_error", "param": None, "code": error.code}}
            yield b"data: " + json.dumps(payload).encode() + b"\n\n"
        yield b"data: [DONE]\n\n"
    finally:
        if usage is None:
            usage = Usage(prompt_tokens, estimate_tokens("".join(relayed)), estimated=True)
        meter.finish(
            status=status, served=served, usage=usage, error_code=error_code, prompt=prompt, output="".join(relayed)
        )
