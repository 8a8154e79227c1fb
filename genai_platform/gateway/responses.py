"""The Responses API (`/v1/responses`) on the inference core: the request becomes a `ChatRequest`
(with the stored conversation it continues, if any), `chat_complete` / `chat_stream` run it exactly
as for `/v1/chat/completions` (gate, guardrails, limits, budgets, routing, metering under endpoint
`responses`), and the result is rendered as a Responses document or its server-sent events.

Conversation state lives in `lob_tenants.conversations`, private to the use case that made it.
Field names follow the openai SDK's `openai.types.responses` models.
"""

from __future__ import annotations

import contextvars
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from genai_platform.inference.chat import StreamStopped, chat_complete_steps, chat_stream_steps
from genai_platform.inference.principal import KeyPrincipal
from genai_platform.providers.types import ChatResponse, StreamEnd, StreamEvent, TextDelta, ToolCallDelta, Usage
from genai_platform.router.waiting import Steps, adrive, run_sync
from lob_tenants.conversations.selectors import stored_response_for
from lob_tenants.conversations.services import response_storable, stored_response_create, stored_response_delete
from lob_tenants.vector_stores.retrieval import ground

from .errors import GatewayError, gateway_error_for
from .pipeline import GatewayReply, _served_headers, authenticate, guardrail_headers
from .response_schemas import Item, ResponseCreateIn, message_item
from .schemas import parse_body

MAX_INPUT_ITEMS_PAGE = 100
#: A failed response's `error.code` is one of OpenAI's (the SDK's `ResponseError` allows no other);
#: the `error` event before it carries the platform's own code.
_RESPONSE_ERROR_CODES = {
    "rate_limit_exceeded": "rate_limit_exceeded",
    "budget_exceeded": "rate_limit_exceeded",
    "guardrail_blocked": "invalid_prompt",
}


@dataclass(frozen=True)
class ResponseCall:
    """What every rendering of one response shares: its id, request and conversation."""

    response_id: str
    request_id: str
    body: ResponseCreateIn
    context: list[Item]
    input_items: list[Item]
    store: bool
    created_at: int

    def document(
        self, model: str, status: str, output: list[Item], usage: Usage | None, error: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        body = self.body
        text_format = (
            body.text.format.model_dump(by_alias=True, exclude_none=True) if body.text and body.text.format else None
        )
        tool_choice = body.tool_choice.model_dump() if hasattr(body.tool_choice, "model_dump") else body.tool_choice
        incomplete = {"reason": "max_output_tokens"} if status == "incomplete" else None
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "error": error,
            "incomplete_details": incomplete,
            "instructions": body.instructions,
            "max_output_tokens": body.max_output_tokens,
            "model": model,
            "output": output,
            "parallel_tool_calls": body.parallel_tool_calls if body.parallel_tool_calls is not None else True,
            "previous_response_id": body.previous_response_id,
            "reasoning": {"effort": None, "summary": None},
            "store": self.store,
            "temperature": body.temperature,
            "text": {"format": text_format or {"type": "text"}},
            "tool_choice": tool_choice or "auto",
            "tools": [tool.document() for tool in body.tools or ()],
            "top_p": body.top_p,
            "truncation": "disabled",
            "usage": _usage_document(usage) if usage is not None else None,
            "user": body.user,
            "metadata": dict(body.metadata or {}),
        }

    def keep(self, principal: KeyPrincipal, document: dict[str, Any]) -> None:
        if self.store:
            stored_response_create(
                principal=principal,
                request_id=self.request_id,
                context=self.context,
                input_items=self.input_items,
                document=document,
            )


async def response_create(authorization: str | None, raw_body: bytes, request_id: str) -> GatewayReply:
    """Authenticates and runs one response through the chat core, continuing the stored
    conversation it names: its steps on worker threads, its wait on the event loop (as chat)."""
    context = contextvars.copy_context()
    return await adrive(_response_create(authorization, raw_body, request_id, context), context)


def _response_create(
    authorization: str | None, raw_body: bytes, request_id: str, context: contextvars.Context
) -> Steps[GatewayReply]:
    principal = authenticate(authorization)
    body = parse_body(ResponseCreateIn, raw_body)
    conversation: list[Item] = []
    if body.previous_response_id is not None:
        stored = _stored_or_404(principal, body.previous_response_id, param="previous_response_id")
        conversation = stored.conversation()
    inputs = body.input_items()
    request = body.to_chat_request(conversation, inputs)
    call = ResponseCall(
        response_id="resp_" + secrets.token_hex(16),
        request_id=request_id,
        body=body,
        context=conversation,
        input_items=inputs,
        store=body.store and response_storable(principal),
        created_at=int(time.time()),
    )
    end_user = request.user or ""
    if body.stream:
        streamed = yield from chat_stream_steps(
            principal,
            request,
            request_id=request_id,
            context=context,
            end_user=end_user,
            endpoint="responses",
            grounder=ground,
        )
        frames = _event_frames(
            streamed.events, call, streamed.alias, lambda document: run_sync(context, call.keep, principal, document)
        )
        headers = {**_served_headers(streamed.served, None), **guardrail_headers(streamed.guard)}
        return GatewayReply(stream=frames, headers={**headers, **streamed.rate_headers})
    result = yield from chat_complete_steps(
        principal, request, request_id=request_id, end_user=end_user, endpoint="responses", grounder=ground
    )
    response = result.response
    document = call.document(result.alias, _status_of(response.finish_reason), output_items(response), response.usage)
    call.keep(principal, document)
    headers = {**guardrail_headers(result.guard)}
    if result.served is None:
        headers["x-genai-cache"] = "hit"
    else:
        headers.update({**result.rate_headers, **_served_headers(result.served, result.cost)})
    return GatewayReply(body=document, headers=headers)


def response_retrieve(principal: KeyPrincipal, response_id: str) -> GatewayReply:
    return GatewayReply(body=_stored_or_404(principal, response_id).document)


def response_delete(principal: KeyPrincipal, response_id: str) -> GatewayReply:
    stored_response_delete(stored=_stored_or_404(principal, response_id), principal=principal)
    return GatewayReply(body={"id": response_id, "object": "response.deleted", "deleted": True})


def response_input_items(
    principal: KeyPrincipal, response_id: str, *, order: str = "desc", after: str | None = None, limit: int = 20
) -> GatewayReply:
    """The response's input items (the conversation it continued, then its own input), newest first
    unless `order` is "asc", paged by `after` (an item id) and `limit` (1-100)."""
    stored = _stored_or_404(principal, response_id)
    if order not in ("asc", "desc"):
        raise GatewayError(
            400, "Invalid value for 'order': expected 'asc' or 'desc'.", param="order", code="invalid_value"
        )
    if not 1 <= limit <= MAX_INPUT_ITEMS_PAGE:
        raise GatewayError(400, "Invalid value for 'limit': expected 1 to 100.", param="limit", code="invalid_value")
    items = [*stored.context, *stored.input_items]
    if order == "desc":
        items.reverse()
    if after is not None:
        ids = [item.get("id") for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    page = items[:limit]
    return GatewayReply(
        body={
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(items) > limit,
        }
    )


def output_items(response: ChatResponse) -> list[Item]:
    """The answer as output items: its text as one assistant message, then one item per tool call."""
    items = [message_item("assistant", response.content)] if response.content or not response.tool_calls else []
    items += [_function_call_item(call.id, call.name, call.arguments) for call in response.tool_calls]
    return items


def _stored_or_404(principal: KeyPrincipal, response_id: str, *, param: str = "response_id") -> Any:
    stored = stored_response_for(use_case_id=principal.use_case_id, public_id=response_id)
    if stored is None:
        raise GatewayError(404, f"Response with id '{response_id}' not found.", param=param, code="not_found")
    return stored


def _function_call_item(call_id: str, name: str, arguments: str, status: str = "completed") -> Item:
    return {
        "type": "function_call",
        "id": "fc_" + secrets.token_hex(12),
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def _status_of(finish_reason: str) -> str:
    return "incomplete" if finish_reason == "length" else "completed"


def _usage_document(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    }


# ---- server-sent events ----


async def _event_frames(
    events: AsyncIterator[StreamEvent | StreamStopped],
    call: ResponseCall,
    model: str,
    completed: Callable[[dict[str, Any]], Awaitable[None]],
) -> AsyncIterator[bytes]:
    """The Responses event sequence for the core's stream, each event numbered; `completed` gets
    the final document before `response.completed` is sent. Closing the frames closes the stream."""
    events_out = _Events()
    output: list[Item] = []
    message: Item | None = None
    calls: dict[int, Item] = {}
    yield events_out.frame("response.created", response=call.document(model, "in_progress", [], None))
    yield events_out.frame("response.in_progress", response=call.document(model, "in_progress", [], None))

    def close_message() -> Iterator[bytes]:
        nonlocal message
        if message is None:
            return
        index, part = output.index(message), message["content"][0]
        at = {"item_id": message["id"], "output_index": index, "content_index": 0}
        yield events_out.frame("response.output_text.done", **at, text=part["text"], logprobs=[])
        yield events_out.frame("response.content_part.done", **at, part=part)
        message["status"] = "completed"
        yield events_out.frame("response.output_item.done", output_index=index, item=message)
        message = None

    try:
        async for event in events:
            if isinstance(event, TextDelta):
                if message is None:
                    message = message_item("assistant", "")
                    message["status"], part = "in_progress", message["content"].pop()
                    output.append(message)
                    yield events_out.frame("response.output_item.added", output_index=len(output) - 1, item=message)
                    message["content"].append(part)
                    yield events_out.frame(
                        "response.content_part.added",
                        item_id=message["id"],
                        output_index=len(output) - 1,
                        content_index=0,
                        part=part,
                    )
                message["content"][0]["text"] += event.text
                yield events_out.frame(
                    "response.output_text.delta",
                    item_id=message["id"],
                    output_index=output.index(message),
                    content_index=0,
                    delta=event.text,
                    logprobs=[],
                )
            elif isinstance(event, ToolCallDelta):
                for frame in close_message():
                    yield frame
                item = calls.get(event.index)
                if item is None:
                    item = calls[event.index] = _function_call_item(event.id or "", event.name or "", "", "in_progress")
                    output.append(item)
                    yield events_out.frame("response.output_item.added", output_index=len(output) - 1, item=item)
                if event.arguments:
                    item["arguments"] += event.arguments
                    yield events_out.frame(
                        "response.function_call_arguments.delta",
                        item_id=item["id"],
                        output_index=output.index(item),
                        delta=event.arguments,
                    )
            elif isinstance(event, StreamEnd):
                for frame in close_message():
                    yield frame
                for item in calls.values():
                    at = {"item_id": item["id"], "output_index": output.index(item)}
                    yield events_out.frame(
                        "response.function_call_arguments.done", **at, name=item["name"], arguments=item["arguments"]
                    )
                    item["status"] = "completed"
                    yield events_out.frame("response.output_item.done", output_index=at["output_index"], item=item)
                status = _status_of(event.finish_reason)
                document = call.document(model, status, output, event.usage)
                await completed(document)
                yield events_out.frame(f"response.{status}", response=document)
            elif isinstance(event, StreamStopped):
                error = gateway_error_for(event.error)
                yield events_out.frame("error", code=error.code, message=error.message, param=None)
                failure = {
                    "code": _RESPONSE_ERROR_CODES.get(error.code or "", "server_error"),
                    "message": error.message,
                }
                yield events_out.frame(
                    "response.failed", response=call.document(model, "failed", output, None, failure)
                )
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()


class _Events:
    """Numbers the events of one stream (`sequence_number`) and frames each as a server-sent event."""

    def __init__(self) -> None:
        self.sequence = 0

    def frame(self, kind: str, **fields: Any) -> bytes:
        payload = json.dumps({"type": kind, **fields, "sequence_number": self.sequence}, separators=(",", ":"))
        self.sequence += 1
        return f"event: {kind}\ndata: {payload}\n\n".encode()
