"""Google Vertex AI: Gemini chat and text embeddings through the `google-genai` SDK in Vertex mode.

The one module that imports `google.genai` (and the `google.auth` credential types it needs).
`vertexai.generative_models` is deprecated and deliberately not used.

Things the normalized types do not have and this module bridges:

- Gemini function calls carry no id. Ids are derived from the response id, the call's position,
  name and arguments, so the same response always yields the same ids; a tool result is sent back
  as a `functionResponse` named after the assistant call whose id it quotes.
- Gemini 3 models sign their function calls (`thoughtSignature`) and refuse a history whose calls
  lost the signature. The signature rides along inside the tool call id (`call_<hash>_ts_<base64url>`)
  because the id is the only field an OpenAI client is sure to echo back; when a history has no
  signature (a conversation started on another model), the documented bypass value is sent instead.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import json
import re
import time
from collections.abc import Iterator, Mapping
from typing import Any

import google.auth.exceptions
import httpx
import requests
from google import genai
from google.auth.credentials import Credentials as GoogleCredentials
from google.genai import errors as genai_errors
from google.genai import types
from google.oauth2 import credentials as oauth2_credentials
from google.oauth2 import service_account

from .tokens import estimate_tokens
from .types import (
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
    Usage,
    max_connections,
)

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
DEFAULT_API_VERSION = "v1"

#: Documented value that tells Gemini 3 to skip thought-signature validation for a function call
#: it did not sign (https://ai.google.dev/gemini-api/docs/thought-signatures). The SDK base64url-
#: encodes bytes, so these bytes go on the wire as exactly this text.
_SKIP_SIGNATURE = base64.urlsafe_b64decode("skip_thought_signature_validator")
_SIGNATURE_MARK = "_ts_"
_CALL_ID = re.compile(r"^call_[0-9a-f]{24}_ts_(?P<signature>[A-Za-z0-9_-]+)$")
_GEMINI_MAJOR = re.compile(r"gemini-(\d+)")
_CONTEXT_TOO_LONG = re.compile(
    r"input token count.*exceeds the maximum|exceeds the maximum number of tokens", re.I | re.S
)

#: Vertex text-embedding limits: 250 texts and 20,000 tokens per `predict` call, and gemini-embedding-001
#: takes a single text per call. The token budget uses our estimate, so it keeps a safety margin.
_PREDICT_MAX_TEXTS = 250
_PREDICT_MAX_ESTIMATED_TOKENS = 15_000
_SINGLE_TEXT_EMBEDDING_MODELS = frozenset({"gemini-embedding-001"})

_TOOL_CHOICE_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
_FILTERED_FINISH_REASONS = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)


class VertexAdapter:
    """One Vertex AI account: a GCP project and location, reached with one `genai.Client`."""

    def __init__(self, config: AccountConfig) -> None:
        options = dict(config.options)
        project = str(options.get("project") or "") or None
        location = config.region or None
        if config.endpoint and not (project and location):
            # With a custom base URL and no project/location the SDK drops both and posts to bare paths.
            raise ProviderError(ErrorKind.AUTH, "vertex: an endpoint override needs options.project and a region")
        size = max_connections(options)
        http_options = types.HttpOptions(
            base_url=config.endpoint or None,
            api_version=str(options.get("api_version") or DEFAULT_API_VERSION),
            timeout=max(1, round(config.timeout_seconds * 1000)),
            # One httpx client per adapter serves every worker thread (httpx is thread-safe, and the
            # SDK locks its credential refresh); its default pool of 100 would make calls queue.
            client_args={"limits": httpx.Limits(max_connections=size, max_keepalive_connections=size)},
        )
        if hasattr(types, "HttpRetryOptions"):
            # The platform's router owns retries, fallback and circuit breaking; one attempt here.
            http_options.retry_options = types.HttpRetryOptions(attempts=1)
        try:
            self._client = genai.Client(
                vertexai=True,
                project=project,
                location=location,
                credentials=_credentials(config.credentials),
                http_options=http_options,
            )
        except ProviderError:
            raise
        except (google.auth.exceptions.GoogleAuthError, ValueError) as exc:
            # Without a project the SDK asks the ambient identity for one, which may fail here.
            raise ProviderError(ErrorKind.AUTH, f"vertex: cannot set up the client: {exc}") from exc

    # ---- chat ----

    def chat(self, request: ChatRequest) -> ChatResponse:
        contents, config = _generate_request(request)
        try:
            response = self._client.models.generate_content(model=request.model, contents=contents, config=config)
        except Exception as exc:
            raise _provider_error(exc) from exc
        _raise_if_prompt_blocked(response)
        candidate = response.candidates[0] if response.candidates else None
        parts = (candidate.content.parts if candidate and candidate.content else None) or []
        text = "".join(part.text for part in parts if part.text and not part.thought)
        tool_calls = _tool_calls(response.response_id, [part for part in parts if part.function_call])
        finish_reason = _finish_reason(candidate.finish_reason if candidate else None, bool(tool_calls))
        return ChatResponse(
            content=text,
            finish_reason=finish_reason,
            usage=_usage(response.usage_metadata, request, text + "".join(c.name + c.arguments for c in tool_calls)),
            tool_calls=tuple(tool_calls),
            provider_response_id=response.response_id,
        )

    def chat_stream(self, request: ChatRequest) -> Iterator[StreamEvent]:
        contents, config = _generate_request(request)
        finish_reason: str | None = None
        usage_metadata: types.GenerateContentResponseUsageMetadata | None = None
        produced: list[str] = []
        calls = 0
        try:
            stream = self._client.models.generate_content_stream(model=request.model, contents=contents, config=config)
        except Exception as exc:
            raise _provider_error(exc) from exc
        try:
            for chunk in stream:
                _raise_if_prompt_blocked(chunk)
                usage_metadata = chunk.usage_metadata or usage_metadata
                candidate = chunk.candidates[0] if chunk.candidates else None
                if candidate is None:
                    continue
                if candidate.finish_reason is not None:
                    finish_reason = candidate.finish_reason
                parts = (candidate.content.parts if candidate.content else None) or []
                for part in parts:
                    if part.text and not part.thought:
                        produced.append(part.text)
                        yield TextDelta(part.text)
                for call in _tool_calls(chunk.response_id, [p for p in parts if p.function_call], first_index=calls):
                    produced.append(call.name + call.arguments)
                    yield ToolCallDelta(index=calls, id=call.id, name=call.name, arguments=call.arguments)
                    calls += 1
        except Exception as exc:
            raise _provider_error(exc) from exc
        finally:
            # A consumer that stops early (client gone) must not leave the HTTP stream open.
            stream.close()
        if finish_reason is None:
            # Vertex always closes a stream with a finish reason; without one the answer was cut short.
            raise ProviderError(ErrorKind.UNAVAILABLE, "vertex: the stream ended without a finish reason")
        yield StreamEnd(_finish_reason(finish_reason, calls > 0), _usage(usage_metadata, request, "".join(produced)))

    # ---- embeddings ----

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        config = types.EmbedContentConfig(
            task_type=_task_type(request.input_type),
            output_dimensionality=request.dimensions,
        )
        vectors: list[tuple[float, ...]] = []
        input_tokens = 0
        estimated = False
        for batch in _embedding_batches(request.model, request.inputs):
            try:
                response = self._client.models.embed_content(model=request.model, contents=list(batch), config=config)
            except Exception as exc:
                raise _provider_error(exc) from exc
            embeddings = response.embeddings or []
            if len(embeddings) != len(batch):
                raise ProviderError(
                    ErrorKind.UNAVAILABLE, f"vertex: {len(embeddings)} embeddings returned for {len(batch)} texts"
                )
            for text, embedding in zip(batch, embeddings, strict=True):
                vectors.append(tuple(embedding.values or ()))
                counted = embedding.statistics.token_count if embedding.statistics else None
                if counted is None:
                    input_tokens += estimate_tokens(text)
                    estimated = True
                else:
                    input_tokens += int(counted)
        return EmbeddingResponse(tuple(vectors), Usage(input_tokens, 0, estimated=estimated))


# ---- credentials ----


def _credentials(secrets: Mapping[str, str]) -> GoogleCredentials | None:
    """An access token, a service-account key, or None for the ambient identity (ADC)."""
    unknown = set(secrets) - {"access_token", "service_account_json"}
    if unknown:
        raise ProviderError(ErrorKind.AUTH, f"vertex: unknown credential fields {sorted(unknown)}")
    if secrets.get("access_token"):
        return oauth2_credentials.Credentials(token=secrets["access_token"])
    if secrets.get("service_account_json"):
        try:
            info = json.loads(secrets["service_account_json"])
        except json.JSONDecodeError as exc:
            raise ProviderError(ErrorKind.AUTH, "vertex: service_account_json is not valid JSON") from exc
        if not isinstance(info, dict) or info.get("type") != "service_account":
            raise ProviderError(ErrorKind.AUTH, "vertex: service_account_json is not a service account key file")
        try:
            return service_account.Credentials.from_service_account_info(info, scopes=[CLOUD_PLATFORM_SCOPE])
        except (ValueError, KeyError) as exc:
            raise ProviderError(ErrorKind.AUTH, f"vertex: unusable service account key: {exc}") from exc
    return None


# ---- request translation ----


def _generate_request(request: ChatRequest) -> tuple[list[types.Content], types.GenerateContentConfig]:
    system = [types.Part(text=m.content) for m in request.messages if m.role == "system" and m.content]
    config = types.GenerateContentConfig(
        system_instruction=types.Content(role="user", parts=system) if system else None,
        temperature=request.temperature,
        top_p=request.top_p,
        max_output_tokens=request.max_tokens,
        stop_sequences=list(request.stop) or None,
        # Tools are declarations, never Python callables: the SDK must not try to run anything.
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    if "automatic_continuation" in types.GenerateContentConfig.model_fields:
        # Newer SDKs re-request (and reconnect dropped streams) on continuation tokens: a hidden
        # retry. A CONTINUATION stop is reported as `length` instead.
        config.automatic_continuation = False
    if request.tools:
        config.tools = [
            types.Tool(
                function_declarations=[
                    types.FunctionDeclaration(
                        name=tool.name,
                        description=tool.description or None,
                        # Full JSON Schema, unlike `parameters` which takes Google's OpenAPI subset.
                        parameters_json_schema=dict(tool.parameters),
                    )
                    for tool in request.tools
                ]
            )
        ]
        config.tool_config = _tool_config(request.tool_choice, {tool.name for tool in request.tools})
    if request.wants_json:
        # Gemini's JSON mode; the schema as full JSON Schema (`response_schema` takes an OpenAPI subset).
        config.response_mime_type = "application/json"
        fmt = request.response_format
        if fmt is not None and fmt.schema is not None:
            config.response_json_schema = dict(fmt.schema)
    return _contents(request.model, request.messages), config


def _tool_config(tool_choice: str | None, names: set[str]) -> types.ToolConfig | None:
    if tool_choice is None:
        return None
    if tool_choice in _TOOL_CHOICE_MODES:
        mode = _TOOL_CHOICE_MODES[tool_choice]
        return types.ToolConfig(function_calling_config=types.FunctionCallingConfig(mode=mode))
    if tool_choice not in names:
        raise ProviderError(ErrorKind.BAD_REQUEST, f"tool_choice names an undeclared tool {tool_choice!r}")
    return types.ToolConfig(
        function_calling_config=types.FunctionCallingConfig(mode="ANY", allowed_function_names=[tool_choice])
    )


def _contents(model: str, messages: tuple[Message, ...]) -> list[types.Content]:
    contents: list[types.Content] = []
    tool_names: dict[str, str] = {}
    for message in messages:
        if message.role == "system":
            continue
        if message.role == "user":
            if message.content:
                contents.append(types.Content(role="user", parts=[types.Part(text=message.content)]))
        elif message.role == "assistant":
            parts = [types.Part(text=message.content)] if message.content else []
            parts += _function_call_parts(model, message)
            tool_names.update((call.id, call.name) for call in message.tool_calls)
            if parts:
                contents.append(types.Content(role="model", parts=parts))
        elif message.role == "tool":
            part = types.Part(function_response=_function_response(message, tool_names))
            previous = contents[-1] if contents else None
            # All results of one assistant turn go in one content: Gemini wants as many responses
            # in the turn after a call turn as there were calls.
            if (
                previous is not None
                and previous.role == "user"
                and previous.parts
                and previous.parts[0].function_response
            ):
                previous.parts.append(part)
            else:
                contents.append(types.Content(role="user", parts=[part]))
        else:
            raise ProviderError(ErrorKind.BAD_REQUEST, f"unknown message role {message.role!r}")
    return contents


def _function_call_parts(model: str, message: Message) -> list[types.Part]:
    parts = []
    for call in message.tool_calls:
        try:
            args = json.loads(call.arguments or "{}")
        except json.JSONDecodeError as exc:
            raise ProviderError(ErrorKind.BAD_REQUEST, f"tool call {call.id!r} arguments are not JSON") from exc
        if not isinstance(args, dict):
            raise ProviderError(ErrorKind.BAD_REQUEST, f"tool call {call.id!r} arguments are not a JSON object")
        parts.append(
            types.Part(
                function_call=types.FunctionCall(name=call.name, args=args),
                thought_signature=_signature_from_id(call.id),
            )
        )
    # Gemini 3 checks the first call of each step; the others of a parallel step carry no signature.
    if parts and not any(part.thought_signature for part in parts) and _requires_signatures(model):
        parts[0].thought_signature = _SKIP_SIGNATURE
    return parts


def _function_response(message: Message, tool_names: Mapping[str, str]) -> types.FunctionResponse:
    name = tool_names.get(message.tool_call_id or "") or message.name
    if not name:
        raise ProviderError(
            ErrorKind.BAD_REQUEST, f"tool result {message.tool_call_id!r} answers no earlier assistant tool call"
        )
    # `response` must be a JSON object; a result that already is one is passed as structured data.
    try:
        parsed = json.loads(message.content)
    except json.JSONDecodeError:
        parsed = None
    response = parsed if isinstance(parsed, dict) else {"output": message.content}
    return types.FunctionResponse(name=name, response=response)


def _requires_signatures(model: str) -> bool:
    match = _GEMINI_MAJOR.search(model)
    return match is not None and int(match.group(1)) >= 3


def _task_type(input_type: str | None) -> str | None:
    return {"search_document": "RETRIEVAL_DOCUMENT", "search_query": "RETRIEVAL_QUERY"}.get(input_type or "")


def _embedding_batches(model: str, inputs: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    short_name = model.rsplit("/", 1)[-1]
    # Mirrors the SDK's routing: Gemini embedding models other than gemini-embedding-001 use
    # :embedContent, which embeds one text per call; the rest use :predict.
    one_per_call = short_name in _SINGLE_TEXT_EMBEDDING_MODELS or "gemini" in short_name or "maas" in short_name
    batch: list[str] = []
    budget = 0
    for text in inputs:
        tokens = estimate_tokens(text)
        if batch and (
            one_per_call or len(batch) >= _PREDICT_MAX_TEXTS or budget + tokens > _PREDICT_MAX_ESTIMATED_TOKENS
        ):
            yield tuple(batch)
            batch, budget = [], 0
        batch.append(text)
        budget += tokens
    if batch:
        yield tuple(batch)


# ---- response translation ----


def _tool_calls(response_id: str | None, parts: list[types.Part], first_index: int = 0) -> list[ToolCall]:
    calls = []
    for offset, part in enumerate(parts):
        function_call = part.function_call
        assert function_call is not None
        name = function_call.name or ""
        arguments = json.dumps(function_call.args or {}, ensure_ascii=False)
        seed = f"{response_id}\x00{first_index + offset}\x00{name}\x00{arguments}"
        call_id = "call_" + hashlib.sha256(seed.encode()).hexdigest()[:24]
        if part.thought_signature:
            call_id += _SIGNATURE_MARK + base64.urlsafe_b64encode(part.thought_signature).decode().rstrip("=")
        calls.append(ToolCall(id=call_id, name=name, arguments=arguments))
    return calls


def _signature_from_id(call_id: str) -> bytes | None:
    match = _CALL_ID.match(call_id)
    if match is None:
        return None
    encoded = match.group("signature")
    try:
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        return None


def _finish_reason(reason: object, has_tool_calls: bool) -> FinishReason:
    value = getattr(reason, "value", reason) or "STOP"
    if value in ("MAX_TOKENS", "CONTINUATION"):
        return "length"
    if value in _FILTERED_FINISH_REASONS:
        return "content_filter"
    return "tool_calls" if has_tool_calls else "stop"


def _raise_if_prompt_blocked(response: types.GenerateContentResponse) -> None:
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        reason = getattr(feedback.block_reason, "value", feedback.block_reason)
        detail = f": {feedback.block_reason_message}" if feedback.block_reason_message else ""
        raise ProviderError(ErrorKind.CONTENT_FILTERED, f"vertex: prompt blocked ({reason}){detail}")


def _usage(metadata: types.GenerateContentResponseUsageMetadata | None, request: ChatRequest, produced: str) -> Usage:
    if metadata is None or metadata.prompt_token_count is None:
        prompt = "".join(m.content for m in request.messages)
        return Usage(estimate_tokens(prompt), estimate_tokens(produced), estimated=True)
    # Thinking tokens are billed as output; tool-use prompt tokens as input.
    return Usage(
        input_tokens=metadata.prompt_token_count + (metadata.tool_use_prompt_token_count or 0),
        output_tokens=(metadata.candidates_token_count or 0) + (metadata.thoughts_token_count or 0),
    )


# ---- errors ----


def _provider_error(exc: Exception) -> ProviderError:
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, genai_errors.APIError):
        return _api_error(exc)
    if isinstance(exc, httpx.TimeoutException | requests.Timeout):
        return ProviderError(ErrorKind.TIMEOUT, f"vertex: request timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.TransportError | requests.ConnectionError):
        return ProviderError(ErrorKind.UNAVAILABLE, f"vertex: connection failed ({type(exc).__name__}: {exc})")
    if isinstance(exc, google.auth.exceptions.RefreshError):
        # A token endpoint answering 5xx is an outage, not a bad key.
        kind = ErrorKind.UNAVAILABLE if getattr(exc, "retryable", False) else ErrorKind.AUTH
        return ProviderError(kind, f"vertex: cannot obtain an access token: {exc}")
    if isinstance(exc, google.auth.exceptions.TransportError):
        return ProviderError(ErrorKind.UNAVAILABLE, f"vertex: cannot reach the token endpoint: {exc}")
    if isinstance(exc, google.auth.exceptions.GoogleAuthError):
        return ProviderError(ErrorKind.AUTH, f"vertex: no usable credentials: {exc}")
    if isinstance(exc, genai_errors.UnknownApiResponseError):
        return ProviderError(ErrorKind.UNAVAILABLE, f"vertex: unreadable response: {exc}")
    if isinstance(exc, ValueError):
        # The SDK validates requests locally (types, shapes) before sending them.
        return ProviderError(ErrorKind.BAD_REQUEST, f"vertex: request refused by the SDK: {exc}")
    return ProviderError(ErrorKind.UNAVAILABLE, f"vertex: unexpected failure ({type(exc).__name__}: {exc})")


def _api_error(exc: genai_errors.APIError) -> ProviderError:
    code = exc.code
    message = f"vertex: {code} {exc.status or ''}: {exc.message or exc.details}".replace("  ", " ")
    if code == 400:
        kind = (
            ErrorKind.CONTEXT_LENGTH_EXCEEDED if _CONTEXT_TOO_LONG.search(exc.message or "") else ErrorKind.BAD_REQUEST
        )
    elif code in (401, 403):
        kind = ErrorKind.AUTH
    elif code == 404:
        kind = ErrorKind.NOT_FOUND
    elif code == 408:
        kind = ErrorKind.TIMEOUT
    elif code == 429:
        return ProviderError(ErrorKind.THROTTLED, message, retry_after=_retry_after(exc), status_code=code)
    elif isinstance(code, int) and 400 <= code < 500:
        kind = ErrorKind.BAD_REQUEST
    else:
        kind = ErrorKind.UNAVAILABLE
    return ProviderError(kind, message, status_code=code)


def _retry_after(exc: genai_errors.APIError) -> float | None:
    headers = getattr(exc.response, "headers", None) or {}
    # httpx headers ignore case; the SDK's own stream response keeps a plain dict.
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value:
        return _seconds_from_header(value)
    # Google APIs may say it in the body instead: a google.rpc.RetryInfo detail like {"retryDelay": "29s"}.
    error: Any = exc.details.get("error", exc.details) if isinstance(exc.details, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    for detail in details if isinstance(details, list) else ():
        delay = detail.get("retryDelay") if isinstance(detail, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(0.0, float(delay[:-1]))
            except ValueError:
                return None
    return None


def _seconds_from_header(value: str) -> float | None:
    """Retry-After is either delay-seconds or an HTTP date."""
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
