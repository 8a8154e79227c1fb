"""Searching stores and grounding chat completions in them.

Grounding adds one system message holding the retrieved chunks as numbered sources and asks the
model to cite them as [n]; the response lists those sources in its `sources` extension field,
so a client can show where each cited fact came from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from genai_platform.inference.errors import Unavailable
from genai_platform.inference.principal import KeyPrincipal
from genai_platform.providers.types import ChatRequest, Message

from .backends import BackendError, Hit, backend_for
from .selectors import GroundingRef, StoreRef, groundings_for
from .services import embed_texts

GROUNDING_INSTRUCTIONS = (
    "Answer using only the numbered sources below. After each fact, cite its source number in square "
    "brackets, like [1]. If the sources do not contain the answer, say that you don't know."
)


def search(
    store: StoreRef,
    principal: KeyPrincipal,
    query: str,
    *,
    top_k: int,
    score_threshold: float | None = None,
    filters: Mapping[str, Any] | None = None,
    request_id: str = "",
) -> list[Hit]:
    """The `top_k` chunks closest to `query`; the query is embedded as the caller's metered call."""
    [vector] = embed_texts(store, principal, [query], "search_query", request_id=request_id)
    try:
        return backend_for(store.backend, store.connection).query(
            store.collection, vector, top_k=top_k, score_threshold=score_threshold, filters=filters
        )
    except BackendError as exc:
        raise Unavailable(f"The vector store is unavailable: {exc}", code="vector_store_unavailable") from None


def source_document(index: int, store: StoreRef, hit: Hit) -> dict[str, Any]:
    return {
        "index": index,
        "vector_store_id": store.public_id,
        "document_id": hit.document_id,
        "document_version": hit.document_version,
        "chunk_id": hit.chunk_id,
        "title": hit.title,
        "source": hit.source,
        "score": round(hit.score, 6),
        "text": hit.text,
    }


#: Decides what the model may read of each retrieved chunk: the text (perhaps quoted as data), or
#: None to leave it out; raises to refuse the call (`CallGuard.screen_retrieved`).
ChunkScreen = Callable[[list[str]], list[str | None]]


def grounding_context(
    principal: KeyPrincipal,
    question: str,
    groundings: Sequence[GroundingRef],
    request_id: str,
    screen: ChunkScreen | None = None,
) -> tuple[Message, list[dict[str, Any]]]:
    """The system message holding the chunks closest to `question` across `groundings` as numbered
    sources (the best `max(top_k)` of them, best first), and those sources. Each store's query is
    embedded as the principal's metered call. The gateway and agent runs both ground with it.
    `screen` checks the chunks before the model sees them: a dropped chunk is neither sent nor cited."""
    scored: list[tuple[float, StoreRef, Hit]] = []
    for number, grounding in enumerate(groundings):
        hits = search(
            grounding.store,
            principal,
            question,
            top_k=grounding.top_k,
            score_threshold=grounding.score_threshold,
            request_id=f"{request_id}-g{number}",
        )
        scored.extend((hit.score, grounding.store, hit) for hit in hits)
    scored.sort(key=lambda entry: entry[0], reverse=True)
    kept = scored[: max((g.top_k for g in groundings), default=0)]
    if screen is not None and kept:
        allowed = screen([hit.text for _, _, hit in kept])
        kept = [
            (score, store, dataclasses.replace(hit, text=text))
            for (score, store, hit), text in zip(kept, allowed, strict=True)
            if text is not None
        ]
    sources = [source_document(i, store, hit) for i, (_, store, hit) in enumerate(kept, start=1)]
    if not sources:
        context = "(No source matched the question.)"
    else:
        context = "\n\n".join(f"[{s['index']}] {s['title']}\n{s['text']}" for s in sources)
    return Message(role="system", content=f"{GROUNDING_INSTRUCTIONS}\n\nSources:\n{context}"), sources


def last_question(messages: Sequence[Message]) -> str:
    """The conversation's last user message: what retrieval searches for."""
    return next((m.content for m in reversed(messages) if m.role == "user"), "")


def with_context(messages: Sequence[Message], context: Message) -> tuple[Message, ...]:
    """`messages` with the grounding message after the caller's own system messages, so their
    instructions still come first."""
    placed = list(messages)
    at = next((i for i, m in enumerate(placed) if m.role != "system"), len(placed))
    placed.insert(at, context)
    return tuple(placed)


def ground(
    principal: KeyPrincipal, request: ChatRequest, request_id: str, screen: ChunkScreen | None = None
) -> tuple[ChatRequest, list[dict[str, Any]]]:
    """The request with retrieved context added, and the sources it cites; unchanged when the use
    case is grounded in no store or the conversation has no user question."""
    groundings = groundings_for(principal.use_case_id)
    question = last_question(request.messages)
    if not groundings or not question.strip():
        return request, []
    context, sources = grounding_context(principal, question, groundings, request_id, screen)
    return dataclasses.replace(request, messages=with_context(request.messages, context)), sources
