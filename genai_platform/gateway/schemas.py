"""The OpenAI-compatible request shapes, validated with pydantic (fast, and its error locations
become the `param` of our OpenAI-style errors)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from genai_platform.inference.structured import response_format_from_openai
from genai_platform.providers.types import ChatRequest, EmbeddingRequest, Message, ToolCall, ToolDefinition

from .errors import GatewayError

UnitFloat = Annotated[float, Field(ge=0, le=1)]

# Size limits on the parts of a request that are not the conversation itself (OpenAI's where it has
# published one). They keep a request's bookkeeping small: each of these ends up in a log, a usage
# record or a provider payload.
MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY_CHARS = 64
MAX_METADATA_VALUE_CHARS = 512
MAX_LOGIT_BIAS_ENTRIES = 300
MAX_STOP_SEQUENCES = 4
MAX_STOP_CHARS = 256
MAX_TOOLS = 128
MAX_TOOL_DESCRIPTION_CHARS = 8_192
MAX_TOOL_PARAMETERS_BYTES = 32_768
NAME_PATTERN = r"^[a-zA-Z0-9_-]+$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Lenient(BaseModel):
    """Parts of the OpenAI schema that grow often; unknown keys there are ignored, not refused."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


class TextPart(_Lenient):
    type: Literal["text"]
    text: StrictStr


class FunctionCallIn(_Lenient):
    name: StrictStr = Field(min_length=1)
    arguments: StrictStr


class ToolCallIn(_Lenient):
    id: StrictStr = Field(min_length=1)
    type: Literal["function"] = "function"
    function: FunctionCallIn


class MessageIn(_Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: StrictStr | list[TextPart] | None = None
    name: StrictStr | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: StrictStr | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class FunctionDefinitionIn(_Lenient):
    name: StrictStr = Field(min_length=1, max_length=64, pattern=NAME_PATTERN)
    description: StrictStr = Field(default="", max_length=MAX_TOOL_DESCRIPTION_CHARS)
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: StrictBool | None = None

    @field_validator("parameters")
    @classmethod
    def _parameters_fit(cls, parameters: dict[str, Any]) -> dict[str, Any]:
        size = len(json.dumps(parameters, ensure_ascii=False).encode())
        if size > MAX_TOOL_PARAMETERS_BYTES:
            raise ValueError(f"the JSON schema is {size} bytes; at most {MAX_TOOL_PARAMETERS_BYTES} are accepted")
        return parameters


class ToolIn(_Lenient):
    type: Literal["function"]
    function: FunctionDefinitionIn


class NamedToolChoiceFunction(_Lenient):
    name: StrictStr


class NamedToolChoice(_Lenient):
    type: Literal["function"]
    function: NamedToolChoiceFunction


class StreamOptions(_Lenient):
    include_usage: StrictBool = False


class JsonSchemaFormatIn(_Strict):
    name: StrictStr = Field(min_length=1, max_length=64, pattern=NAME_PATTERN)
    description: StrictStr | None = None
    schema_: dict[str, Any] = Field(alias="schema")
    strict: StrictBool | None = None


class ResponseFormatIn(_Strict):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormatIn | None = None

    @model_validator(mode="after")
    def _schema_given_for_json_schema(self) -> ResponseFormatIn:
        # Raised as a GatewayError (not a ValueError) so the client is told the exact missing field.
        if self.type == "json_schema" and self.json_schema is None:
            raise GatewayError(
                400,
                "Missing required parameter: 'response_format.json_schema'.",
                param="response_format.json_schema",
                code="missing_required_parameter",
            )
        if self.type != "json_schema" and self.json_schema is not None:
            raise GatewayError(
                400,
                f"Invalid parameter: 'response_format.json_schema' is only allowed with type 'json_schema', "
                f"not '{self.type}'.",
                param="response_format.json_schema",
                code="invalid_value",
            )
        return self


MetadataKey = Annotated[StrictStr, Field(max_length=MAX_METADATA_KEY_CHARS)]
MetadataValue = Annotated[StrictStr, Field(max_length=MAX_METADATA_VALUE_CHARS)]
StopSequence = Annotated[StrictStr, Field(min_length=1, max_length=MAX_STOP_CHARS)]
TokenId = Annotated[StrictStr, Field(pattern=r"^[0-9]{1,9}$")]


class ChatCompletionIn(_Strict):
    model: StrictStr = Field(min_length=1)
    messages: list[MessageIn] = Field(min_length=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: UnitFloat | None = None
    max_tokens: StrictInt | None = Field(default=None, ge=1)
    max_completion_tokens: StrictInt | None = Field(default=None, ge=1)
    n: StrictInt | None = Field(default=None, ge=1, le=1)
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    stop: StopSequence | list[StopSequence] | None = Field(default=None)
    tools: list[ToolIn] | None = Field(default=None, max_length=MAX_TOOLS)
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: StrictBool | None = None
    user: StrictStr | None = Field(default=None, max_length=256)
    # Accepted for compatibility; not every provider honours them, so they are not forwarded.
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    seed: StrictInt | None = None
    logit_bias: dict[TokenId, Annotated[float, Field(ge=-100, le=100)]] | None = Field(
        default=None, max_length=MAX_LOGIT_BIAS_ENTRIES
    )
    logprobs: StrictBool | None = None
    top_logprobs: StrictInt | None = Field(default=None, ge=0, le=20)
    response_format: ResponseFormatIn | None = None
    metadata: dict[MetadataKey, MetadataValue] | None = Field(default=None, max_length=MAX_METADATA_PAIRS)
    store: StrictBool | None = None
    service_tier: StrictStr | None = None
    # Extension: values for the use case's pinned prompt template (lob_tenants/prompts.py checks them).
    prompt_variables: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _tool_messages_answer_tool_calls(self) -> ChatCompletionIn:
        """OpenAI's rule: a `tool` message names the call it answers, made by an earlier assistant message."""
        called: set[str] = set()
        for index, message in enumerate(self.messages):
            if message.role == "assistant":
                called.update(call.id for call in message.tool_calls or ())
            elif message.role == "tool":
                if message.tool_call_id is None:
                    raise GatewayError(
                        400,
                        f"Missing required parameter: 'messages[{index}].tool_call_id'.",
                        param=f"messages[{index}].tool_call_id",
                        code="missing_required_parameter",
                    )
                if message.tool_call_id not in called:
                    raise GatewayError(
                        400,
                        "Invalid parameter: messages with role 'tool' must be a response to a preceding message "
                        "with 'tool_calls'.",
                        param=f"messages[{index}].tool_call_id",
                        code="invalid_value",
                    )
        return self

    def to_chat_request(self) -> ChatRequest:
        stops = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        if len(stops) > MAX_STOP_SEQUENCES:
            raise GatewayError(
                400,
                f"At most {MAX_STOP_SEQUENCES} stop sequences are allowed.",
                param="stop",
                code="invalid_value",
            )
        tool_choice = self.tool_choice
        if isinstance(tool_choice, NamedToolChoice):
            tool_choice = tool_choice.function.name
        if tool_choice not in (None, "none", "auto") and not self.tools:
            raise GatewayError(
                400, "tool_choice requires tools to be given.", param="tool_choice", code="invalid_value"
            )
        return ChatRequest(
            model=self.model,
            messages=tuple(
                Message(
                    role="system" if m.role == "developer" else m.role,
                    content=m.text(),
                    tool_calls=tuple(
                        ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments)
                        for c in m.tool_calls or ()
                    ),
                    tool_call_id=m.tool_call_id,
                    name=m.name,
                )
                for m in self.messages
            ),
            tools=tuple(
                ToolDefinition(
                    name=t.function.name, description=t.function.description, parameters=t.function.parameters
                )
                for t in self.tools or ()
            ),
            tool_choice=tool_choice,
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_completion_tokens or self.max_tokens,
            stop=stops,
            user=self.user,
            response_format=response_format_from_openai(
                self.response_format.model_dump(by_alias=True, exclude_none=True) if self.response_format else None
            ),
        )


class CompletionIn(_Strict):
    """`POST /v1/completions` (legacy): one prompt, answered through the chat path as one user message."""

    model: StrictStr = Field(min_length=1)
    prompt: StrictStr | list[StrictStr] = Field(min_length=1)
    max_tokens: StrictInt | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: UnitFloat | None = None
    n: StrictInt | None = Field(default=None, ge=1, le=1)
    best_of: StrictInt | None = Field(default=None, ge=1, le=1)
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    stop: StrictStr | list[StrictStr] | None = None
    echo: Literal[False] | None = None
    suffix: None = None
    logprobs: None = None
    user: StrictStr | None = Field(default=None, max_length=256)
    # Accepted for compatibility and not forwarded, as on chat completions.
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    seed: StrictInt | None = None
    logit_bias: dict[str, float] | None = None

    def to_chat_request(self) -> ChatRequest:
        prompts = [self.prompt] if isinstance(self.prompt, str) else self.prompt
        if len(prompts) != 1:
            raise GatewayError(400, "Only one prompt per request is supported.", param="prompt", code="invalid_value")
        fields = {"model": self.model, "messages": [{"role": "user", "content": prompts[0]}], "stop": self.stop}
        fields.update(max_tokens=self.max_tokens, temperature=self.temperature, top_p=self.top_p, user=self.user)
        try:
            # The chat schema's own rules (NUL bytes, sizes, stop sequences) apply to the prompt too.
            as_chat = ChatCompletionIn.model_validate(fields)
        except ValidationError as exc:
            error = _as_gateway_error(exc)
            if error.param and error.param.startswith("messages"):
                error = GatewayError(400, error.message.replace(error.param, "prompt"), param="prompt", code=error.code)
            raise error from None
        return as_chat.to_chat_request()


class EmbeddingsIn(_Strict):
    model: StrictStr = Field(min_length=1)
    input: StrictStr | list[StrictStr] = Field(min_length=1)
    dimensions: StrictInt | None = Field(default=None, ge=1, le=8192)
    # "base64": little-endian float32 bytes, base64-encoded (the openai SDK's default).
    encoding_format: Literal["float", "base64"] = "float"
    user: StrictStr | None = Field(default=None, max_length=256)

    def to_embedding_request(self) -> EmbeddingRequest:
        inputs = (self.input,) if isinstance(self.input, str) else tuple(self.input)
        if len(inputs) > 2048:
            raise GatewayError(400, "At most 2048 inputs per request.", param="input", code="invalid_value")
        if any(not text for text in inputs):
            raise GatewayError(400, "Inputs must be non-empty strings.", param="input", code="invalid_value")
        return EmbeddingRequest(model=self.model, inputs=inputs, dimensions=self.dimensions)


SchemaT = TypeVar("SchemaT", bound=BaseModel)


def parse_body(schema: type[SchemaT], body: bytes) -> SchemaT:
    """Parses and validates a JSON body, turning the first problem into a 400 OpenAI-style error.

    Text PostgreSQL cannot store is refused here, at the edge, naming its field: a NUL character
    (JSON `\\u0000`) would otherwise be answered and then stop every ledger or audit write that
    carries it. (Lone surrogates, the other text PostgreSQL refuses, are already invalid JSON to
    the parser; raw control characters too.)
    """
    try:
        parsed = schema.model_validate_json(body)
    except ValidationError as exc:
        raise _as_gateway_error(exc) from None
    if b"\\u0000" in body:  # the only way JSON can carry a NUL; the walk below names the field
        for param in _params_with_nul(parsed):
            raise GatewayError(
                400,
                f"Invalid value for '{param}': text must not contain NUL (\\u0000) characters.",
                param=param,
                code="invalid_value",
            )
    return parsed


def _params_with_nul(value: Any, path: str = "") -> Iterator[str]:
    """The JSON paths (`messages[0].content`, `metadata.<key>`) of every string containing NUL."""
    if isinstance(value, str):
        if "\x00" in value:
            yield path
    elif isinstance(value, BaseModel):
        for name, field_info in type(value).model_fields.items():
            yield from _params_with_nul(getattr(value, name), _join(path, field_info.alias or name))
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and "\x00" in key:
                yield _join(path, key.replace("\x00", "\\u0000"))
            yield from _params_with_nul(item, _join(path, str(key)))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _params_with_nul(item, f"{path}[{index}]")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _as_gateway_error(exc: ValidationError) -> GatewayError:
    first = exc.errors(include_url=False)[0]
    if first["type"] in ("json_invalid", "json_type") or not first["loc"]:
        return GatewayError(
            400, "We could not parse the JSON body of your request: expected a JSON object.", code="invalid_json"
        )
    param = _param_path(first["loc"])
    if first["type"] == "missing":
        message = f"Missing required parameter: '{param}'."
        return GatewayError(400, message, param=param, code="missing_required_parameter")
    if first["type"] == "extra_forbidden":
        return GatewayError(
            400, f"Unrecognized request argument supplied: '{param}'.", param=param, code="unknown_parameter"
        )
    return GatewayError(400, f"Invalid value for '{param}': {first['msg']}.", param=param, code="invalid_value")


def _param_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("str", "list", "list[TextPart]", "list[str]", "NamedToolChoice", "function-after[...]"):
            continue  # pydantic names the union member it tried; the client only knows the field
        elif "[" in part or part.startswith(("literal", "function-", "constrained-")):
            continue
        else:
            path += f".{part}" if path else part
    return path


class GuardrailApplyIn(_Strict):
    """`POST /v1/guardrails/apply`: check text under the caller's effective policy without a model."""

    text: StrictStr | list[StrictStr] = Field(min_length=1)
    direction: Literal["input", "output"] = "input"
    context: StrictStr | None = Field(default=None, description="Retrieved context, for the grounding check.")

    def texts(self) -> tuple[str, ...]:
        return (self.text,) if isinstance(self.text, str) else tuple(self.text)


class ComparisonFilterIn(_Strict):
    key: StrictStr = Field(min_length=1, max_length=200)
    type: Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"]
    value: StrictStr | StrictInt | float | StrictBool | list[StrictStr | StrictInt | float]

    @model_validator(mode="after")
    def _value_fits_type(self) -> ComparisonFilterIn:
        # `in`/`nin` test membership of a list; the others compare with one value.
        if self.type in ("in", "nin") and not isinstance(self.value, list):
            raise ValueError(f"'{self.type}' needs a list of values")
        if self.type not in ("in", "nin") and isinstance(self.value, list):
            raise ValueError(f"'{self.type}' compares with a single value, not a list")
        return self


class CompoundFilterIn(_Strict):
    type: Literal["and", "or"]
    filters: list[ComparisonFilterIn | CompoundFilterIn] = Field(min_length=1, max_length=20)


CompoundFilterIn.model_rebuild()


class RankingOptionsIn(_Strict):
    ranker: StrictStr | None = None
    score_threshold: float | None = Field(default=None, ge=-1, le=1)


class VectorStoreSearchIn(_Strict):
    """`POST /v1/vector_stores/{id}/search`, in OpenAI's shape (the openai SDK's `vector_stores.search`)."""

    query: StrictStr | list[StrictStr] = Field(min_length=1)
    max_num_results: StrictInt = Field(default=10, ge=1, le=50)
    filters: ComparisonFilterIn | CompoundFilterIn | None = None
    ranking_options: RankingOptionsIn | None = None
    rewrite_query: StrictBool = False

    def query_text(self) -> str:
        text = self.query if isinstance(self.query, str) else " ".join(self.query)
        if not text.strip():
            raise GatewayError(400, "Invalid value for 'query': it is empty.", param="query", code="invalid_value")
        return text
