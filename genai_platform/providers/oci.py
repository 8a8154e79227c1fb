"""Oracle OCI Generative AI, through the `oci` SDK's GenerativeAiInferenceClient.

OCI serves chat models in two request shapes behind one `chat` action: GENERIC (Meta Llama, xAI
Grok, OpenAI gpt-oss, Google Gemini: OpenAI-like role messages and function tools) and COHERE
(Cohere Command: one `message`, a `chat_history`, a `preamble_override` and Cohere tools). The
format follows `options["api_format"]` when set, otherwise the model id: `cohere.*` is COHERE,
everything else GENERIC. A model id that is a dedicated endpoint OCID (`ocid1.generativeaiendpoint...`)
is served in DEDICATED mode, an id or name of a base model ON_DEMAND.

Authentication: `credentials` with `user`, `tenancy`, `fingerprint` and `key_content` (optionally
`pass_phrase`) sign requests with that API key; empty credentials use the worker's ambient OCI
identity, chosen by `options["auth"]`: `instance_principal` (default), `resource_principal` or
`oke_workload_identity`.

This module is named like the SDK it wraps; absolute imports (Python 3's only kind) make
`import oci` below resolve to the top-level SDK package, never to this file.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import oci
from oci.generative_ai_inference import GenerativeAiInferenceClient
from oci.generative_ai_inference import models as genai

from genai_platform.providers.tokens import estimate_tokens
from genai_platform.providers.types import (
    AccountConfig,
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
    ToolDefinition,
    Usage,
)

GENERIC = "GENERIC"
COHERE = "COHERE"
DEDICATED_ENDPOINT_PREFIX = "ocid1.generativeaiendpoint."
ENDPOINT_TEMPLATE = "https://inference.generativeai.{region}.oci.oraclecloud.com"
#: OCI's embedText accepts at most this many inputs per call; longer requests are split.
MAX_EMBED_BATCH = 96
MAX_CONNECT_TIMEOUT_SECONDS = 10.0
AMBIENT_AUTH_MODES = ("instance_principal", "resource_principal", "oke_workload_identity")
API_KEY_FIELDS = ("user", "tenancy", "fingerprint", "key_content")

_CONTEXT_TOO_LONG = re.compile(
    r"context (length|window)|too long|too many (input )?tokens|reduce the length|maximum (context|input|prompt)"
    r"|exceeds? the (maximum|max|limit)",
    re.IGNORECASE,
)
_CONTENT_FILTERED = re.compile(
    r"content (moderation|filter|policy)|inappropriate|unsafe content|toxic|blocked by (the )?(safety|guardrail)",
    re.IGNORECASE,
)
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


class OCIAdapter:
    """One OCI account (tenancy, region and compartment); the SDK client is built once and reused."""

    def __init__(self, config: AccountConfig) -> None:
        options = dict(config.options)
        compartment_id = options.get("compartment_id")
        if not compartment_id:
            raise ProviderError(
                ErrorKind.BAD_REQUEST, "the OCI account needs options.compartment_id (a compartment OCID)"
            )
        self._compartment_id = str(compartment_id)
        api_format = options.get("api_format")
        if api_format is not None and str(api_format).upper() not in (GENERIC, COHERE):
            raise ProviderError(
                ErrorKind.BAD_REQUEST, f"options.api_format must be GENERIC or COHERE, not {api_format!r}"
            )
        self._api_format = str(api_format).upper() if api_format is not None else None
        self._truncate = str(options.get("embed_truncate", "NONE")).upper()

        sdk_config, signer = _identity(config, options)
        region = config.region or getattr(signer, "region", None) or ""
        if not config.endpoint and not region:
            raise ProviderError(ErrorKind.BAD_REQUEST, "the OCI account needs a region or an endpoint")
        timeout = float(config.timeout_seconds)
        client_options: dict[str, Any] = {
            "service_endpoint": config.endpoint or ENDPOINT_TEMPLATE.format(region=region),
            # The platform's router retries, falls back and breaks circuits; the SDK must not do it too.
            "retry_strategy": oci.retry.NoneRetryStrategy(),
            "circuit_breaker_strategy": oci.circuit_breaker.NoCircuitBreakerStrategy(),
            "timeout": (min(MAX_CONNECT_TIMEOUT_SECONDS, timeout), timeout),
        }
        if signer is not None:
            client_options["signer"] = signer
        try:
            self._client = GenerativeAiInferenceClient(sdk_config, **client_options)
        except (oci.exceptions.ClientError, ValueError, TypeError) as exc:
            raise ProviderError(ErrorKind.AUTH, f"cannot use the OCI API signing key: {exc}") from exc

    # ---- public API ----

    def chat(self, request: ChatRequest) -> ChatResponse:
        api_format, details = self._chat_details(request, stream=False)
        response = _call(self._client.chat, details)
        try:
            chat_response = response.data.chat_response
            if api_format == COHERE:
                return _cohere_response(chat_response, request, response.request_id)
            return _generic_response(chat_response, request, response.request_id)
        except ProviderError:
            raise
        except Exception as exc:
            raise ProviderError(ErrorKind.UNAVAILABLE, f"unexpected OCI chat response: {exc}") from exc

    def chat_stream(self, request: ChatRequest) -> Iterator[StreamEvent]:
        api_format, details = self._chat_details(request, stream=True)
        response = _call(self._client.chat, details)
        parser: _GenericStream | _CohereStream = _CohereStream() if api_format == COHERE else _GenericStream()
        source = response.data
        try:
            if hasattr(source, "events"):
                for event in source.events():
                    yield from parser.feed(_event_payload(event.data))
            elif hasattr(source, "chat_response"):
                # The service may answer a stream request with one JSON document; replay it as events.
                yield from _replay(source.chat_response, api_format, request, response.request_id)
                return
            else:
                raise ProviderError(ErrorKind.UNAVAILABLE, "OCI answered a streamed chat with neither SSE nor JSON")
            yield parser.end(request)
        except ProviderError:
            raise
        except Exception as exc:
            raise _provider_error(exc) from exc
        finally:
            close = getattr(source, "close", None)
            if callable(close):
                # Releasing the connection must never hide the real outcome of the stream.
                with contextlib.suppress(Exception):
                    close()

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        vectors: list[tuple[float, ...]] = []
        input_tokens = 0
        estimated = False
        for start in range(0, len(request.inputs), MAX_EMBED_BATCH):
            batch = list(request.inputs[start : start + MAX_EMBED_BATCH])
            try:
                details = genai.EmbedTextDetails(
                    inputs=batch,
                    serving_mode=_serving_mode(request.model),
                    compartment_id=self._compartment_id,
                    input_type="SEARCH_QUERY" if request.input_type == "search_query" else "SEARCH_DOCUMENT",
                    truncate=self._truncate,
                    output_dimensions=request.dimensions,
                )
            except (ValueError, TypeError) as exc:
                raise ProviderError(ErrorKind.BAD_REQUEST, f"invalid OCI embedding request: {exc}") from exc
            result = _call(self._client.embed_text, details).data
            try:
                vectors.extend(tuple(float(x) for x in vector) for vector in result.embeddings)
                reported = getattr(result.usage, "prompt_tokens", None) if result.usage is not None else None
            except Exception as exc:
                raise ProviderError(ErrorKind.UNAVAILABLE, f"unexpected OCI embedding response: {exc}") from exc
            if reported is None:
                reported = sum(estimate_tokens(text) for text in batch)
                estimated = True
            input_tokens += reported
        return EmbeddingResponse(tuple(vectors), Usage(input_tokens, 0, estimated=estimated))

    # ---- request building ----

    def _chat_details(self, request: ChatRequest, *, stream: bool) -> tuple[str, Any]:
        api_format = self._api_format or (COHERE if request.model.lower().startswith("cohere.") else GENERIC)
        try:
            chat_request = _cohere_request(request) if api_format == COHERE else _generic_request(request)
            if stream:
                chat_request.is_stream = True
                chat_request.stream_options = genai.StreamOptions(is_include_usage=True)
            details = genai.ChatDetails(
                compartment_id=self._compartment_id,
                serving_mode=_serving_mode(request.model),
                chat_request=chat_request,
            )
        except (ValueError, TypeError) as exc:
            raise ProviderError(ErrorKind.BAD_REQUEST, f"invalid OCI chat request: {exc}") from exc
        return api_format, details


# ---- identity ----


def _identity(config: AccountConfig, options: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    """The SDK config dict and, for ambient identities, the signer that replaces the API key."""
    credentials = dict(config.credentials)
    if credentials:
        missing = [name for name in API_KEY_FIELDS if not credentials.get(name)]
        if missing:
            raise ProviderError(ErrorKind.AUTH, f"OCI API key credentials lack {', '.join(missing)}")
        sdk_config: dict[str, Any] = {name: credentials[name] for name in API_KEY_FIELDS}
        # A PEM kept in an environment variable often arrives with escaped newlines.
        sdk_config["key_content"] = sdk_config["key_content"].replace("\\n", "\n")
        if credentials.get("pass_phrase"):
            sdk_config["pass_phrase"] = credentials["pass_phrase"]
        sdk_config["region"] = config.region
        try:
            oci.config.validate_config(sdk_config)
        except oci.exceptions.InvalidConfig as exc:
            raise ProviderError(ErrorKind.AUTH, f"invalid OCI API key configuration: {exc}") from exc
        return sdk_config, None
    mode = str(options.get("auth", "instance_principal"))
    try:
        if mode == "instance_principal":
            signer = oci.auth.signers.InstancePrincipalsSecurityTokenSigner()
        elif mode == "resource_principal":
            signer = oci.auth.signers.get_resource_principals_signer()
        elif mode == "oke_workload_identity":
            signer = oci.auth.signers.get_oke_workload_identity_resource_principal_signer()
        else:
            raise ProviderError(
                ErrorKind.BAD_REQUEST, f"options.auth must be one of {', '.join(AMBIENT_AUTH_MODES)}, not {mode!r}"
            )
    except ProviderError:
        raise
    except Exception as exc:
        raise ProviderError(ErrorKind.AUTH, f"cannot obtain the worker's OCI {mode} identity: {exc}") from exc
    return ({"region": config.region} if config.region else {}), signer


def _serving_mode(model: str) -> Any:
    if model.startswith(DEDICATED_ENDPOINT_PREFIX):
        return genai.DedicatedServingMode(endpoint_id=model)
    return genai.OnDemandServingMode(model_id=model)


# ---- GENERIC format ----


def _generic_request(request: ChatRequest) -> Any:
    messages: list[Any] = []
    system = _system_prompt(request.messages)
    if system:
        messages.append(genai.SystemMessage(content=[_text(system)]))
    for message in request.messages:
        if message.role == "user":
            messages.append(genai.UserMessage(content=[_text(message.content)]))
        elif message.role == "assistant":
            calls = [
                genai.FunctionCall(id=call.id, name=call.name, arguments=call.arguments or "{}")
                for call in message.tool_calls
            ]
            messages.append(
                genai.AssistantMessage(
                    # A tool-call turn has no text; OCI wants the content left out rather than empty.
                    content=[_text(message.content)] if message.content or not calls else None,
                    tool_calls=calls or None,
                )
            )
        elif message.role == "tool":
            messages.append(genai.ToolMessage(content=[_text(message.content)], tool_call_id=message.tool_call_id))
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


def _generic_response(chat_response: Any, request: ChatRequest, request_id: str | None) -> ChatResponse:
    choice = (chat_response.choices or [None])[0]
    message = getattr(choice, "message", None)
    text = "".join(
        part.text
        for part in getattr(message, "content", None) or []
        if getattr(part, "type", "TEXT") == "TEXT" and part.text
    )
    tool_calls = tuple(
        ToolCall(id=call.id or _new_call_id(), name=call.name or "", arguments=call.arguments or "{}")
        for call in getattr(message, "tool_calls", None) or []
    )
    finish = _generic_finish(getattr(choice, "finish_reason", None), has_tool_calls=bool(tool_calls))
    usage = _usage(chat_response.usage, request, text, tool_calls)
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


class _GenericStream:
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
        self.calls.append(_PartialCall(call_id or _new_call_id(), name or "", arguments))
        yield ToolCallDelta(index=index, id=self.calls[index].id, name=name or "", arguments=arguments)

    def end(self, request: ChatRequest) -> StreamEnd:
        calls = tuple(ToolCall(c.id, c.name, c.arguments) for c in self.calls)
        finish = _generic_finish(self.finish_reason, has_tool_calls=bool(calls))
        return StreamEnd(finish, _usage(self.usage, request, "".join(self.text), calls))


# ---- COHERE format ----


def _cohere_request(request: ChatRequest) -> Any:
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
        preamble_override=_system_prompt(request.messages) or None,
        tool_results=tool_results,
        max_tokens=request.max_tokens,
        temperature=request.temperature,
        top_p=request.top_p,
        stop_sequences=list(request.stop) or None,
    )
    tools = _cohere_tools(request.tools, request.tool_choice)
    if tools:
        chat_request.tools = tools
    return chat_request


def _cohere_turn(message: Message, calls_by_id: Mapping[str, ToolCall]) -> Any:
    if message.role == "user":
        return genai.CohereUserMessage(message=message.content)
    if message.role == "assistant":
        calls = [genai.CohereToolCall(name=call.name, parameters=_arguments(call)) for call in message.tool_calls]
        # Cohere rejects a CHATBOT turn without text, which a pure tool-call turn is.
        return genai.CohereChatBotMessage(message=message.content or " ", tool_calls=calls or None)
    return genai.CohereToolMessage(tool_results=[_cohere_tool_result(message, calls_by_id)])


def _cohere_tool_result(message: Message, calls_by_id: Mapping[str, ToolCall]) -> Any:
    call = calls_by_id.get(message.tool_call_id or "")
    name = call.name if call is not None else message.name or ""
    parameters = _arguments(call) if call is not None else {}
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


def _cohere_response(chat_response: Any, request: ChatRequest, request_id: str | None) -> ChatResponse:
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
        usage=_usage(chat_response.usage, request, text, tool_calls),
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


class _CohereStream:
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
        return StreamEnd(finish, _usage(self.usage, request, "".join(self.text), calls))


# ---- shared helpers ----


def _replay(chat_response: Any, api_format: str, request: ChatRequest, request_id: str | None) -> Iterator[StreamEvent]:
    whole = (
        _cohere_response(chat_response, request, request_id)
        if api_format == COHERE
        else _generic_response(chat_response, request, request_id)
    )
    if whole.content:
        yield TextDelta(whole.content)
    for index, call in enumerate(whole.tool_calls):
        yield ToolCallDelta(index=index, id=call.id, name=call.name, arguments=call.arguments)
    yield StreamEnd(whole.finish_reason, whole.usage)


def _event_payload(data: str) -> Mapping[str, Any]:
    try:
        payload = json.loads(data)
    except ValueError as exc:
        raise ProviderError(ErrorKind.UNAVAILABLE, f"OCI sent a malformed stream event: {data[:200]!r}") from exc
    if not isinstance(payload, dict):
        raise ProviderError(ErrorKind.UNAVAILABLE, f"OCI sent a malformed stream event: {data[:200]!r}")
    return payload


def _system_prompt(messages: Sequence[Message]) -> str:
    return "\n\n".join(m.content for m in messages if m.role == "system" and m.content)


def _text(text: str) -> Any:
    return genai.TextContent(text=text)


def _arguments(call: ToolCall) -> dict[str, Any]:
    try:
        value = json.loads(call.arguments or "{}")
    except ValueError as exc:
        raise ProviderError(ErrorKind.BAD_REQUEST, f"tool call {call.id} has arguments that are not JSON") from exc
    return value if isinstance(value, dict) else {"value": value}


def _new_call_id() -> str:
    # Gemini on OCI returns tool calls without ids; the conversation still needs one to answer them.
    return f"call_{uuid.uuid4().hex[:24]}"


def _usage(reported: Any, request: ChatRequest, text: str, tool_calls: Sequence[ToolCall]) -> Usage:
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


def _call(operation: Callable[[Any], Any], details: Any) -> Any:
    try:
        return operation(details)
    except Exception as exc:
        raise _provider_error(exc) from exc


def _provider_error(exc: BaseException) -> ProviderError:
    """Maps every failure the SDK (or its vendored requests/urllib3 stack) can raise onto ErrorKind."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, oci.exceptions.ServiceError):
        return _service_error(exc)
    if isinstance(exc, oci.exceptions.ClientError):
        return ProviderError(ErrorKind.AUTH, f"OCI client configuration error: {exc}")
    if _is_timeout(exc):
        return ProviderError(ErrorKind.TIMEOUT, f"OCI request timed out: {_describe(exc)}")
    if isinstance(exc, ValueError | TypeError):
        return ProviderError(ErrorKind.BAD_REQUEST, f"OCI rejected the request locally: {exc}")
    return ProviderError(ErrorKind.UNAVAILABLE, f"OCI request failed: {_describe(exc)}")


def _service_error(exc: Any) -> ProviderError:
    status = int(exc.status) if isinstance(exc.status, int) else None
    message = f"OCI {status} {exc.code}: {exc.message}"
    if status == 400 or status == 422:
        if _CONTENT_FILTERED.search(exc.message or ""):
            return ProviderError(ErrorKind.CONTENT_FILTERED, message, status_code=status)
        if _CONTEXT_TOO_LONG.search(exc.message or ""):
            return ProviderError(ErrorKind.CONTEXT_LENGTH_EXCEEDED, message, status_code=status)
        return ProviderError(ErrorKind.BAD_REQUEST, message, status_code=status)
    if status in (401, 403):
        return ProviderError(ErrorKind.AUTH, message, status_code=status)
    if status == 404:
        return ProviderError(ErrorKind.NOT_FOUND, message, status_code=status)
    if status == 408:
        return ProviderError(ErrorKind.TIMEOUT, message, status_code=status)
    if status == 429:
        headers = exc.headers or {}
        return ProviderError(
            ErrorKind.THROTTLED, message, retry_after=_retry_after(headers.get("retry-after")), status_code=status
        )
    if status is not None and 400 <= status < 500:
        return ProviderError(ErrorKind.BAD_REQUEST, message, status_code=status)
    return ProviderError(ErrorKind.UNAVAILABLE, message, status_code=status)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _is_timeout(exc: BaseException) -> bool:
    """The SDK wraps requests' and urllib3's timeouts (sometimes inside ConnectionError); look through."""
    seen: set[int] = set()
    pending: list[Any] = [exc]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, TimeoutError) or "Timeout" in type(current).__name__:
            return True
        pending.extend([current.__cause__, current.__context__, *current.args])
        pending.append(getattr(current, "reason", None))
    return False


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]
