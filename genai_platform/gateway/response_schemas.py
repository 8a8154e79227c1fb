"""`POST /v1/responses` request shapes (as the openai SDK's `ResponseCreateParams` sends them), and
their mapping onto the inference core's `ChatRequest`.

Input items are normalized into one canonical form (with ids and statuses, as `GET
/v1/responses/{id}/input_items` returns them and as a stored conversation keeps them); the chat
messages are made from that form, so a conversation continued from a stored response reads the same
as one sent whole.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, StrictBool, StrictInt, StrictStr, Tag, model_validator

from genai_platform.inference.structured import response_format_from_openai
from genai_platform.providers.types import ChatRequest, Message, ToolCall, ToolDefinition

from .errors import GatewayError
from .schemas import (
    MAX_TOOLS,
    FunctionDefinitionIn,
    MetadataKey,
    MetadataValue,
    UnitFloat,
    _Lenient,
    _Strict,
)

MAX_INPUT_ITEMS = 2_048

Item = dict[str, Any]


def _text_or_list(value: Any) -> str:
    return "str" if isinstance(value, str) else "list"


#: Text, or a list of content parts. Validated as the one its JSON type says, so an error names
#: the part at fault rather than saying that the list is not a string.
TextOrParts = Annotated[
    Annotated[StrictStr, Tag("str")] | Annotated[list["ContentPartIn"], Tag("list")],
    Discriminator(_text_or_list),
]


class ContentPartIn(_Lenient):
    """Text content of a message item; images, files and audio are not accepted."""

    type: Literal["input_text", "output_text", "text"]
    text: StrictStr


class InputItemIn(_Lenient):
    """One input item: a message (`type` "message" or omitted), a `function_call` the model made,
    or the `function_call_output` that answers it. Output items sent back (with `id`, `status`,
    `annotations`) are accepted as they are."""

    type: Literal["message", "function_call", "function_call_output"] = "message"
    role: Literal["user", "system", "developer", "assistant"] | None = None
    content: TextOrParts | None = None
    call_id: StrictStr | None = Field(default=None, min_length=1)
    name: StrictStr | None = None
    arguments: StrictStr | None = None
    output: TextOrParts | None = None

    @model_validator(mode="after")
    def _fields_of_its_type(self) -> InputItemIn:
        needed = {
            "message": ("role", "content"),
            "function_call": ("call_id", "name", "arguments"),
            "function_call_output": ("call_id", "output"),
        }[self.type]
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.type} item needs '{missing[0]}'")
        return self

    def canonical(self) -> Item:
        if self.type == "function_call":
            return {
                "type": "function_call",
                "id": _item_id("fc"),
                "call_id": self.call_id,
                "name": self.name,
                "arguments": self.arguments,
                "status": "completed",
            }
        if self.type == "function_call_output":
            return {
                "type": "function_call_output",
                "id": _item_id("fco"),
                "call_id": self.call_id,
                "output": _text(self.output),
                "status": "completed",
            }
        return message_item(self.role or "user", _text(self.content))


class FunctionToolIn(_Lenient):
    type: Literal["function"]
    name: StrictStr = Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_-]+$")
    description: StrictStr | None = None
    parameters: dict[str, Any] | None = None
    strict: StrictBool | None = None

    def definition(self) -> ToolDefinition:
        # The chat schema's limits on a function (description and schema sizes) apply here too.
        spec = {"name": self.name, "description": self.description or ""}
        if self.parameters is not None:
            spec["parameters"] = self.parameters
        function = FunctionDefinitionIn.model_validate(spec)
        return ToolDefinition(name=function.name, description=function.description, parameters=function.parameters)

    def document(self) -> Item:
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
            "strict": self.strict,
        }


class FunctionToolChoiceIn(_Lenient):
    type: Literal["function"]
    name: StrictStr


class TextFormatIn(_Strict):
    type: Literal["text", "json_object", "json_schema"]
    name: StrictStr | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_-]+$")
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    description: StrictStr | None = None
    strict: StrictBool | None = None


class TextConfigIn(_Lenient):
    format: TextFormatIn | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class ReasoningIn(_Lenient):
    """Accepted for compatibility; no provider behind the gateway is asked to reason on request."""

    effort: StrictStr | None = None
    summary: StrictStr | None = None


class ResponseStreamOptionsIn(_Lenient):
    include_obfuscation: StrictBool | None = None


class ResponseCreateIn(_Strict):
    model: StrictStr = Field(min_length=1)
    input: Annotated[
        Annotated[StrictStr, Tag("str")] | Annotated[list[InputItemIn], Tag("list")],
        Discriminator(_text_or_list),
        Field(min_length=1, max_length=MAX_INPUT_ITEMS),
    ]
    instructions: StrictStr | None = None
    tools: list[FunctionToolIn] | None = Field(default=None, max_length=MAX_TOOLS)
    tool_choice: Literal["none", "auto", "required"] | FunctionToolChoiceIn | None = None
    parallel_tool_calls: StrictBool | None = None
    text: TextConfigIn | None = None
    max_output_tokens: StrictInt | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: UnitFloat | None = None
    metadata: dict[MetadataKey, MetadataValue] | None = Field(default=None, max_length=16)
    user: StrictStr | None = Field(default=None, max_length=256)
    store: StrictBool = True
    previous_response_id: StrictStr | None = Field(default=None, min_length=1)
    stream: StrictBool = False
    stream_options: ResponseStreamOptionsIn | None = None
    # Accepted for compatibility and not forwarded (see docs/api.md).
    truncation: Literal["auto", "disabled"] | None = None
    include: list[StrictStr] | None = None
    reasoning: ReasoningIn | None = None
    service_tier: StrictStr | None = None
    safety_identifier: StrictStr | None = Field(default=None, max_length=256)
    prompt_cache_key: StrictStr | None = None
    top_logprobs: StrictInt | None = Field(default=None, ge=0, le=20)
    max_tool_calls: StrictInt | None = Field(default=None, ge=1)
    background: Literal[False] | None = None

    def input_items(self) -> list[Item]:
        if isinstance(self.input, str):
            return [message_item("user", self.input)]
        return [item.canonical() for item in self.input]

    def tool_choice_value(self) -> str | None:
        choice = self.tool_choice
        if isinstance(choice, FunctionToolChoiceIn):
            choice = choice.name
        if choice not in (None, "none", "auto") and not self.tools:
            raise GatewayError(
                400, "tool_choice requires tools to be given.", param="tool_choice", code="invalid_value"
            )
        return choice

    def to_chat_request(self, context: list[Item], items: list[Item]) -> ChatRequest:
        """The chat request for the conversation so far (`context`, from the previous response) and
        this request's `items`, with this request's instructions first: instructions are not carried
        over from a previous response."""
        system = [Message(role="system", content=self.instructions)] if self.instructions else []
        text_format = self.text.format if self.text is not None else None
        response_format = None
        if text_format is not None:
            spec = text_format.model_dump(by_alias=True, exclude_none=True)
            kind = spec.pop("type")
            response_format = response_format_from_openai(
                {"type": kind, "json_schema": spec} if kind == "json_schema" else {"type": kind}
            )
        return ChatRequest(
            model=self.model,
            messages=(*system, *messages_from_items([*context, *items], first_input=len(context))),
            tools=tuple(tool.definition() for tool in self.tools or ()),
            tool_choice=self.tool_choice_value(),
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_output_tokens,
            user=self.user,
            response_format=response_format,
        )


def message_item(role: str, text: str) -> Item:
    part = (
        {"type": "output_text", "text": text, "annotations": []}
        if role == "assistant"
        else {"type": "input_text", "text": text}
    )
    return {"type": "message", "id": _item_id("msg"), "role": role, "status": "completed", "content": [part]}


def messages_from_items(items: list[Item], *, first_input: int = 0) -> list[Message]:
    """Chat messages for canonical items: consecutive function calls join the assistant turn they
    belong to, and each function output must answer a call made before it."""
    messages: list[Message] = []
    called: set[str] = set()
    for index, item in enumerate(items):
        if item["type"] == "message":
            role = "system" if item["role"] == "developer" else item["role"]
            messages.append(Message(role=role, content="".join(part["text"] for part in item["content"])))
        elif item["type"] == "function_call":
            call = ToolCall(id=item["call_id"], name=item["name"], arguments=item["arguments"])
            called.add(call.id)
            last = messages[-1] if messages else None
            if last is not None and last.role == "assistant":
                messages[-1] = Message(role="assistant", content=last.content, tool_calls=(*last.tool_calls, call))
            else:
                messages.append(Message(role="assistant", tool_calls=(call,)))
        else:
            if item["call_id"] not in called:
                raise GatewayError(
                    400,
                    f"No tool call found for function call output with call_id {item['call_id']}.",
                    param=f"input[{index - first_input}].call_id",
                    code="invalid_value",
                )
            messages.append(Message(role="tool", content=item["output"], tool_call_id=item["call_id"]))
    return messages


def _text(content: str | list[ContentPartIn] | None) -> str:
    if content is None:
        return ""
    return content if isinstance(content, str) else "".join(part.text for part in content)


def _item_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"
