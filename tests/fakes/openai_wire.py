"""A strict fake of the Chat Completions and Embeddings REST APIs, in two dialects.

- `style="openai"` (OpenAI, vLLM, Ollama, llama.cpp): `POST /v1/chat/completions` and
  `POST /v1/embeddings`, `Authorization: Bearer <key>`, `model` in the body.
- `style="azure"`: `POST /openai/deployments/{deployment}/chat/completions?api-version=...` and
  `.../embeddings?api-version=...`, with an `api-key` header or an Entra ID
  `Authorization: Bearer <token>`; the deployment in the path picks the model.

It rejects what the real services reject, with their status codes and error bodies: wrong paths
and methods, missing or wrong credentials, a missing api-version, unknown deployments or models,
unrecognized request arguments, malformed messages (unknown roles, missing content, tool results
that answer no tool call, tool calls left unanswered), malformed tools, out-of-range sampling
parameters, prompts beyond the model's context window.

Replies are deterministic: the model quotes the last user message (`You said: "..."`) or the
last tool result (`The tool returned: "..."`). It calls tools when `tool_choice` is `required`
or names a tool, and with `auto` it calls every tool whose name the user message mentions, with
the user's text as the tool's first parameter. In the Azure dialect, a prompt containing
`BLOCKED_PROMPT` is refused by the content filter (400 `content_filter`) and an answer that
would contain `BLOCKED_COMPLETION` stops with `finish_reason: content_filter`.

Streams are Server-Sent Events, one flushed `data: {chunk}` per event and `data: [DONE]` last; the
usage chunk comes only when `stream_options.include_usage` asks for it (unless the fake plays a
server that ignores it). `send_usage=False` plays a server that reports no usage at all.

Failures: `fail_next()` with `error_response()`, `rate_limited()` or `server_error()` answers in
the dialect's error shape and headers; `interrupt_next_stream()` ends a stream early, with an SSE
error event or with neither a finish reason nor `[DONE]`; `stream_chunk_delay` stalls between
chunks, and `response_delay` holds every answer back as a model's latency would. One fake can
serve a whole test module: `reset()` restores its settings between tests.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import math
import re
import struct
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .server import FakeResponse, FakeServer, RecordedRequest

Style = Literal["openai", "azure"]

BLOCKED_PROMPT = "[[blocked-prompt]]"
BLOCKED_COMPLETION = "[[blocked-completion]]"

_ROLES = ("system", "user", "assistant", "tool", "developer")
_CHAT_FIELDS = frozenset(
    {
        "model",
        "messages",
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "metadata",
        "modalities",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "reasoning_effort",
        "response_format",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
    }
)
_AZURE_ONLY_CHAT_FIELDS = frozenset({"data_sources"})
# Azure added these in api-version 2024-09-01-preview; older versions call them unrecognized.
_AZURE_RECENT_CHAT_FIELDS = {"max_completion_tokens": "2024-09-01", "stream_options": "2024-09-01"}
_EMBEDDING_FIELDS = frozenset({"model", "input", "encoding_format", "dimensions", "user"})
_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
_AZURE_PATH = re.compile(r"^/openai/deployments/(?P<deployment>[^/]+)/(?P<operation>chat/completions|embeddings)$")
_OPENAI_PATHS = {"/v1/chat/completions": "chat/completions", "/v1/embeddings": "embeddings"}
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_TOKENS = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_PIECES = re.compile(r"\S+\s*")


@dataclass(frozen=True)
class FakeModel:
    """A model the fake serves: an OpenAI model id, or an Azure deployment of `model`."""

    model: str
    kind: Literal["chat", "embedding"] = "chat"
    context_window: int = 8192
    #: Native embedding size; text-embedding-3 models can shorten it with `dimensions`.
    dimensions: int = 1536
    supports_dimensions: bool = True


DEFAULT_MODELS: Mapping[str, FakeModel] = {
    "gpt-4o-mini": FakeModel("gpt-4o-mini-2024-07-18"),
    "text-embedding-3-small": FakeModel("text-embedding-3-small", kind="embedding", context_window=8191),
    "text-embedding-ada-002": FakeModel(
        "text-embedding-ada-002", kind="embedding", context_window=8191, supports_dimensions=False
    ),
}


class _Reject(Exception):
    def __init__(self, response: FakeResponse) -> None:
        self.response = response


class OpenAIWireFake:
    """Use as a context manager; `url` is what the adapter's `endpoint` should be."""

    def __init__(
        self,
        *,
        style: Style = "openai",
        api_key: str = "sk-test-key",
        bearer_tokens: Iterable[str] = (),
        models: Mapping[str, FakeModel] = DEFAULT_MODELS,
        send_usage: bool = True,
        honor_stream_options: bool = True,
        stream_chunk_delay: float = 0.0,
        response_delay: float = 0.0,
    ) -> None:
        self.style = style
        self._settings: dict[str, Any] = {
            "api_key": api_key,
            "bearer_tokens": frozenset(bearer_tokens),
            "models": dict(models),
            "send_usage": send_usage,
            "honor_stream_options": honor_stream_options,
            "stream_chunk_delay": stream_chunk_delay,
            "response_delay": response_delay,
        }
        self.server = FakeServer(self._handle)
        self.reset()

    def reset(self) -> None:
        """Back to the constructor's settings, with no recorded requests and no queued faults.

        Starting a server costs little but stopping one waits for its poll loop, so a test module
        can share one fake and reset it before each test.
        """
        settings = self._settings
        self.api_key: str = settings["api_key"]
        #: Entra ID access tokens the Azure dialect accepts in `Authorization: Bearer`.
        self.bearer_tokens: set[str] = set(settings["bearer_tokens"])
        self.models: dict[str, FakeModel] = dict(settings["models"])
        #: False plays a server that reports no usage at all.
        self.send_usage: bool = settings["send_usage"]
        #: False plays a server that ignores `stream_options.include_usage`.
        self.honor_stream_options: bool = settings["honor_stream_options"]
        #: Seconds between streamed chunks, to provoke read timeouts mid-stream.
        self.stream_chunk_delay: float = settings["stream_chunk_delay"]
        #: Seconds the model "thinks" before the first byte of any answer: a real model's latency.
        self.response_delay: float = settings["response_delay"]
        self._stream_interruptions: list[tuple[int, dict[str, Any] | None]] = []
        self.server.requests.clear()
        self.server.faults.clear()

    def __enter__(self) -> OpenAIWireFake:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    @property
    def url(self) -> str:
        return self.server.url if self.style == "azure" else f"{self.server.url}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.server.requests

    def last_body(self) -> dict[str, Any]:
        return self.server.requests[-1].json()

    def fail_next(self, response: FakeResponse, times: int = 1) -> None:
        self.server.fail_next(response, times)

    def interrupt_next_stream(self, *, after_chunks: int, error: dict[str, Any] | None = None) -> None:
        """The next stream stops after this many chunks, with an SSE error event or (without one) silently."""
        self._stream_interruptions.append((after_chunks, error))

    # ---- realistic failures, for fail_next ----

    def error_response(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        type: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> FakeResponse:
        return _error(status, message, code=code, type=type, param=param, headers=headers, style=self.style)

    def rate_limited(self, *, retry_after: int | None = None, retry_after_ms: int | None = None) -> FakeResponse:
        headers: dict[str, str] = {}
        if retry_after is not None:
            headers["retry-after"] = str(retry_after)
        if retry_after_ms is not None:
            headers["retry-after-ms"] = str(retry_after_ms)
        if self.style == "azure":
            message = (
                "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have "
                "exceeded token rate limit of your current OpenAI S0 pricing tier. "
                f"Please retry after {retry_after or 1} second."
            )
            return _error(429, message, code="429", headers=headers, style="azure")
        message = "Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3, Used 3, Requested 1."
        return _error(429, message, code="rate_limit_exceeded", type="requests", headers=headers, style="openai")

    def server_error(self, status: int = 500) -> FakeResponse:
        messages = {
            500: "The server had an error while processing your request. Sorry about that!",
            502: "Bad gateway.",
            503: "The server is overloaded or not ready yet.",
            504: "Gateway timeout.",
        }
        return _error(status, messages.get(status, "Server error."), type="server_error", style=self.style)

    # ---- dispatch ----

    def _handle(self, request: RecordedRequest) -> FakeResponse:
        if self.response_delay:
            time.sleep(self.response_delay)  # each request has its own server thread: latency, not a queue
        try:
            model, operation = self._route(request)
            body = _json_body(request)
            if operation == "embeddings":
                return self._embeddings(request, body, model)
            return self._chat(request, body, model)
        except _Reject as rejection:
            return rejection.response

    def _route(self, request: RecordedRequest) -> tuple[FakeModel | None, str]:
        if self.style == "azure":
            match = _AZURE_PATH.match(request.path)
            if match is None:
                raise _Reject(_azure_error(404, "404", "Resource not found"))
            operation = match["operation"]
        else:
            operation = _OPENAI_PATHS.get(request.path, "")
            if not operation:
                raise _Reject(
                    _error(404, f"Invalid URL ({request.method} {request.path})", type="invalid_request_error")
                )
        if request.method != "POST":
            raise _Reject(
                _error(
                    405,
                    f"Invalid method for URL ({request.method} {request.path})",
                    type="invalid_request_error",
                    style=self.style,
                )
            )
        self._authenticate(request)
        if self.style == "azure":
            api_version = (request.query.get("api-version") or [""])[0]
            if not api_version:
                raise _Reject(_azure_error(404, "404", "Resource not found"))
            if not _API_VERSION.match(api_version):
                raise _Reject(_azure_error(400, "BadRequest", "API version not supported"))
            deployment = match["deployment"]
            model = self.models.get(deployment)
            if model is None:
                raise _Reject(
                    _azure_error(
                        404,
                        "DeploymentNotFound",
                        "The API deployment for this resource does not exist. If you created the deployment "
                        "within the last 5 minutes, please wait a moment and try again.",
                    )
                )
            return model, operation
        return None, operation

    def _authenticate(self, request: RecordedRequest) -> None:
        authorization = request.headers.get("authorization", "")
        if self.style == "azure":
            api_key = request.headers.get("api-key")
            if api_key is not None:
                if api_key != self.api_key:
                    raise _Reject(
                        _azure_error(
                            401,
                            "401",
                            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
                            "provide a valid key for an active subscription and use a correct regional API "
                            "endpoint for your resource.",
                        )
                    )
                return
            if authorization.startswith("Bearer ") and authorization[len("Bearer ") :] in self.bearer_tokens:
                return
            if authorization:
                raise _Reject(
                    _azure_error(
                        401,
                        "401",
                        "Unauthorized. Access token is missing, invalid, audience is incorrect "
                        "(https://cognitiveservices.azure.com), or have expired.",
                    )
                )
            raise _Reject(
                _azure_error(
                    401,
                    "401",
                    "Access denied due to missing subscription key. Make sure to include subscription key "
                    "when making requests to an API.",
                )
            )
        if not authorization.startswith("Bearer ") or not authorization[len("Bearer ") :].strip():
            raise _Reject(
                _error(
                    401,
                    "You didn't provide an API key. You need to provide your API key in an Authorization header "
                    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                    type="invalid_request_error",
                )
            )
        key = authorization[len("Bearer ") :]
        if key != self.api_key:
            masked = f"{key[:3]}*****{key[-4:]}" if len(key) > 8 else "*****"
            raise _Reject(
                _error(
                    401,
                    f"Incorrect API key provided: {masked}. You can find your API key at "
                    "https://platform.openai.com/account/api-keys.",
                    type="invalid_request_error",
                    code="invalid_api_key",
                )
            )

    def _model_for(self, body: dict[str, Any], operation: Literal["chat", "embedding"]) -> FakeModel:
        name = body.get("model")
        if not isinstance(name, str) or not name:
            raise _Reject(_invalid("you must provide a model parameter"))
        model = self.models.get(name)
        if model is None:
            raise _Reject(
                _error(
                    404,
                    f"The model `{name}` does not exist or you do not have access to it.",
                    type="invalid_request_error",
                    code="model_not_found",
                )
            )
        if model.kind != operation:
            message = (
                "This is not a chat model and thus not supported in the v1/chat/completions endpoint."
                if operation == "chat"
                else "This model does not support embeddings."
            )
            raise _Reject(_error(404, message, type="invalid_request_error", code="model_not_supported"))
        return model

    def _check_kind(self, model: FakeModel, operation: Literal["chat", "embedding"]) -> None:
        if model.kind != operation:
            what = "chatCompletion" if operation == "chat" else "embeddings"
            raise _Reject(
                _azure_error(
                    400,
                    "OperationNotSupported",
                    f"The {what} operation does not work with the specified model, {model.model}. "
                    "Please choose different model and try again.",
                )
            )

    # ---- chat ----

    def _chat(self, request: RecordedRequest, body: dict[str, Any], model: FakeModel | None) -> FakeResponse:
        self._check_fields(request, body, _CHAT_FIELDS | (_AZURE_ONLY_CHAT_FIELDS if self.style == "azure" else set()))
        if self.style == "azure":
            assert model is not None
            self._check_kind(model, "chat")
        else:
            model = self._model_for(body, "chat")
        messages = _validate_messages(body.get("messages"))
        tools = _validate_tools(body)
        response_format = _validate_response_format(body.get("response_format"), messages)
        _validate_sampling(body)
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise _Reject(_invalid_type("stream", "a boolean", stream))
        if "stream_options" in body and not stream:
            raise _Reject(
                _invalid("The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options")
            )
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        prompt_tokens = 3 + sum(_message_tokens(m) for m in messages) + sum(_count(json.dumps(t)) for t in tools)
        if prompt_tokens + (max_tokens or 0) > model.context_window:
            raise _Reject(
                _invalid(
                    f"This model's maximum context length is {model.context_window} tokens. However, your messages "
                    f"resulted in {prompt_tokens} tokens. Please reduce the length of the messages.",
                    "messages",
                    code="context_length_exceeded",
                )
            )
        if self.style == "azure" and any(BLOCKED_PROMPT in _text_of(m) for m in messages):
            raise _Reject(_content_filter_error())

        reply = _reply(
            messages, tools, body.get("tool_choice"), body.get("stop"), max_tokens, azure=self.style == "azure"
        )
        if response_format is not None and not reply.tool_calls:
            reply = dataclasses.replace(reply, content=response_format, finish_reason="stop")
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": prompt_tokens + reply.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        }
        completion_id = "chatcmpl-" + hashlib.sha256(request.body).hexdigest()[:24]
        headers = {"x-request-id": "req_" + completion_id[-16:]}
        if stream:
            include_usage = (
                self.send_usage
                and self.honor_stream_options
                and bool((body.get("stream_options") or {}).get("include_usage"))
            )
            interruption = self._stream_interruptions.pop(0) if self._stream_interruptions else None
            chunks = self._chunks(completion_id, model, reply, usage if include_usage else None, interruption)
            return FakeResponse(
                headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache", **headers},
                chunks=chunks,
            )
        message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
        if reply.tool_calls:
            message["tool_calls"] = reply.tool_calls
        choice: dict[str, Any] = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": reply.finish_reason,
        }
        payload: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model.model,
            "system_fingerprint": "fp_fake",
            "choices": [choice],
        }
        if self.send_usage:
            payload["usage"] = usage
        if self.style == "azure":
            payload["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": _filter_results()}]
            choice["content_filter_results"] = _filter_results(filtered=reply.finish_reason == "content_filter")
        return FakeResponse.json(payload, headers=headers)

    def _chunks(
        self,
        completion_id: str,
        model: FakeModel,
        reply: _Reply,
        usage: dict[str, Any] | None,
        interruption: tuple[int, dict[str, Any] | None] | None,
    ) -> Iterator[bytes]:
        envelope = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model.model,
            "system_fingerprint": "fp_fake",
        }
        # With include_usage, OpenAI puts `"usage": null` on every chunk before the last.
        extra = {"usage": None} if usage is not None else {}

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            return {**envelope, "choices": [choice], **extra}

        events: list[dict[str, Any]] = []
        if self.style == "azure":
            # Azure opens every stream with a choice-less chunk carrying the prompt's filter results.
            events.append(
                {
                    "id": "",
                    "object": "",
                    "created": 0,
                    "model": "",
                    "choices": [],
                    "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _filter_results()}],
                }
            )
        events.append(chunk({"role": "assistant", "content": "", "refusal": None}))
        for piece in _PIECES.findall(reply.content or ""):
            events.append(chunk({"content": piece}))
        for index, call in enumerate(reply.tool_calls):
            name = call["function"]["name"]
            head = {"index": index, "id": call["id"], "type": "function", "function": {"name": name, "arguments": ""}}
            events.append(chunk({"tool_calls": [head]}))
            arguments = call["function"]["arguments"]
            step = max(1, math.ceil(len(arguments) / 3))
            for start in range(0, len(arguments), step):
                fragment = {"index": index, "function": {"arguments": arguments[start : start + step]}}
                events.append(chunk({"tool_calls": [fragment]}))
        events.append(chunk({}, reply.finish_reason))
        if usage is not None:
            events.append({**envelope, "choices": [], "usage": usage})

        for position, event in enumerate(events):
            if interruption is not None and position == interruption[0]:
                if interruption[1] is not None:
                    yield _sse(json.dumps({"error": interruption[1]}))
                return
            if self.stream_chunk_delay and position:
                time.sleep(self.stream_chunk_delay)
            yield _sse(json.dumps(event))
        yield _sse("[DONE]")

    # ---- embeddings ----

    def _embeddings(self, request: RecordedRequest, body: dict[str, Any], model: FakeModel | None) -> FakeResponse:
        self._check_fields(request, body, _EMBEDDING_FIELDS | ({"input_type"} if self.style == "azure" else set()))
        if self.style == "azure":
            assert model is not None
            self._check_kind(model, "embedding")
        else:
            model = self._model_for(body, "embedding")
        raw = body.get("input")
        if raw is None:
            raise _Reject(_missing("input"))
        inputs = [raw] if isinstance(raw, str) else raw
        if (
            not isinstance(inputs, list)
            or not 1 <= len(inputs) <= 2048
            or not all(isinstance(text, str) and text for text in inputs)
        ):
            raise _Reject(_invalid("'$.input' is invalid. Please check the API reference.", "input"))
        encoding = body.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            raise _Reject(
                _invalid(
                    f"Invalid value: '{encoding}'. Supported values are: 'float' and 'base64'.",
                    "encoding_format",
                    code="invalid_value",
                )
            )
        dimensions = body.get("dimensions")
        if dimensions is not None:
            if not model.supports_dimensions:
                raise _Reject(_invalid("This model does not support specifying dimensions.", "dimensions"))
            if type(dimensions) is not int or not 1 <= dimensions <= model.dimensions:
                raise _Reject(
                    _invalid(
                        f"Invalid 'dimensions': expected an integer between 1 and {model.dimensions}.", "dimensions"
                    )
                )
        counts = [_count(text) for text in inputs]
        for text_tokens in counts:
            if text_tokens > model.context_window:
                raise _Reject(
                    _invalid(
                        f"This model's maximum context length is {model.context_window} tokens, however you "
                        f"requested {text_tokens} tokens. Please reduce your prompt.",
                        "input",
                    )
                )
        data = []
        for index, text in enumerate(inputs):
            vector = _embedding(text, model.dimensions, dimensions or model.dimensions)
            encoded: Any = (
                base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode() if encoding == "base64" else vector
            )
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        payload: dict[str, Any] = {"object": "list", "data": data, "model": model.model}
        if self.send_usage:
            payload["usage"] = {"prompt_tokens": sum(counts), "total_tokens": sum(counts)}
        return FakeResponse.json(payload, headers={"x-request-id": "req_embeddings"})

    def _check_fields(self, request: RecordedRequest, body: dict[str, Any], known: frozenset[str] | set[str]) -> None:
        for field in body:
            if field not in known:
                raise _Reject(_invalid(f"Unrecognized request argument supplied: {field}"))
        if self.style == "azure":
            api_version = request.query["api-version"][0]
            for field, since in _AZURE_RECENT_CHAT_FIELDS.items():
                if field in body and api_version[:10] < since:
                    raise _Reject(_invalid(f"Unrecognized request argument supplied: {field}"))


# ---- request validation ----


def _json_body(request: RecordedRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise _Reject(
            _invalid(
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
                "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"
            )
        )
    return body


def _validate_response_format(response_format: Any, messages: list[dict[str, Any]]) -> str | None:
    """OpenAI's checks of `response_format`; the JSON text the fake then answers (None for text):
    `{"fake": true}` for json_object, and for json_schema an object with the schema's required
    properties set to null (enough to show the format arrived; it is not meant to conform)."""
    if response_format is None:
        return None
    if not isinstance(response_format, dict) or response_format.get("type") not in (
        "text",
        "json_object",
        "json_schema",
    ):
        raise _Reject(_invalid("Invalid value for 'response_format.type'.", "response_format.type"))
    if response_format["type"] == "text":
        return None
    if response_format["type"] == "json_object":
        if not any("json" in _text_of(m).lower() for m in messages):
            raise _Reject(
                _invalid(
                    "'messages' must contain the word 'json' in some form, to use 'response_format' of type "
                    "'json_object'.",
                    "messages",
                )
            )
        return json.dumps({"fake": True})
    spec = response_format.get("json_schema")
    if not isinstance(spec, dict) or not _TOOL_NAME.match(str(spec.get("name", ""))):
        raise _Reject(_invalid("Invalid 'response_format.json_schema.name'.", "response_format.json_schema.name"))
    schema = spec.get("schema")
    if not isinstance(schema, dict) or not isinstance(spec.get("strict", False), bool):
        raise _Reject(_invalid("Invalid 'response_format.json_schema'.", "response_format.json_schema"))
    if spec.get("strict") and schema.get("additionalProperties") is not False:
        raise _Reject(
            _invalid(
                "Invalid schema for response_format: In context=(), 'additionalProperties' is required to be "
                "supplied and to be false.",
                "response_format",
            )
        )
    return json.dumps(dict.fromkeys(schema.get("required") or ()))


def _validate_messages(messages: Any) -> list[dict[str, Any]]:
    if messages is None:
        raise _Reject(_missing("messages"))
    if not isinstance(messages, list):
        raise _Reject(_invalid_type("messages", "an array", messages))
    if not messages:
        raise _Reject(_invalid("[] is too short - 'messages'", "messages", code="empty_array"))
    pending: dict[str, int] = {}  # tool_call_id -> index of the assistant message that made the call
    answered: set[str] = set()
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise _Reject(_invalid_type(where, "an object", message))
        role = message.get("role")
        if role is None:
            raise _Reject(_missing(f"{where}.role"))
        if role not in _ROLES:
            raise _Reject(
                _invalid(
                    f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', 'function', "
                    "'tool', and 'developer'.",
                    f"{where}.role",
                    code="invalid_value",
                )
            )
        if pending and role != "tool":
            unanswered = ", ".join(sorted(pending))
            raise _Reject(
                _invalid(
                    "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                    f"'tool_call_id'. The following tool_call_ids did not have response messages: {unanswered}",
                    f"messages.[{min(pending.values())}].role",
                )
            )
        if "name" in message and not isinstance(message["name"], str):
            raise _Reject(_invalid_type(f"{where}.name", "a string", message["name"]))
        content = message.get("content")
        if role == "assistant":
            tool_calls = message.get("tool_calls")
            if tool_calls is not None:
                for call_id in _validate_tool_calls(tool_calls, where):
                    pending[call_id] = index
            if content is None and not tool_calls:
                raise _Reject(_missing(f"{where}.content"))
            if content is not None:
                _validate_content(content, where, role)
            continue
        if "content" not in message:
            raise _Reject(_missing(f"{where}.content"))
        _validate_content(content, where, role)
        if role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str):
                raise _Reject(_missing(f"{where}.tool_call_id"))
            if call_id not in pending or call_id in answered:
                raise _Reject(
                    _invalid(
                        "Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
                        "with 'tool_calls'.",
                        f"{where}.role",
                    )
                )
            del pending[call_id]
            answered.add(call_id)
    if pending:
        unanswered = ", ".join(sorted(pending))
        raise _Reject(
            _invalid(
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                f"'tool_call_id'. The following tool_call_ids did not have response messages: {unanswered}",
                f"messages.[{min(pending.values())}].role",
            )
        )
    return messages


def _validate_content(content: Any, where: str, role: str) -> None:
    if isinstance(content, str):
        return
    if isinstance(content, list) and content:
        allowed = ("text", "image_url") if role == "user" else ("text",)
        for part_index, part in enumerate(content):
            part_where = f"{where}.content[{part_index}]"
            if not isinstance(part, dict) or part.get("type") not in allowed:
                raise _Reject(_invalid(f"Invalid value for '{part_where}.type'.", f"{part_where}.type"))
            if part["type"] == "text" and not isinstance(part.get("text"), str):
                raise _Reject(_missing(f"{part_where}.text"))
        return
    raise _Reject(_invalid_type(f"{where}.content", "a string or an array of content parts", content))


def _validate_tool_calls(tool_calls: Any, where: str) -> list[str]:
    if not isinstance(tool_calls, list) or not tool_calls:
        raise _Reject(_invalid(f"Invalid '{where}.tool_calls': expected a non-empty array.", f"{where}.tool_calls"))
    ids = []
    for call_index, call in enumerate(tool_calls):
        call_where = f"{where}.tool_calls[{call_index}]"
        if not isinstance(call, dict):
            raise _Reject(_invalid_type(call_where, "an object", call))
        if not isinstance(call.get("id"), str) or not call["id"]:
            raise _Reject(_missing(f"{call_where}.id"))
        if call.get("type") != "function":
            raise _Reject(_missing(f"{call_where}.type"))
        function = call.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise _Reject(_missing(f"{call_where}.function.name"))
        if not isinstance(function.get("arguments"), str):
            raise _Reject(_missing(f"{call_where}.function.arguments"))
        ids.append(call["id"])
    return ids


def _validate_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    tools = body.get("tools")
    tool_choice = body.get("tool_choice")
    if tools is None:
        if tool_choice is not None:
            raise _Reject(
                _invalid(
                    "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
                    "tool_choice",
                )
            )
        return []
    if not isinstance(tools, list) or not tools:
        raise _Reject(_invalid("[] is too short - 'tools'", "tools", code="empty_array"))
    names = []
    for index, tool in enumerate(tools):
        where = f"tools[{index}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else tool
            raise _Reject(
                _invalid(
                    f"Invalid value: '{kind}'. Supported values are: 'function' and 'custom'.",
                    f"{where}.type",
                    code="invalid_value",
                )
            )
        function = tool.get("function")
        if not isinstance(function, dict) or "name" not in function:
            raise _Reject(_missing(f"{where}.function.name"))
        name = function["name"]
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise _Reject(
                _invalid(
                    f"Invalid '{where}.function.name': string does not match pattern. Expected a string that "
                    "matches the pattern '^[a-zA-Z0-9_-]+$'.",
                    f"{where}.function.name",
                    code="invalid_value",
                )
            )
        parameters = function.get("parameters")
        if parameters is not None and (not isinstance(parameters, dict) or parameters.get("type") != "object"):
            raise _Reject(
                _invalid(
                    f"Invalid schema for function '{name}': schema must be a JSON Schema of 'type: \"object\"'.",
                    f"{where}.function.parameters",
                    code="invalid_function_parameters",
                )
            )
        names.append(name)
    if tool_choice is not None and tool_choice not in ("none", "auto", "required"):
        chosen = tool_choice.get("function", {}).get("name") if isinstance(tool_choice, dict) else None
        if not isinstance(tool_choice, dict) or tool_choice.get("type") != "function" or chosen not in names:
            raise _Reject(
                _invalid(
                    f"Invalid value for 'tool_choice': {json.dumps(tool_choice)}. Expected 'none', 'auto', "
                    "'required', or a function named in 'tools'.",
                    "tool_choice",
                )
            )
    return tools


def _validate_sampling(body: dict[str, Any]) -> None:
    for name, low, high in (("temperature", 0, 2), ("top_p", 0, 1)):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _Reject(_invalid_type(name, "a number", value))
        if value > high:
            raise _Reject(
                _invalid(
                    f"Invalid '{name}': decimal above maximum value. Expected a value <= {high}, but got {value} "
                    "instead.",
                    name,
                    code="decimal_above_max_value",
                )
            )
        if value < low:
            raise _Reject(
                _invalid(
                    f"Invalid '{name}': decimal below minimum value. Expected a value >= {low}, but got {value} "
                    "instead.",
                    name,
                    code="decimal_below_min_value",
                )
            )
    if "max_tokens" in body and "max_completion_tokens" in body:
        raise _Reject(
            _invalid(
                "max_tokens and max_completion_tokens cannot both be set; use max_completion_tokens.", "max_tokens"
            )
        )
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise _Reject(_invalid_type(name, "an integer", value))
        if value < 1:
            raise _Reject(
                _invalid(
                    f"Invalid '{name}': integer below minimum value. Expected a value >= 1, but got {value} instead.",
                    name,
                    code="integer_below_min_value",
                )
            )
    stop = body.get("stop")
    if stop is not None and not (
        isinstance(stop, str) or (isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) for s in stop))
    ):
        raise _Reject(_invalid("Invalid 'stop': expected a string or an array of at most 4 strings.", "stop"))
    if "user" in body and not isinstance(body["user"], str):
        raise _Reject(_invalid_type("user", "a string", body["user"]))


# ---- the model ----


@dataclass(frozen=True)
class _Reply:
    content: str | None
    tool_calls: list[dict[str, Any]]
    finish_reason: str
    completion_tokens: int


def _reply(
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    tool_choice: Any,
    stop: Any,
    max_tokens: int | None,
    *,
    azure: bool,
) -> _Reply:
    last = next((m for m in reversed(messages) if m["role"] in ("user", "tool")), None)
    last_text = _text_of(last) if last is not None else ""
    if last is not None and last["role"] == "user" and tools and tool_choice != "none":
        calls = _tool_calls(tools, tool_choice, last_text)
        if calls:
            tokens = sum(_count(c["function"]["name"] + c["function"]["arguments"]) for c in calls)
            return _Reply(None, calls, "tool_calls", tokens)
    if last is not None and last["role"] == "tool":
        text = f'The tool returned: "{last_text}"'
    else:
        text = f'You said: "{last_text}"'
    finish_reason = "stop"
    if azure and BLOCKED_COMPLETION in text:
        # Azure cuts the answer where its output filter fires.
        text = text[: text.index(BLOCKED_COMPLETION)]
        finish_reason = "content_filter"
    for sequence in [stop] if isinstance(stop, str) else stop or []:
        if sequence and sequence in text:
            text = text[: text.index(sequence)]
    if max_tokens is not None and _count(text) > max_tokens:
        kept = ""
        for piece in _PIECES.findall(text):
            if _count(kept + piece) > max_tokens:
                break
            kept += piece
        text, finish_reason = kept, "length"
    return _Reply(text, [], finish_reason, _count(text))


def _tool_calls(tools: list[dict[str, Any]], tool_choice: Any, user_text: str) -> list[dict[str, Any]]:
    if isinstance(tool_choice, dict):
        chosen = [t for t in tools if t["function"]["name"] == tool_choice["function"]["name"]]
    elif tool_choice == "required":
        mentioned = [t for t in tools if t["function"]["name"] in user_text]
        chosen = mentioned or tools[:1]
    else:
        chosen = [t for t in tools if t["function"]["name"] in user_text]
    calls = []
    for index, tool in enumerate(chosen):
        function = tool["function"]
        properties = list(((function.get("parameters") or {}).get("properties") or {}).keys())
        arguments = json.dumps({(properties[0] if properties else "input"): user_text})
        digest = hashlib.sha256(f"{index}:{function['name']}:{arguments}".encode()).hexdigest()[:24]
        calls.append(
            {"id": f"call_{digest}", "type": "function", "function": {"name": function["name"], "arguments": arguments}}
        )
    return calls


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def _message_tokens(message: dict[str, Any]) -> int:
    # OpenAI's documented accounting: about 3 tokens of framing per message, plus its content.
    calls = message.get("tool_calls") or []
    return 3 + _count(_text_of(message)) + sum(_count(json.dumps(call)) for call in calls)


def _count(text: str) -> int:
    return len(_TOKENS.findall(text))


def _embedding(text: str, native: int, dimensions: int) -> list[float]:
    """A deterministic unit vector; shortened vectors are the native one truncated and renormalized."""
    vector = []
    for block in range(math.ceil(native / 8)):
        digest = hashlib.sha256(f"{block}:{text}".encode()).digest()
        vector.extend((byte - 127.5) / 127.5 for byte in digest[:8])
    vector = vector[:dimensions]
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [round(v / norm, 6) for v in vector]


# ---- responses ----


def _sse(data: str) -> bytes:
    return f"data: {data}\n\n".encode()


def _error(
    status: int,
    message: str,
    *,
    code: str | None = None,
    type: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
    style: Style = "openai",
) -> FakeResponse:
    error: dict[str, Any] = {"message": message, "type": type, "param": param, "code": code}
    if style == "azure":
        error["status"] = status
    return FakeResponse.json({"error": error}, status=status, headers=headers)


def _azure_error(status: int, code: str, message: str) -> FakeResponse:
    return FakeResponse.json(
        {"error": {"code": code, "message": message, "type": None, "param": None}},
        status=status,
        headers={"apim-request-id": "00000000-0000-0000-0000-000000000000"},
    )


def _invalid(message: str, param: str | None = None, *, code: str | None = None) -> FakeResponse:
    return _error(400, message, type="invalid_request_error", param=param, code=code)


def _invalid_type(param: str, expected: str, value: Any) -> FakeResponse:
    return _invalid(
        f"Invalid type for '{param}': expected {expected}, but got {type(value).__name__} instead.",
        param,
        code="invalid_type",
    )


def _missing(param: str) -> FakeResponse:
    return _invalid(f"Missing required parameter: '{param}'.", param, code="missing_required_parameter")


def _content_filter_error() -> FakeResponse:
    return FakeResponse.json(
        {
            "error": {
                "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management "
                "policy. Please modify your prompt and retry. To learn more about our content filtering policies "
                "please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766",
                "type": None,
                "param": "prompt",
                "code": "content_filter",
                "status": 400,
                "innererror": {
                    "code": "ResponsibleAIPolicyViolation",
                    "content_filter_result": _filter_results(filtered=True),
                },
            }
        },
        status=400,
    )


def _filter_results(*, filtered: bool = False) -> dict[str, Any]:
    safe = {"filtered": False, "severity": "safe"}
    return {
        "hate": safe,
        "self_harm": safe,
        "sexual": safe,
        "violence": {"filtered": True, "severity": "high"} if filtered else safe,
    }
