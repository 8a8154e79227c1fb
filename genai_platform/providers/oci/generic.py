"""OCI's GENERIC chat format (Meta Llama, xAI Grok, OpenAI gpt-oss, Google Gemini): OpenAI-like role
messages and function tools, whole and streamed."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from oci.generative_ai_inference import models as genai

from genai_platform.providers.types import (
    ChatRequest,
    ChatResponse,
    FinishReason,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
)

from .shared import chat_usage, new_call_id, system_prompt, text_content

GENERIC = "GENERIC"
_GENERIC_FINISH: Mapping[str, FinishReason] = {
    "stop": "stop",
    "end_turn": "stop",
    "complete": "stop",
    "eos": "stop",
    "stop_sequence": "stop",
    "length": "length",
    "max_tokens": "length",
    "tool_calls": "tool_calls",
    "tool_use": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    "content_filtered": "content_filter",
    "safety": "content_filter",
    "recitation": "content_filter",
    "prohibited_content": "content_filter",
    "blocklist": "content_filter",
    "spii": "content_filter",
}


def generic_request(request: ChatRequest) -> Any:
    messages: list[Any] = []
    system = system_prompt(request.messages)
    if system:
        messages.append(genai.SystemMessage(content=[text_content(system)]))
    for message in request.messages:
        if message.role == "user":
            messages.append(genai.UserMessage(content=[text_content(message.content)]))
        elif message.role == "assistant":
            calls = [
                genai.FunctionCall(id=call.id, name=call.name, arguments=call.arguments or "{}")
                for call in message.tool_calls
            ]
            messages.append(
                genai.AssistantMessage(
                    # A tool-call turn has no text; OCI wants the content left out rather than empty.
                    content=[text_content(message.content)] if message.content or not calls else None,
                    tool_calls=calls or None,
                )
            )
        elif message.role == "tool":
            messages.append(
                genai.ToolMessage(content=[text_content(message.content)], tool_call_id=message.tool_call_id)
            )
    chat_request = genai.GenericChatRequest(
        messages=messages,
        max_tokens=request.max_tokens,
        temperature=request.temperature,
        top_p=request.top_p,
        stop=list(request.stop) or None,
    )
    if request.tools:
        chat_request.tools = [
            genai.FunctionDefinition(name=tool.name, description=tool.description, parameters=dict(tool.parameters))
            for tool in request.tools
        ]
        chat_request.tool_choice = _generic_tool_choice(request.tool_choice)
    fmt = request.response_format
    if fmt is not None and fmt.type == "json_schema" and fmt.schema is not None:
        schema = genai.ResponseJsonSchema(
            name=fmt.name, description=fmt.description or None, schema=dict(fmt.schema), is_strict=fmt.strict
        )
        chat_request.response_format = genai.JsonSchemaResponseFormat(json_schema=schema)
    elif fmt is not None and fmt.type == "json_object":
        chat_request.response_format = genai.JsonObjectResponseFormat()
    return chat_request


def _generic_tool_choice(choice: str | None) -> Any:
    if choice is None:
        return None
    if choice == "auto":
        return genai.ToolChoiceAuto()
    if choice == "none":
        return genai.ToolChoiceNone()
    if choice == "required":
        return genai.ToolChoiceRequired()
    return genai.ToolChoiceFunction(name=choice)


def generic_response(chat_response: Any, request: ChatRequest, request_id: str | None) -> ChatResponse:
    choice = (chat_response.choices or [None])[0]
    message = getattr(choice, "message", None)
    text = "".join(
        part.text
        for part in getattr(message, "content", None) or []
        if getattr(part, "type", "TEXT") == "TEXT" and part.text
    )
    tool_calls = tuple(
        ToolCall(id=call.id or new_call_id(), name=call.name or "", arguments=call.arguments or "{}")
        for call in getattr(message, "tool_calls", None) or []
    )
    finish = _generic_finish(getattr(choice, "finish_reason", None), has_tool_calls=bool(tool_calls))
    usage = chat_usage(chat_response.usage, request, text, tool_calls)
    return ChatResponse(
        content=text, finish_reason=finish, usage=usage, tool_calls=tool_calls, provider_response_id=request_id
    )


def _generic_finish(reason: str | None, *, has_tool_calls: bool) -> FinishReason:
    mapped = _GENERIC_FINISH.get((reason or "").lower(), "stop")
    # Some models report "stop" for a turn that only calls tools.
    if has_tool_calls and mapped == "stop":
        return "tool_calls"
    return mapped


@dataclass
class _PartialCall:
    id: str
    name: str
    arguments: str


class GenericStream:
    """GENERIC stream events: `{"message": {"content": [...], "toolCalls": [...]}, "finishReason", "usage"}`."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: list[_PartialCall] = []
        #: position in an event's toolCalls list -> our call index, for fragments without an id.
        self.slots: dict[int, int] = {}
        self.finish_reason: str | None = None
        self.usage: Mapping[str, Any] | None = None

    def feed(self, event: Mapping[str, Any]) -> Iterator[StreamEvent]:
        message = event.get("message") or {}
        for part in message.get("content") or []:
            if isinstance(part, dict) and part.get("type", "TEXT") == "TEXT" and part.get("text"):
                self.text.append(part["text"])
                yield TextDelta(part["text"])
        for position, call in enumerate(message.get("toolCalls") or []):
            yield from self._tool_call(position, call)
        if event.get("finishReason"):
            self.finish_reason = event["finishReason"]
        if event.get("usage"):
            self.usage = event["usage"]

    def _tool_call(self, position: int, call: Mapping[str, Any]) -> Iterator[StreamEvent]:
        # OpenAI-style models nest name and arguments under "function"; the OCI shape has them flat.
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        call_id = call.get("id")
        name = call.get("name") or function.get("name")
        arguments = call.get("arguments") or function.get("arguments") or ""
        known = self.slots.get(position)
        if known is not None and (not call_id or call_id == self.calls[known].id):
            self.calls[known].arguments += arguments
            if arguments:
                yield ToolCallDelta(index=known, arguments=arguments)
            return
        index = len(self.calls)
        self.slots[position] = index
        self.calls.append(_PartialCall(call_id or new_call_id(), name or "", arguments))
        yield ToolCallDelta(index=index, id=self.calls[index].id, name=name or "", arguments=arguments)

    def end(self, request: ChatRequest) -> StreamEnd:
        calls = tuple(ToolCall(c.id, c.name, c.arguments) for c in self.calls)
        finish = _generic_finish(self.finish_reason, has_tool_calls=bool(calls))
        return StreamEnd(finish, chat_usage(self.usage, request, "".join(self.text), calls))
