"""Normalized types every provider adapter speaks.

Adapters translate these to and from one cloud's wire format and nothing else: no Django, no
tenants, no policies. Everything here is plain data that survives a JSON round trip, because
requests and replies cross the Celery queue between the gateway and the provider workers.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


@dataclass(frozen=True)
class ToolDefinition:
    """A function the model may call; `parameters` is a JSON Schema object."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True)
class ToolCall:
    """A call the model asked for; `arguments` is the JSON text of the arguments, as OpenAI sends it."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Message:
    """One turn. `content` is text; tool results are `role="tool"` with `tool_call_id` set."""

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    #: True when the provider did not report usage and we counted it ourselves.
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class ResponseFormat:
    """The shape the answer must take: any JSON object (`json_object`), or one matching `schema`
    (`json_schema`; with `strict` the gateway validates the answer against it)."""

    type: Literal["text", "json_object", "json_schema"]
    name: str = "response"
    schema: Mapping[str, Any] | None = None
    strict: bool = False
    description: str = ""


@dataclass(frozen=True)
class ChatRequest:
    """A chat call addressed to one deployment.

    `model` is the provider's own model id (a Bedrock model id or inference-profile ARN, a Vertex
    publisher model, an Azure deployment name, an OCI model OCID or name). System prompts stay in
    `messages` with `role="system"`; adapters lift them to wherever their API wants them.
    """

    model: str
    messages: tuple[Message, ...]
    tools: tuple[ToolDefinition, ...] = ()
    #: "auto", "none", "required", or the name of one tool the model must call.
    tool_choice: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    user: str | None = None
    #: None (or type "text") for free text.
    response_format: ResponseFormat | None = None

    @property
    def wants_json(self) -> bool:
        return self.response_format is not None and self.response_format.type != "text"


@dataclass(frozen=True)
class ChatResponse:
    content: str
    finish_reason: FinishReason
    usage: Usage
    tool_calls: tuple[ToolCall, ...] = ()
    #: The provider's id for this response, kept for support cases.
    provider_response_id: str | None = None


@dataclass(frozen=True)
class TextDelta:
    text: str
    type: Literal["text"] = "text"


@dataclass(frozen=True)
class ToolCallDelta:
    """A fragment of a tool call: the first fragment of call `index` carries `id` and `name`,
    later ones append to `arguments`."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    type: Literal["tool_call"] = "tool_call"


@dataclass(frozen=True)
class StreamEnd:
    """The last event of every successful stream."""

    finish_reason: FinishReason
    usage: Usage
    type: Literal["end"] = "end"


StreamEvent = TextDelta | ToolCallDelta | StreamEnd


@dataclass(frozen=True)
class EmbeddingRequest:
    model: str
    inputs: tuple[str, ...]
    #: Requested output size, for models that can shorten their vectors.
    dimensions: int | None = None
    #: "search_document" or "search_query" for models that embed the two differently.
    input_type: Literal["search_document", "search_query"] | None = None


@dataclass(frozen=True)
class EmbeddingResponse:
    vectors: tuple[tuple[float, ...], ...]
    usage: Usage


class ErrorKind(enum.StrEnum):
    THROTTLED = "throttled"
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"
    CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"
    CONTENT_FILTERED = "content_filtered"
    AUTH = "auth"
    BAD_REQUEST = "bad_request"
    NOT_FOUND = "not_found"

    @property
    def retryable(self) -> bool:
        """Whether another attempt (here or on another deployment) may succeed."""
        return self in {ErrorKind.THROTTLED, ErrorKind.TIMEOUT, ErrorKind.UNAVAILABLE}


class ProviderError(Exception):
    """The one error an adapter raises: every SDK exception is mapped onto an `ErrorKind`."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        retry_after: float | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = ErrorKind(kind)
        self.message = message
        self.retry_after = retry_after
        self.status_code = status_code

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "message": self.message,
            "retry_after": self.retry_after,
            "status_code": self.status_code,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProviderError:
        return cls(
            ErrorKind(data["kind"]),
            data["message"],
            retry_after=data.get("retry_after"),
            status_code=data.get("status_code"),
        )

    def __repr__(self) -> str:
        return f"ProviderError({self.kind.value!r}, {self.message!r})"


@dataclass(frozen=True)
class AccountConfig:
    """Where and how to reach one provider account; secrets are already resolved.

    `credentials` holds what the account's credentials reference pointed at (an API key, a key
    file's content, ...) and is never persisted: workers resolve it from their environment.
    """

    provider: str
    region: str = ""
    endpoint: str = ""
    credentials: Mapping[str, str] = field(default_factory=dict)
    #: Provider-specific, non-secret settings (an Azure API version, a GCP project, an OCI compartment).
    options: Mapping[str, Any] = field(default_factory=dict)
    timeout_seconds: float = 60.0


#: Connections an adapter may keep open to its account at once, unless `options["max_connections"]`
#: says otherwise: a worker runs calls in a pool of up to ~1,000 threads, and a connection pool
#: smaller than that makes calls queue for a connection inside the SDK (httpx's default is 100).
DEFAULT_MAX_CONNECTIONS = 1024


def max_connections(options: Mapping[str, Any], *, option: str = "max_connections") -> int:
    """The account's connection limit from its options, or `DEFAULT_MAX_CONNECTIONS`."""
    value = options.get(option, DEFAULT_MAX_CONNECTIONS)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ProviderError(ErrorKind.BAD_REQUEST, f"account option {option!r} must be a positive integer")
    return value


class ProviderAdapter(Protocol):
    """What every provider module offers. One instance serves one account and may be reused."""

    def chat(self, request: ChatRequest) -> ChatResponse: ...

    def chat_stream(self, request: ChatRequest) -> Iterator[StreamEvent]: ...

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse: ...


# ---- JSON round trip (requests and replies travel through Celery and Redis as JSON) ----


def chat_request_to_dict(request: ChatRequest) -> dict[str, Any]:
    return dataclasses.asdict(request)


def chat_request_from_dict(data: Mapping[str, Any]) -> ChatRequest:
    messages = tuple(
        Message(
            role=m["role"],
            content=m.get("content") or "",
            tool_calls=tuple(ToolCall(**tc) for tc in m.get("tool_calls") or ()),
            tool_call_id=m.get("tool_call_id"),
            name=m.get("name"),
        )
        for m in data["messages"]
    )
    return ChatRequest(
        model=data["model"],
        messages=messages,
        tools=tuple(ToolDefinition(**t) for t in data.get("tools") or ()),
        tool_choice=data.get("tool_choice"),
        temperature=data.get("temperature"),
        top_p=data.get("top_p"),
        max_tokens=data.get("max_tokens"),
        stop=tuple(data.get("stop") or ()),
        user=data.get("user"),
        response_format=ResponseFormat(**data["response_format"]) if data.get("response_format") else None,
    )


def chat_response_to_dict(response: ChatResponse) -> dict[str, Any]:
    return dataclasses.asdict(response)


def chat_response_from_dict(data: Mapping[str, Any]) -> ChatResponse:
    return ChatResponse(
        content=data["content"],
        finish_reason=data["finish_reason"],
        usage=Usage(**data["usage"]),
        tool_calls=tuple(ToolCall(**tc) for tc in data.get("tool_calls") or ()),
        provider_response_id=data.get("provider_response_id"),
    )


def embedding_request_to_dict(request: EmbeddingRequest) -> dict[str, Any]:
    return dataclasses.asdict(request)


def embedding_request_from_dict(data: Mapping[str, Any]) -> EmbeddingRequest:
    return EmbeddingRequest(
        model=data["model"],
        inputs=tuple(data["inputs"]),
        dimensions=data.get("dimensions"),
        input_type=data.get("input_type"),
    )


def embedding_response_to_dict(response: EmbeddingResponse) -> dict[str, Any]:
    return dataclasses.asdict(response)


def embedding_response_from_dict(data: Mapping[str, Any]) -> EmbeddingResponse:
    return EmbeddingResponse(vectors=tuple(tuple(v) for v in data["vectors"]), usage=Usage(**data["usage"]))


def stream_event_to_dict(event: StreamEvent) -> dict[str, Any]:
    return dataclasses.asdict(event)


def stream_event_from_dict(data: Mapping[str, Any]) -> StreamEvent:
    kind = data["type"]
    if kind == "text":
        return TextDelta(text=data["text"])
    if kind == "tool_call":
        return ToolCallDelta(
            index=data["index"], id=data.get("id"), name=data.get("name"), arguments=data.get("arguments", "")
        )
    if kind == "end":
        return StreamEnd(finish_reason=data["finish_reason"], usage=Usage(**data["usage"]))
    raise ValueError(f"unknown stream event type {kind!r}")
