"""The request pipeline behind the OpenAI-compatible endpoints: authenticate, hand the call to the
inference core (`genai_platform.inference`), render its result as OpenAI documents, headers and
server-sent events.

Views only parse HTTP and render; the core decides. The model-calling routes (chat, completions,
embeddings) are coroutines for the async views: their synchronous steps run on worker threads and
the wait for the worker's reply on the event loop (router/waiting.py, docs/architecture.md).
"""

from __future__ import annotations

import base64
import contextvars
import json
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from genai_platform.inference.chat import StreamStopped, chat_complete_steps, chat_stream_steps
from genai_platform.inference.embeddings import embeddings_create_steps
from genai_platform.inference.guarding import CallGuard, call_guard
from genai_platform.inference.planning import model_not_found, models_visible, production_gate
from genai_platform.inference.principal import KeyPrincipal, key_principal
from genai_platform.providers.types import ChatResponse, StreamEnd, StreamEvent, TextDelta, ToolCallDelta, Usage
from genai_platform.router.dispatch import Served
from genai_platform.router.waiting import Steps, adrive
from governance.guardrails.policy import Direction
from lob_tenants.vector_stores.retrieval import ground, search
from lob_tenants.vector_stores.selectors import classification_covers, readable_store

from .errors import GatewayError, gateway_error_for
from .schemas import ChatCompletionIn, CompletionIn, EmbeddingsIn, GuardrailApplyIn, VectorStoreSearchIn, parse_body

DEPRECATED = "deprecated"


@dataclass
class GatewayReply:
    """A rendered reply: a JSON document, or an iterator of server-sent event lines, plus headers."""

    body: dict[str, Any] | None = None
    stream: AsyncIterator[bytes] | None = None
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
    return {"object": "list", "data": [_model_entry(name, created) for name, created in models_visible(principal)]}


def model_retrieve(principal: KeyPrincipal, name: str) -> dict[str, Any]:
    for entry in models_list(principal)["data"]:
        if entry["id"] == name:
            return entry
    raise model_not_found(name)


async def chat_completion(authorization: str | None, raw_body: bytes, request_id: str) -> GatewayReply:
    """Authenticates, runs the call through the inference core (grounded in the use case's vector
    stores) and renders it: its steps on worker threads, its wait on the event loop."""
    context = contextvars.copy_context()
    return await adrive(_chat_completion(authorization, raw_body, request_id, context), context)


def _chat_completion(
    authorization: str | None, raw_body: bytes, request_id: str, context: contextvars.Context
) -> Steps[GatewayReply]:
    principal = authenticate(authorization)
    body = parse_body(ChatCompletionIn, raw_body)
    request = body.to_chat_request()
    end_user, variables = request.user or "", body.prompt_variables
    if body.stream:
        streamed = yield from chat_stream_steps(
            principal,
            request,
            request_id=request_id,
            context=context,
            end_user=end_user,
            prompt_variables=variables,
            grounder=ground,
        )
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        frames = _sse_frames(streamed.events, _completion_id(request_id), streamed.alias, include_usage)
        if streamed.sources:
            frames = _with_sources(frames, streamed.sources)
        headers = {**_served_headers(streamed.served, None), **guardrail_headers(streamed.guard)}
        return GatewayReply(stream=frames, headers={**headers, **streamed.rate_headers})
    result = yield from chat_complete_steps(
        principal, request, request_id=request_id, end_user=end_user, prompt_variables=variables, grounder=ground
    )
    document = _completion_document(request_id, result.alias, result.response, result.sources)
    if result.served is None:
        return GatewayReply(body=document, headers={"x-genai-cache": "hit", **guardrail_headers(result.guard)})
    headers = {**result.rate_headers, **_served_headers(result.served, result.cost), **guardrail_headers(result.guard)}
    if principal.response_cache_ttl_seconds > 0:
        headers["x-genai-cache"] = "miss"
    return GatewayReply(body=document, headers=headers)


async def text_completion(authorization: str | None, raw_body: bytes, request_id: str) -> GatewayReply:
    """Legacy `/v1/completions`: the prompt as one user message through the same core as chat
    (gate, guardrails, limits, metering), rendered as `text_completion` documents and chunks."""
    context = contextvars.copy_context()
    return await adrive(_text_completion(authorization, raw_body, request_id, context), context)


def _text_completion(
    authorization: str | None, raw_body: bytes, request_id: str, context: contextvars.Context
) -> Steps[GatewayReply]:
    principal = authenticate(authorization)
    body = parse_body(CompletionIn, raw_body)
    request = body.to_chat_request()
    completion_id, end_user = "cmpl-" + request_id.removeprefix("req_"), request.user or ""
    if body.stream:
        streamed = yield from chat_stream_steps(
            principal, request, request_id=request_id, context=context, end_user=end_user, grounder=ground
        )
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        frames = _completion_frames(streamed.events, completion_id, streamed.alias, include_usage)
        headers = {**_served_headers(streamed.served, None), **guardrail_headers(streamed.guard)}
        return GatewayReply(stream=frames, headers={**headers, **streamed.rate_headers})
    result = yield from chat_complete_steps(
        principal, request, request_id=request_id, end_user=end_user, grounder=ground
    )
    document = {
        "id": completion_id,
        "object": "text_completion",
        "created": int(time.time()),
        "model": result.alias,
        "choices": [
            {
                "text": result.response.content,
                "index": 0,
                "logprobs": None,
                "finish_reason": result.response.finish_reason,
            }
        ],
        "usage": _usage_document(result.response.usage),
    }
    headers = {**guardrail_headers(result.guard)}
    if result.served is not None:
        headers.update({**result.rate_headers, **_served_headers(result.served, result.cost)})
    return GatewayReply(body=document, headers=headers)


async def _completion_frames(
    events: AsyncIterator[StreamEvent | StreamStopped], completion_id: str, model: str, include_usage: bool
) -> AsyncIterator[bytes]:
    created = int(time.time())

    def chunk(text: str, finish_reason: str | None = None, usage: Usage | None = None) -> bytes:
        document: dict[str, Any] = {
            "id": completion_id,
            "object": "text_completion",
            "created": created,
            "model": model,
            "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}],
        }
        if usage is not None:
            document["choices"], document["usage"] = [], _usage_document(usage)
        return b"data: " + json.dumps(document, separators=(",", ":")).encode() + b"\n\n"

    try:
        async for event in events:
            if isinstance(event, TextDelta):
                yield chunk(event.text)
            elif isinstance(event, StreamEnd):
                yield chunk("", finish_reason=event.finish_reason)
                if include_usage:
                    yield chunk("", usage=event.usage)
            elif isinstance(event, StreamStopped):
                yield b"data: " + json.dumps(_stopped_document(event)).encode() + b"\n\n"
        yield b"data: [DONE]\n\n"
    finally:
        await _aclose(events)


async def embeddings(authorization: str | None, raw_body: bytes, request_id: str) -> GatewayReply:
    context = contextvars.copy_context()
    return await adrive(_embeddings(authorization, raw_body, request_id), context)


def _embeddings(authorization: str | None, raw_body: bytes, request_id: str) -> Steps[GatewayReply]:
    principal = authenticate(authorization)
    body = parse_body(EmbeddingsIn, raw_body)
    result = yield from embeddings_create_steps(
        principal,
        body.to_embedding_request(),
        request_id=request_id,
        end_user=body.user or "",
        guard=call_guard(principal),
    )
    usage = result.response.usage
    document = {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": _encoded_vector(vector, body.encoding_format)}
            for i, vector in enumerate(result.response.vectors)
        ],
        "model": result.alias,
        "usage": {"prompt_tokens": usage.input_tokens, "total_tokens": usage.total_tokens},
    }
    return GatewayReply(body=document, headers={**result.rate_headers, **_served_headers(result.served, result.cost)})


def vector_store_search(
    principal: KeyPrincipal, store_id: str, body: VectorStoreSearchIn, request_id: str
) -> GatewayReply:
    """Searches a store the key's use case owns or was granted; any other store is a 404."""
    if principal.is_production:
        production_gate(principal)
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
        store,
        principal,
        query,
        top_k=body.max_num_results,
        score_threshold=threshold,
        filters=filters,
        request_id=request_id,
    )
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
    return GatewayReply(body=document, headers=guardrail_headers(guard))


# ---- rendering ----


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


async def _with_sources(frames: AsyncIterator[bytes], sources: list[dict[str, Any]]) -> AsyncIterator[bytes]:
    """The stream with the sources in its first chunk, so a client can render citations as they arrive."""
    try:
        first = await anext(frames, None)
        if first is not None:
            try:
                document = json.loads(first.removeprefix(b"data: "))
            except ValueError:
                document = None
            if isinstance(document, dict):
                document["sources"] = sources
                first = b"data: " + json.dumps(document, separators=(",", ":")).encode() + b"\n\n"
            yield first
        async for frame in frames:
            yield frame
    finally:
        await _aclose(frames)


async def _aclose(iterator: AsyncIterator[Any]) -> None:
    """Closes an async generator now (not whenever the loop finalizes it), so a client that went
    away cancels the upstream and is metered at once."""
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


def _encoded_vector(vector: tuple[float, ...], encoding_format: str) -> list[float] | str:
    """A vector as OpenAI sends it: a JSON list of floats, or little-endian float32 bytes in base64."""
    if encoding_format == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return list(vector)


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


async def _sse_frames(
    events: AsyncIterator[StreamEvent | StreamStopped], completion_id: str, model: str, include_usage: bool
) -> AsyncIterator[bytes]:
    """OpenAI chunks for each event of the core's stream, ending with `data: [DONE]`. Closing the
    frames (the client went away) closes the core's stream, which records the call."""
    created = int(time.time())

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

    try:
        yield chunk({"role": "assistant", "content": ""})
        async for event in events:
            if isinstance(event, TextDelta):
                yield chunk({"content": event.text})
            elif isinstance(event, ToolCallDelta):
                call: dict[str, Any] = {"index": event.index, "function": {"arguments": event.arguments}}
                if event.id:
                    call.update(id=event.id, type="function")
                if event.name:
                    call["function"]["name"] = event.name
                yield chunk({"tool_calls": [call]})
            elif isinstance(event, StreamEnd):
                yield chunk({}, finish_reason=event.finish_reason)
                if include_usage:
                    yield chunk({}, usage=event.usage)
            elif isinstance(event, StreamStopped):
                yield b"data: " + json.dumps(_stopped_document(event)).encode() + b"\n\n"
        yield b"data: [DONE]\n\n"
    finally:
        await _aclose(events)


def _stopped_document(stopped: StreamStopped) -> dict[str, Any]:
    if stopped.blocked_event is not None:
        return stopped.blocked_event
    error = gateway_error_for(stopped.error)
    return {"error": {"message": error.message, "type": "api_error", "param": None, "code": error.code}}


def guardrail_headers(guard: CallGuard) -> dict[str, str]:
    """Which guardrail policy applied and what acted, for the response headers."""
    if not guard.active:
        return {}
    headers = {"x-genai-guardrail-policy": guard.version}
    if guard.actions:
        headers["x-genai-guardrail-actions"] = ",".join(f"{k}={v}" for k, v in sorted(guard.actions.items()))
    return headers
