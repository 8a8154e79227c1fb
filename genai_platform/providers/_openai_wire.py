"""The Chat Completions and Embeddings wire format, shared by every adapter built on the `openai` SDK.

Azure OpenAI and OpenAI-compatible servers (OpenAI itself, vLLM, Ollama, llama.cpp server) speak
the same JSON; they differ only in how the SDK client is built (base URL, api-version, auth). The
adapter modules build that client and hand it to `ChatCompletionsAdapter`, which owns everything
else: normalized types <-> request JSON, stream chunks -> events, SDK exceptions -> `ProviderError`.

Servers differ in what they report, so the translation is tolerant where real servers are known
to vary: usage may be missing (it is then estimated and flagged), streamed tool calls may repeat
their id and name on every fragment, a finish reason may be absent or `"stop"` next to tool
calls, and stream chunks may carry no choices at all (Azure's content-filter preamble, the usage
chunk).
"""

from __future__ import annotations

import array
import base64
import email.utils
import itertools
import json
import re
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import openai

from ._json_post import JsonPoster, StatusError
from .tokens import estimate_tokens
from .types import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    ErrorKind,
    FinishReason,
    Message,
    ProviderError,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
    max_connections,
)

MaxTokensParameter = Literal["max_tokens", "max_completion_tokens"]
EmbeddingEncoding = Literal["float", "base64"]

_FINISH_REASONS: Mapping[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}
# OpenAI and Azure say `context_length_exceeded`; vLLM and llama.cpp say it only in prose or type.
_CONTEXT_CODES = frozenset({"context_length_exceeded", "exceed_context_size_error"})
_CONTEXT_MESSAGE = re.compile(r"context length|context window|context size|maximum model length", re.IGNORECASE)
_CONTENT_FILTER_CODES = frozenset({"content_filter", "ResponsibleAIPolicyViolation"})


@dataclass(frozen=True)
class WireOptions:
    """Per-account choices about the request JSON, read from `AccountConfig.options`."""

    #: Newer OpenAI and Azure models (o-series, gpt-5) refuse `max_tokens`; many local servers only know it.
    max_tokens_parameter: MaxTokensParameter = "max_tokens"
    #: Ask for the final usage chunk when streaming; turn off for servers that reject `stream_options`.
    stream_include_usage: bool = True
    #: `base64` quarters the embeddings payload; `float` is the format every server understands.
    embedding_encoding: EmbeddingEncoding = "float"

    @classmethod
    def from_options(cls, options: Mapping[str, Any], *, defaults: WireOptions) -> WireOptions:
        max_tokens_parameter = options.get("max_tokens_parameter", defaults.max_tokens_parameter)
        if max_tokens_parameter not in ("max_tokens", "max_completion_tokens"):
            raise _config_error("max_tokens_parameter", max_tokens_parameter, "'max_tokens' or 'max_completion_tokens'")
        embedding_encoding = options.get("embedding_encoding", defaults.embedding_encoding)
        if embedding_encoding not in ("float", "base64"):
            raise _config_error("embedding_encoding", embedding_encoding, "'float' or 'base64'")
        stream_include_usage = options.get("stream_include_usage", defaults.stream_include_usage)
        if not isinstance(stream_include_usage, bool):
            raise _config_error("stream_include_usage", stream_include_usage, "true or false")
        return cls(max_tokens_parameter, stream_include_usage, embedding_encoding)


class ChatCompletionsAdapter:
    """A `ProviderAdapter` over one `openai` SDK client (plain or Azure), created once and reused."""

    def __init__(self, client: openai.OpenAI, wire: WireOptions, *, poster: JsonPoster | None = None) -> None:
        self._client = client
        self._wire = wire
        self._poster = poster

    def chat(self, request: ChatRequest) -> ChatResponse:
        if self._poster is not None:  # the same request, without the SDK's CPU (providers/_json_post.py)
            try:
                return _chat_response(request, self._poster.post("/chat/completions", self._chat_params(request)))
            except StatusError as exc:
                raise status_error(exc.status, exc.error, exc.message, exc.headers) from exc
        # Posted through the SDK client (its auth, base URL, Azure deployment routing, timeouts and
        # status-error mapping) but read as plain JSON: building the SDK's typed request and
        # pydantic response models was most of a call's CPU in the worker (docs/performance.md).
        try:
            response = self._client.post("/chat/completions", body=self._chat_params(request), cast_to=httpx.Response)
            completion = json.loads(response.content)
        except (openai.OpenAIError, httpx.TransportError, ValueError) as exc:
            raise provider_error(exc) from exc
        return _chat_response(request, completion)

    def chat_stream(self, request: ChatRequest) -> Iterator[StreamEvent]:
        params = self._chat_params(request)
        params["stream"] = True
        if self._wire.stream_include_usage:
            params["stream_options"] = {"include_usage": True}
        try:
            response = self._client.post("/chat/completions", body=params, cast_to=httpx.Response, stream=True)
        except (openai.OpenAIError, httpx.TransportError, ValueError) as exc:
            raise provider_error(exc) from exc
        try:
            yield from _stream_events(request, _sse_chunks(response))
        except (openai.OpenAIError, httpx.TransportError, ValueError) as exc:
            raise provider_error(exc) from exc
        finally:
            # Also runs when the consumer stops early, so the connection goes back to the pool.
            response.close()

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        if not request.inputs:
            return EmbeddingResponse(vectors=(), usage=Usage())
        params: dict[str, Any] = {
            "model": request.model,
            "input": list(request.inputs),
            # Always explicit: left out, the SDK asks for base64 and decodes it itself, which some
            # OpenAI-compatible servers do not support.
            "encoding_format": self._wire.embedding_encoding,
        }
        if request.dimensions is not None:
            params["dimensions"] = request.dimensions
        try:
            result = self._client.embeddings.create(**params)
        except (openai.OpenAIError, ValueError) as exc:
            raise provider_error(exc) from exc
        return _embedding_response(request, result)

    def _chat_params(self, request: ChatRequest) -> dict[str, Any]:
        params: dict[str, Any] = {"model": request.model, "messages": [_message_json(m) for m in request.messages]}
        if request.tools:
            params["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        **({"description": tool.description} if tool.description else {}),
                        "parameters": dict(tool.parameters),
                    },
                }
                for tool in request.tools
            ]
            # Servers refuse tool_choice without tools, so it is only sent next to them.
            if request.tool_choice is not None:
                params["tool_choice"] = _tool_choice_json(request.tool_choice)
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.top_p is not None:
            params["top_p"] = request.top_p
        if request.max_tokens is not None:
            params[self._wire.max_tokens_parameter] = request.max_tokens
        if request.stop:
            params["stop"] = list(request.stop)
        if request.user:
            params["user"] = request.user
        if request.wants_json:
            params["response_format"] = _response_format_json(request)
        return params


# ---- normalized request -> JSON ----


def _message_json(message: Message) -> dict[str, Any]:
    data: dict[str, Any] = {"role": message.role}
    if message.role == "assistant" and message.tool_calls:
        # The API wants null rather than "" beside tool calls; some servers reject the empty string.
        data["content"] = message.content or None
        data["tool_calls"] = [
            {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            for call in message.tool_calls
        ]
    else:
        data["content"] = message.content
    if message.role == "tool":
        data["tool_call_id"] = message.tool_call_id
    elif message.name:
        data["name"] = message.name
    return data


def _response_format_json(request: ChatRequest) -> dict[str, Any]:
    fmt = request.response_format
    assert fmt is not None
    if fmt.type == "json_object" or fmt.schema is None:
        return {"type": "json_object"}
    spec: dict[str, Any] = {"name": fmt.name, "schema": dict(fmt.schema), "strict": fmt.strict}
    if fmt.description:
        spec["description"] = fmt.description
    return {"type": "json_schema", "json_schema": spec}


def _tool_choice_json(tool_choice: str) -> str | dict[str, Any]:
    if tool_choice in ("auto", "none", "required"):
        return tool_choice
    return {"type": "function", "function": {"name": tool_choice}}


# ---- JSON -> normalized replies ----


def _chat_response(request: ChatRequest, completion: Any) -> ChatResponse:
    choices = completion.get("choices") if isinstance(completion, dict) else None
    if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
        raise ProviderError(
            ErrorKind.UNAVAILABLE,
            "the endpoint did not answer with a chat completion (is the account endpoint the API base URL?)",
        )
    choice = choices[0]
    message = _mapping(choice.get("message"))
    content = message.get("content") or ""
    tool_calls = tuple(
        ToolCall(id=call.get("id") or "", name=function.get("name") or "", arguments=function.get("arguments") or "")
        for call in message.get("tool_calls") or ()
        if isinstance(call, dict) and (function := _mapping(call.get("function")))
    )
    usage = _usage(completion.get("usage"))
    if usage is None:
        usage = Usage(_estimate_input(request), estimate_tokens(content) + _estimate_calls(tool_calls), estimated=True)
    return ChatResponse(
        content=content,
        finish_reason=_finish_reason(choice.get("finish_reason"), has_tool_calls=bool(tool_calls)),
        usage=usage,
        tool_calls=tool_calls,
        provider_response_id=completion.get("id") or None,
    )


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _sse_chunks(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """The JSON objects of a server-sent event stream, up to `data: [DONE]`.

    Read line by line rather than through the SDK's `Stream`, which builds a pydantic model per
    chunk; an `error` object inside the stream raises `openai.APIError` as the SDK does."""
    for payload in _sse_data(response.iter_lines()):
        if payload.startswith("[DONE]"):
            return
        chunk = json.loads(payload)
        if not isinstance(chunk, dict):
            continue
        if chunk.get("error"):
            error = chunk["error"]
            message = error.get("message") if isinstance(error, dict) else None
            raise openai.APIError(
                message if isinstance(message, str) and message else "An error occurred during streaming",
                response.request,
                body=error,
            )
        yield chunk


def _sse_data(lines: Iterator[str]) -> Iterator[str]:
    """Each event's `data`, its lines joined; `event:`, `id:`, `retry:` and comments are dropped."""
    data: list[str] = []
    for line in lines:
        if line.startswith("data:"):
            data.append(line[6:] if line.startswith("data: ") else line[5:])
        elif not line and data:
            yield "\n".join(data)
            data = []
    if data:  # a server that closes without the final blank line
        yield "\n".join(data)


def _stream_events(request: ChatRequest, stream: Iterator[dict[str, Any]]) -> Iterator[StreamEvent]:
    text: list[str] = []
    calls: dict[int, _CallState] = {}
    raw_finish: str | None = None
    usage: Usage | None = None
    for chunk in stream:
        usage = _usage(chunk.get("usage")) or usage
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or (choice.get("index") or 0) != 0:
                continue
            delta = _mapping(choice.get("delta"))
            content = delta.get("content")
            if content:
                text.append(content)
                yield TextDelta(content)
            for position, fragment in enumerate(delta.get("tool_calls") or ()):
                event = _tool_call_delta(_mapping(fragment), position, calls)
                if event is not None:
                    yield event
            raw_finish = choice.get("finish_reason") or raw_finish
    if raw_finish is None:
        raise ProviderError(ErrorKind.UNAVAILABLE, "the stream ended before the model finished its answer")
    if usage is None:
        output = estimate_tokens("".join(text)) + sum(
            estimate_tokens((c.name or "") + c.arguments) for c in calls.values()
        )
        usage = Usage(_estimate_input(request), output, estimated=True)
    yield StreamEnd(_finish_reason(raw_finish, has_tool_calls=bool(calls)), usage)


def _tool_call_delta(fragment: dict[str, Any], position: int, calls: dict[int, _CallState]) -> ToolCallDelta | None:
    index = fragment["index"] if isinstance(fragment.get("index"), int) else position
    function = _mapping(fragment.get("function"))
    state = calls.setdefault(index, _CallState())
    arguments = function.get("arguments") or ""
    state.arguments += arguments
    # Some servers repeat the id and name on every fragment; only the first may carry them.
    call_id = None if state.id else fragment.get("id") or None
    name = None if state.name else function.get("name") or None
    state.id = state.id or call_id
    state.name = state.name or name
    if call_id is None and name is None and not arguments:
        return None
    return ToolCallDelta(index=index, id=call_id, name=name, arguments=arguments)


@dataclass
class _CallState:
    id: str | None = None
    name: str | None = None
    arguments: str = ""


def _embedding_response(request: EmbeddingRequest, result: object) -> EmbeddingResponse:
    data = getattr(result, "data", None)
    if not isinstance(data, list) or len(data) != len(request.inputs):
        raise ProviderError(
            ErrorKind.UNAVAILABLE,
            f"the endpoint returned {len(data) if isinstance(data, list) else 'no'} embeddings "
            f"for {len(request.inputs)} inputs",
        )
    ordered = sorted(data, key=lambda item: getattr(item, "index", 0))
    vectors = tuple(_vector(item.embedding) for item in ordered)
    usage_data = getattr(result, "usage", None)
    prompt_tokens = getattr(usage_data, "prompt_tokens", None)
    if isinstance(prompt_tokens, int):
        usage = Usage(prompt_tokens, 0)
    else:
        usage = Usage(sum(estimate_tokens(text) for text in request.inputs), 0, estimated=True)
    return EmbeddingResponse(vectors=vectors, usage=usage)


def _vector(embedding: Any) -> tuple[float, ...]:
    if isinstance(embedding, str):
        # base64 of little-endian float32, as OpenAI documents it.
        values = array.array("f", base64.b64decode(embedding))
        if sys.byteorder == "big":
            values.byteswap()
        return tuple(values)
    return tuple(float(value) for value in embedding)


def _finish_reason(raw: str | None, *, has_tool_calls: bool) -> FinishReason:
    reason = _FINISH_REASONS.get(raw or "", "stop")
    # Ollama and older vLLM say "stop" (or nothing) when the model called tools; callers must
    # still see that the turn ended in tool calls.
    if has_tool_calls and reason == "stop":
        return "tool_calls"
    return reason


def _usage(data: Any) -> Usage | None:
    data = _mapping(data)
    prompt_tokens, completion_tokens = data.get("prompt_tokens"), data.get("completion_tokens")
    if not isinstance(prompt_tokens, int) or not isinstance(completion_tokens, int):
        return None
    return Usage(prompt_tokens, completion_tokens)


def _estimate_input(request: ChatRequest) -> int:
    tokens = sum(estimate_tokens(m.content) + _estimate_calls(m.tool_calls) for m in request.messages)
    # Tool schemas are part of the prompt the model reads.
    tokens += sum(estimate_tokens(t.name + t.description + json.dumps(dict(t.parameters))) for t in request.tools)
    return tokens


def _estimate_calls(calls: tuple[ToolCall, ...]) -> int:
    return sum(estimate_tokens(call.name + call.arguments) for call in calls)


# ---- SDK exceptions -> ProviderError ----


def http_client(options: Mapping[str, Any]) -> openai.DefaultHttpxClient:
    """The SDK's HTTP client with a connection pool as large as a worker's thread pool.

    The SDK's default pool keeps only 100 connections alive, so a burst of a thousand calls would
    open and close hundreds of connections; `options["max_connections"]` sets both limits. The
    client (httpx) is thread-safe: one per adapter serves every worker thread."""
    size = max_connections(options)
    return openai.DefaultHttpxClient(transport=StripedTransport(size))


class StripedTransport(httpx.BaseTransport):
    """`stripes` connection pools of `size / stripes` connections, each thread always using the same one.

    httpcore's pool scans every connection it holds on each request and each release, under its
    lock: with a thousand calls in flight through one pool that scan was ~40 % of a worker's CPU
    (docs/performance.md, "Where the async gateway's time went"). Threads are dealt out to the
    stripes in turn, so with as many connections as threads each stripe serves as many threads as
    it has connections, and a scan covers 1/`stripes` of them."""

    def __init__(self, size: int, stripes: int = 16) -> None:
        per_stripe = max(1, -(-size // stripes))
        limits = httpx.Limits(max_connections=per_stripe, max_keepalive_connections=per_stripe)
        self._pools = [httpx.HTTPTransport(limits=limits) for _ in range(min(stripes, size))]
        self._next = itertools.count()
        self._mine = threading.local()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        pool = getattr(self._mine, "pool", None)
        if pool is None:
            pool = self._mine.pool = self._pools[next(self._next) % len(self._pools)]  # next() is atomic
        return pool.handle_request(request)

    def close(self) -> None:
        for pool in self._pools:
            pool.close()


def provider_error(exc: Exception) -> ProviderError:
    """Map any exception the `openai` SDK raises (or a malformed reply) onto the platform's taxonomy."""
    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
        return ProviderError(ErrorKind.TIMEOUT, "the request timed out")
    if isinstance(exc, httpx.TransportError):
        return ProviderError(ErrorKind.UNAVAILABLE, f"the connection failed: {exc}")
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(ErrorKind.UNAVAILABLE, f"cannot reach the endpoint: {_cause(exc)}")
    if isinstance(exc, openai.APIStatusError):
        return _status_error(exc)
    if isinstance(exc, openai.APIError):
        # An error event inside a 200 stream: no status, only the error object.
        error = exc.body if isinstance(exc.body, Mapping) else {}
        kind = _error_kind_from_body(error, default=ErrorKind.UNAVAILABLE)
        return ProviderError(kind, f"error during the stream: {exc.message}")
    if isinstance(exc, ValueError):
        return ProviderError(ErrorKind.UNAVAILABLE, f"malformed reply from the endpoint: {exc}")
    return ProviderError(ErrorKind.UNAVAILABLE, f"{type(exc).__name__}: {exc}")


def _status_error(exc: openai.APIStatusError) -> ProviderError:
    return status_error(exc.status_code, exc.body, exc.message, exc.response.headers)


def status_error(status: int, body: object, fallback: str, headers: Mapping[str, str]) -> ProviderError:
    """An error status onto the taxonomy: `body` is the answer's error object (or whatever the
    server sent), `fallback` the message to show when it holds none."""
    error = body if isinstance(body, Mapping) else {}
    detail = error.get("message") if isinstance(error.get("message"), str) else None
    code = error.get("code")
    message = f"HTTP {status}" + (f" ({code})" if code else "") + f": {detail or fallback}"
    retry_after = None
    if status == 400:
        kind = _error_kind_from_body(error, default=ErrorKind.BAD_REQUEST)
    elif status in (401, 403):
        kind = ErrorKind.AUTH
    elif status == 404:
        kind = ErrorKind.NOT_FOUND
    elif status == 408:
        kind = ErrorKind.TIMEOUT
    elif status == 429:
        kind = ErrorKind.THROTTLED
        retry_after = _retry_after(headers)
    elif status >= 500:
        kind = ErrorKind.UNAVAILABLE
    else:
        kind = _error_kind_from_body(error, default=ErrorKind.BAD_REQUEST)
    return ProviderError(kind, message, retry_after=retry_after, status_code=status)


def _error_kind_from_body(error: Mapping[str, Any], *, default: ErrorKind) -> ErrorKind:
    code = str(error.get("code") or "")
    inner = error.get("innererror")
    inner_code = str(inner.get("code") or "") if isinstance(inner, Mapping) else ""
    if code in _CONTENT_FILTER_CODES or inner_code in _CONTENT_FILTER_CODES:
        return ErrorKind.CONTENT_FILTERED
    message = error.get("message")
    if (
        code in _CONTEXT_CODES
        or str(error.get("type") or "") in _CONTEXT_CODES
        or (isinstance(message, str) and _CONTEXT_MESSAGE.search(message))
    ):
        return ErrorKind.CONTEXT_LENGTH_EXCEEDED
    if code in ("rate_limit_exceeded", "429"):
        return ErrorKind.THROTTLED
    return default


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait: Azure's `retry-after-ms` is the precise one, `Retry-After` the standard one."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return max(float(milliseconds) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return f"{type(cause).__name__}: {cause}" if cause else str(exc)


def _config_error(option: str, value: object, expected: str) -> ProviderError:
    return ProviderError(ErrorKind.BAD_REQUEST, f"account option {option!r} is {value!r}; expected {expected}")
