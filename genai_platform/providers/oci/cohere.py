"""OCI's COHERE chat format (Cohere Command): one `message`, a `chat_history`, a `preamble_override`
and Cohere tools, whole and streamed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from oci.generative_ai_inference import models as genai

from genai_platform.providers.types import (
    ChatRequest,
    ChatResponse,
    ErrorKind,
    FinishReason,
    Message,
    ProviderError,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolDefinition,
)

from .shared import chat_usage, system_prompt, tool_arguments

COHERE = "COHERE"
_COHERE_FINISH: Mapping[str, FinishReason] = {
    "COMPLETE": "stop",
    "USER_CANCEL": "stop",
    "MAX_TOKENS": "length",
    # The generation ran into the model's context limit: the answer is cut short, like max_tokens.
    "ERROR_LIMIT": "length",
    "ERROR_TOXIC": "content_filter",
}
_COHERE_TYPES = {
    "string": "str",
    "integer": "int",
    "number": "float",
    "boolean": "bool",
    "object": "Dict",
    "array": "List",
}


def cohere_request(request: ChatRequest) -> Any:
    turns = [m for m in request.messages if m.role != "system"]
    calls_by_id = {call.id: call for m in turns if m.role == "assistant" for call in m.tool_calls}
    if not any(m.role == "user" for m in turns):
        raise ProviderError(ErrorKind.BAD_REQUEST, "a COHERE chat needs at least one user message")
    message = ""
    tool_results = None
    if turns[-1].role == "tool":
        # Multi-step tool use: the pending results go in tool_results, with an empty message.
        first_result = len(turns)
        while first_result > 0 and turns[first_result - 1].role == "tool":
            first_result -= 1
        history = turns[:first_result]
        tool_results = [_cohere_tool_result(m, calls_by_id) for m in turns[first_result:]]
    elif turns[-1].role == "user":
        history = turns[:-1]
        message = turns[-1].content
    else:
        raise ProviderError(ErrorKind.BAD_REQUEST, "a COHERE chat must end with a user message or with tool results")
    chat_request = genai.CohereChatRequest(
        message=message,
        chat_history=[_cohere_turn(m, calls_by_id) for m in history] or None,
        preamble_override=system_prompt(request.messages) or None,
        tool_results=tool_results,
        max_tokens=request.max_tokens,
        temperature=request.temperature,
        top_p=request.top_p,
        stop_sequences=list(request.stop) or None,
    )
    tools = _cohere_tools(request.tools, request.tool_choice)
    if tools:
        chat_request.tools = tools
    fmt = request.response_format
    if fmt is not None and fmt.type != "text":
        # Cohere's structured output is a JSON object, optionally held to a JSON schema (no name, no
        # strict flag: the gateway validates strict answers itself).
        schema = dict(fmt.schema) if fmt.type == "json_schema" and fmt.schema is not None else None
        chat_request.response_format = genai.CohereResponseJsonFormat(schema=schema)
    return chat_request


def _cohere_turn(message: Message, calls_by_id: Mapping[str, ToolCall]) -> Any:
    if message.role == "user":
        return genai.CohereUserMessage(message=message.content)
    if message.role == "assistant":
        calls = [genai.CohereToolCall(name=call.name, parameters=tool_arguments(call)) for call in message.tool_calls]
        # Cohere rejects a CHATBOT turn without text, which a pure tool-call turn is.
        return genai.CohereChatBotMessage(message=message.content or " ", tool_calls=calls or None)
    return genai.CohereToolMessage(tool_results=[_cohere_tool_result(message, calls_by_id)])


def _cohere_tool_result(message: Message, calls_by_id: Mapping[str, ToolCall]) -> Any:
    call = calls_by_id.get(message.tool_call_id or "")
    name = call.name if call is not None else message.name or ""
    parameters = tool_arguments(call) if call is not None else {}
    return genai.CohereToolResult(
        call=genai.CohereToolCall(name=name, parameters=parameters), outputs=_outputs(message)
    )


def _outputs(message: Message) -> list[dict[str, Any]]:
    try:
        value = json.loads(message.content)
    except ValueError:
        value = None
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        return value
    return [{"output": message.content}]


def _cohere_tools(tools: Sequence[ToolDefinition], choice: str | None) -> list[Any]:
    # Cohere's chat has no tool_choice: "none" withholds the tools, a named tool is offered alone,
    # "required" cannot be enforced and offers them all.
    if choice == "none":
        return []
    offered = [tool for tool in tools if tool.name == choice] or list(tools)
    return [
        genai.CohereTool(
            name=tool.name,
            description=tool.description or tool.name,
            parameter_definitions={
                name: genai.CohereParameterDefinition(
                    description=str(schema.get("description", "")),
                    type=_cohere_type(schema),
                    is_required=name in (tool.parameters.get("required") or ()),
                )
                for name, schema in (tool.parameters.get("properties") or {}).items()
            }
            or None,
        )
        for tool in offered
    ]


def _cohere_type(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "array":
        items = schema.get("items") or {}
        return f"List[{_COHERE_TYPES.get(items.get('type'), 'str')}]" if items.get("type") else "List"
    return _COHERE_TYPES.get(kind, "str")


def cohere_response(chat_response: Any, request: ChatRequest, request_id: str | None) -> ChatResponse:
    tool_calls = tuple(
        _cohere_call(index, call.name, call.parameters) for index, call in enumerate(chat_response.tool_calls or [])
    )
    text = chat_response.text or ""
    finish = _cohere_finish(
        chat_response.finish_reason, getattr(chat_response, "error_message", None), bool(tool_calls)
    )
    return ChatResponse(
        content=text,
        finish_reason=finish,
        usage=chat_usage(chat_response.usage, request, text, tool_calls),
        tool_calls=tool_calls,
        provider_response_id=request_id,
    )


def _cohere_finish(reason: str | None, error_message: str | None, has_tool_calls: bool) -> FinishReason:
    if reason == "ERROR":
        raise ProviderError(ErrorKind.UNAVAILABLE, f"OCI Cohere generation failed: {error_message or 'ERROR'}")
    mapped = _COHERE_FINISH.get(reason or "", "stop")
    return "tool_calls" if has_tool_calls and mapped == "stop" else mapped


def _cohere_call(index: int, name: str, parameters: Mapping[str, Any] | None) -> ToolCall:
    """Cohere tool calls carry no id: derive a stable one, identical for streamed and whole answers."""
    arguments = json.dumps(parameters or {}, sort_keys=True)
    digest = hashlib.sha256(f"{index}:{name}:{arguments}".encode()).hexdigest()[:24]
    return ToolCall(id=f"call_{digest}", name=name, arguments=arguments)


class CohereStream:
    """COHERE stream events: `{"text"}` pieces, `{"toolCalls"}`, then a final event with
    `finishReason` that repeats the whole text (and tool calls) and carries the usage."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: list[ToolCall] = []
        self.finish_reason: str | None = None
        self.error_message: str | None = None
        self.usage: Mapping[str, Any] | None = None

    def feed(self, event: Mapping[str, Any]) -> Iterator[StreamEvent]:
        calls = event.get("toolCalls") or []
        for call in calls[len(self.calls) :]:
            tool_call = _cohere_call(len(self.calls), call.get("name", ""), call.get("parameters"))
            self.calls.append(tool_call)
            yield ToolCallDelta(
                index=len(self.calls) - 1, id=tool_call.id, name=tool_call.name, arguments=tool_call.arguments
            )
        text = event.get("text") or ""
        if "finishReason" in event:
            self.finish_reason = event["finishReason"]
            self.error_message = event.get("errorMessage")
            self.usage = event.get("usage") or self.usage
            if text and not self.text:
                self.text.append(text)
                yield TextDelta(text)
        elif event.get("usage"):
            self.usage = event["usage"]
        elif text and not calls:
            self.text.append(text)
            yield TextDelta(text)

    def end(self, request: ChatRequest) -> StreamEnd:
        calls = tuple(self.calls)
        finish = _cohere_finish(self.finish_reason, self.error_message, bool(calls))
        return StreamEnd(finish, chat_usage(self.usage, request, "".join(self.text), calls))
