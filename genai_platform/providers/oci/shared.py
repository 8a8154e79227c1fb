"""What the GENERIC and COHERE formats share: system prompts, text parts, tool-call arguments and ids,
usage (reported or estimated) and stream-event payloads."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from oci.generative_ai_inference import models as genai

from genai_platform.providers.tokens import estimate_tokens
from genai_platform.providers.types import (
    ChatRequest,
    ErrorKind,
    Message,
    ProviderError,
    ToolCall,
    Usage,
)


def event_payload(data: str) -> Mapping[str, Any]:
    try:
        payload = json.loads(data)
    except ValueError as exc:
        raise ProviderError(ErrorKind.UNAVAILABLE, f"OCI sent a malformed stream event: {data[:200]!r}") from exc
    if not isinstance(payload, dict):
        raise ProviderError(ErrorKind.UNAVAILABLE, f"OCI sent a malformed stream event: {data[:200]!r}")
    return payload


def system_prompt(messages: Sequence[Message]) -> str:
    return "\n\n".join(m.content for m in messages if m.role == "system" and m.content)


def text_content(text: str) -> Any:
    return genai.TextContent(text=text)


def tool_arguments(call: ToolCall) -> dict[str, Any]:
    try:
        value = json.loads(call.arguments or "{}")
    except ValueError as exc:
        raise ProviderError(ErrorKind.BAD_REQUEST, f"tool call {call.id} has arguments that are not JSON") from exc
    return value if isinstance(value, dict) else {"value": value}


def new_call_id() -> str:
    # Gemini on OCI returns tool calls without ids; the conversation still needs one to answer them.
    return f"call_{uuid.uuid4().hex[:24]}"


def chat_usage(reported: Any, request: ChatRequest, text: str, tool_calls: Sequence[ToolCall]) -> Usage:
    if isinstance(reported, Mapping):
        prompt, completion = reported.get("promptTokens"), reported.get("completionTokens")
    else:
        prompt = getattr(reported, "prompt_tokens", None)
        completion = getattr(reported, "completion_tokens", None)
    if prompt is not None and completion is not None:
        return Usage(int(prompt), int(completion))
    estimated_prompt = sum(estimate_tokens(m.content) for m in request.messages)
    estimated_completion = estimate_tokens(text + "".join(c.name + c.arguments for c in tool_calls))
    return Usage(estimated_prompt, estimated_completion, estimated=True)
