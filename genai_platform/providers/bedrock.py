"""The AWS Bedrock adapter: Converse, ConverseStream and InvokeModel through boto3's `bedrock-runtime` client.

Chat goes through the Converse API, which speaks one message format for every chat model on Bedrock;
embeddings go through InvokeModel with the model family's own body (Amazon Titan Text Embeddings, one
text per call, or Cohere Embed, up to 96 texts per call).

Account configuration:

- `region` (required) and `endpoint` (optional, replaces the regional `bedrock-runtime` URL, e.g. for a
  VPC interface endpoint or a test fake);
- credentials: `aws_access_key_id` + `aws_secret_access_key` (+ `aws_session_token`), or nothing, which
  means the SDK's default chain (IRSA web identity, ECS task role, instance profile, environment);
- options: `profile` (a named profile of the worker's AWS config, e.g. one that assumes a role in another
  account), `max_pool_connections` (default `DEFAULT_MAX_CONNECTIONS`, 1,024: one per worker thread),
  `embedding_formats` (model id -> "titan" | "titan-v1" | "cohere", for application inference profile
  ARNs whose id does not name the model family).
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
import urllib3.exceptions
from botocore.config import Config
from botocore.eventstream import ParserError as EventStreamParserError
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)

from .tokens import estimate_tokens
from .types import (
    DEFAULT_MAX_CONNECTIONS,
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
)

#: Cohere Embed accepts at most this many texts per InvokeModel call.
COHERE_BATCH_SIZE = 96

_FINISH_REASONS: Mapping[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    # The model ran out of context window while generating: the answer is cut short, as with max_tokens.
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
#: Stop reasons that mean the model produced no usable answer; another attempt may well succeed.
_MALFORMED_STOP_REASONS = frozenset({"malformed_model_output", "malformed_tool_use"})

#: Bedrock error type -> (kind, the status it is modelled with). Streamed exceptions arrive inside a 200
#: response with a camelCase type (`throttlingException`), so the status comes from this table.
_ERRORS: Mapping[str, tuple[ErrorKind, int]] = {
    "ValidationException": (ErrorKind.BAD_REQUEST, 400),
    "SerializationException": (ErrorKind.BAD_REQUEST, 400),
    # Bedrock's quota errors say "resubmit your request later": a rate limit, not a malformed request.
    "ServiceQuotaExceededException": (ErrorKind.THROTTLED, 400),
    "AccessDeniedException": (ErrorKind.AUTH, 403),
    "UnrecognizedClientException": (ErrorKind.AUTH, 403),
    "InvalidSignatureException": (ErrorKind.AUTH, 403),
    "IncompleteSignatureException": (ErrorKind.AUTH, 403),
    "MissingAuthenticationTokenException": (ErrorKind.AUTH, 403),
    "ExpiredTokenException": (ErrorKind.AUTH, 403),
    "ResourceNotFoundException": (ErrorKind.NOT_FOUND, 404),
    "ModelTimeoutException": (ErrorKind.TIMEOUT, 408),
    "ThrottlingException": (ErrorKind.THROTTLED, 429),
    # A model that is still loading (imported models scale from zero): not a rate limit, but retryable.
    "ModelNotReadyException": (ErrorKind.UNAVAILABLE, 429),
    "ModelErrorException": (ErrorKind.UNAVAILABLE, 424),
    "ModelStreamErrorException": (ErrorKind.UNAVAILABLE, 424),
    "InternalServerException": (ErrorKind.UNAVAILABLE, 500),
    "ServiceUnavailableException": (ErrorKind.UNAVAILABLE, 503),
}
_CONTEXT_LENGTH = re.compile(
    r"(input|prompt) is too long|too many (input )?tokens|context (window|length|limit)|maximum context",
    re.IGNORECASE,
)
_CONTENT_FILTER = re.compile(r"content filter|blocked by .*filter|content polic", re.IGNORECASE)
#: Geography prefixes of cross-region inference profile ids ("us.cohere.embed-v4:0").
_PROFILE_GEOGRAPHIES = frozenset({"us", "us-gov", "eu", "apac", "jp", "au", "ca", "global"})
_EMBEDDING_FORMATS = frozenset({"titan", "titan-v1", "cohere"})

_TIMEOUT_ERRORS = (ReadTimeoutError, ConnectTimeoutError, urllib3.exceptions.TimeoutError, TimeoutError)
_CREDENTIAL_ERRORS = (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)
#: Everything boto3 and the urllib3 socket layer under it raise; event stream reads hit urllib3 directly.
_SDK_ERRORS = (BotoCoreError, ClientError, urllib3.exceptions.HTTPError, EventStreamParserError, OSError)


class BedrockAdapter:
    """One Bedrock account in one region; the boto3 client is built once and shared by every call."""

    def __init__(self, config: AccountConfig) -> None:
        if not config.region:
            raise ProviderError(ErrorKind.BAD_REQUEST, "a bedrock account needs a region")
        options = dict(config.options)
        self._embedding_formats = _embedding_format_overrides(options.get("embedding_formats") or {})
        session = _session(config.credentials, options.get("profile"))
        client_config = Config(
            region_name=config.region,
            # The platform's router retries and fails over; SDK retries would multiply its attempts.
            retries={"mode": "standard", "total_max_attempts": 1},
            connect_timeout=config.timeout_seconds,
            read_timeout=config.timeout_seconds,
            max_pool_connections=_positive_int(
                options.get("max_pool_connections", DEFAULT_MAX_CONNECTIONS), "max_pool_connections"
            ),
            # Pinned: left alone, botocore prefers a Bedrock API key found in the worker's
            # AWS_BEARER_TOKEN_BEDROCK over the account's own credentials, whatever the account says.
            signature_version="v4",
        )
        try:
            self._client = session.client("bedrock-runtime", endpoint_url=config.endpoint or None, config=client_config)
        except (BotoCoreError, ValueError) as exc:
            raise ProviderError(ErrorKind.BAD_REQUEST, f"cannot configure the bedrock client: {exc}") from exc

    # ---- chat ----

    def chat(self, request: ChatRequest) -> ChatResponse:
        params = _converse_params(request)
        try:
            response = self._client.converse(**params)
        except _SDK_ERRORS as exc:
            raise _provider_error(exc) from exc
        content = response.get("output", {}).get("message", {}).get("content", [])
        text = "".join(block["text"] for block in content if "text" in block)
        tool_calls = tuple(
            ToolCall(
                id=block["toolUse"]["toolUseId"],
                name=block["toolUse"]["name"],
                arguments=json.dumps(block["toolUse"].get("input", {}), ensure_ascii=False),
            )
            for block in content
            if "toolUse" in block
        )
        output_text = text + "".join(c.name + c.arguments for c in tool_calls)
        finish_reason = _finish_reason(response.get("stopReason", "end_turn"))
        answer_tool = _answer_tool(request)
        answer = next((c for c in tool_calls if answer_tool and c.name == answer_tool[0]), None)
        if answer is not None:
            text, finish_reason = answer.arguments, "stop"
            tool_calls = tuple(c for c in tool_calls if c is not answer)
        return ChatResponse(
            content=text,
            finish_reason=finish_reason,
            usage=_usage(response.get("usage"), request, output_text),
            tool_calls=tool_calls,
            provider_response_id=response.get("ResponseMetadata", {}).get("RequestId"),
        )

    def chat_stream(self, request: ChatRequest) -> Iterator[StreamEvent]:
        params = _converse_params(request)
        try:
            stream = self._client.converse_stream(**params)["stream"]
        except _SDK_ERRORS as exc:
            raise _provider_error(exc) from exc
        stop_reason: str | None = None
        usage: Mapping[str, Any] | None = None
        output: list[str] = []
        #: Converse numbers every content block; the platform numbers tool calls only.
        tool_index_by_block: dict[int, int] = {}
        answer_tool = _answer_tool(request)
        #: The block carrying a structured answer (forced tool use), relayed as text.
        answer_block: int | None = None
        try:
            for event in stream:
                if "contentBlockStart" in event:
                    start = event["contentBlockStart"]
                    tool_use = start.get("start", {}).get("toolUse")
                    if tool_use is not None and answer_tool and tool_use["name"] == answer_tool[0]:
                        answer_block = start["contentBlockIndex"]
                    elif tool_use is not None:
                        index = tool_index_by_block.setdefault(start["contentBlockIndex"], len(tool_index_by_block))
                        output.append(tool_use["name"])
                        yield ToolCallDelta(index=index, id=tool_use["toolUseId"], name=tool_use["name"])
                elif "contentBlockDelta" in event:
                    block = event["contentBlockDelta"]
                    delta = block.get("delta", {})
                    if delta.get("text") and answer_tool is None:  # a structured answer is the tool's input
                        output.append(delta["text"])
                        yield TextDelta(delta["text"])
                    elif "toolUse" in delta and block["contentBlockIndex"] == answer_block:
                        output.append(delta["toolUse"]["input"])
                        yield TextDelta(delta["toolUse"]["input"])
                    elif "toolUse" in delta and block["contentBlockIndex"] in tool_index_by_block:
                        output.append(delta["toolUse"]["input"])
                        yield ToolCallDelta(
                            index=tool_index_by_block[block["contentBlockIndex"]], arguments=delta["toolUse"]["input"]
                        )
                elif "messageStop" in event:
                    stop_reason = event["messageStop"]["stopReason"]
                elif "metadata" in event:
                    usage = event["metadata"].get("usage")
        except _SDK_ERRORS as exc:
            raise _provider_error(exc) from exc
        finally:
            stream.close()
        if stop_reason is None:
            raise ProviderError(ErrorKind.UNAVAILABLE, "the bedrock stream ended before messageStop")
        finish_reason = "stop" if answer_block is not None and not tool_index_by_block else _finish_reason(stop_reason)
        yield StreamEnd(finish_reason, _usage(usage, request, "".join(output)))

    # ---- embeddings ----

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        embedding_format = self._embedding_format(request.model)
        vectors: list[tuple[float, ...]] = []
        input_tokens = 0
        estimated = False
        for texts in _input_groups(request.inputs, embedding_format):
            if embedding_format == "cohere":
                body = _cohere_body(texts, request)
            else:
                body = _titan_body(texts[0], request, v1=embedding_format == "titan-v1")
            payload, tokens = self._invoke(request.model, body)
            try:
                vectors.extend(_vectors(payload, embedding_format))
            except (KeyError, TypeError) as exc:
                raise ProviderError(ErrorKind.UNAVAILABLE, f"bedrock answered without embeddings: {exc!r}") from exc
            if tokens is None:
                tokens = payload.get("inputTextTokenCount")
            if tokens is None:
                tokens, estimated = sum(estimate_tokens(t) for t in texts), True
            input_tokens += tokens
        if len(vectors) != len(request.inputs):
            raise ProviderError(
                ErrorKind.UNAVAILABLE, f"bedrock returned {len(vectors)} vectors for {len(request.inputs)} inputs"
            )
        return EmbeddingResponse(tuple(vectors), Usage(input_tokens, 0, estimated=estimated))

    def _embedding_format(self, model: str) -> str:
        if model in self._embedding_formats:
            return self._embedding_formats[model]
        family = _model_family(model)
        if family.startswith(("amazon.titan-embed-text-v1", "amazon.titan-embed-g1-text")):
            return "titan-v1"
        if family.startswith("amazon.titan-embed"):
            return "titan"
        if family.startswith("cohere.embed"):
            return "cohere"
        raise ProviderError(
            ErrorKind.BAD_REQUEST,
            f"cannot tell the embedding body format of bedrock model {model!r}: expected an amazon.titan-embed* or "
            "cohere.embed* model id, or an entry in the account's embedding_formats option",
        )

    def _invoke(self, model: str, body: Mapping[str, Any]) -> tuple[dict[str, Any], int | None]:
        try:
            response = self._client.invoke_model(
                modelId=model, body=json.dumps(body), contentType="application/json", accept="application/json"
            )
            payload = json.loads(response["body"].read())
        except _SDK_ERRORS as exc:
            raise _provider_error(exc) from exc
        except ValueError as exc:
            raise ProviderError(ErrorKind.UNAVAILABLE, f"bedrock returned an unreadable body: {exc}") from exc
        header = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("x-amzn-bedrock-input-token-count")
        return payload, int(header) if header and header.isdigit() else None


# ---- client construction ----


def _session(credentials: Mapping[str, str], profile: str | None) -> boto3.session.Session:
    """A session of our own: boto3's module-level default session is shared state and not thread-safe."""
    if credentials and profile:
        raise ProviderError(ErrorKind.BAD_REQUEST, "a bedrock account takes either credentials or a profile, not both")
    unknown = set(credentials) - {"aws_access_key_id", "aws_secret_access_key", "aws_session_token"}
    if unknown:
        raise ProviderError(ErrorKind.AUTH, f"unknown bedrock credential fields: {', '.join(sorted(unknown))}")
    if credentials and not (credentials.get("aws_access_key_id") and credentials.get("aws_secret_access_key")):
        raise ProviderError(ErrorKind.AUTH, "bedrock credentials need both aws_access_key_id and aws_secret_access_key")
    try:
        return boto3.session.Session(
            aws_access_key_id=credentials.get("aws_access_key_id") or None,
            aws_secret_access_key=credentials.get("aws_secret_access_key") or None,
            aws_session_token=credentials.get("aws_session_token") or None,
            profile_name=profile or None,
        )
    except ProfileNotFound as exc:
        raise ProviderError(ErrorKind.BAD_REQUEST, f"bedrock profile {profile!r} is not configured") from exc


def _positive_int(value: Any, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1:
        raise ProviderError(ErrorKind.BAD_REQUEST, f"bedrock option {name} must be a positive integer, not {value!r}")
    return number


def _embedding_format_overrides(overrides: Mapping[str, str]) -> dict[str, str]:
    invalid = {model: fmt for model, fmt in overrides.items() if fmt not in _EMBEDDING_FORMATS}
    if invalid:
        raise ProviderError(
            ErrorKind.BAD_REQUEST,
            f"embedding_formats values must be one of {sorted(_EMBEDDING_FORMATS)}; got {invalid}",
        )
    return dict(overrides)


# ---- request translation ----


def _converse_params(request: ChatRequest) -> dict[str, Any]:
    system = [{"text": m.content} for m in request.messages if m.role == "system" and m.content.strip()]
    messages = _converse_messages(request.messages)
    params: dict[str, Any] = {"modelId": request.model, "messages": messages}
    if system:
        params["system"] = system
    inference: dict[str, Any] = {}
    if request.max_tokens is not None:
        inference["maxTokens"] = request.max_tokens
    if request.temperature is not None:
        inference["temperature"] = request.temperature
    if request.top_p is not None:
        inference["topP"] = request.top_p
    stop = [s for s in request.stop if s]
    if stop:
        inference["stopSequences"] = stop
    if inference:
        params["inferenceConfig"] = inference
    tool_config = _tool_config(request, messages)
    answer_tool = _answer_tool(request)
    if answer_tool is not None:
        # Structured output by forced tool use: the answer is the input of a tool whose schema is the
        # response format's. With the caller's own tools next to it, the model must call one of them.
        name, schema = answer_tool
        tool_config = tool_config or {"tools": []}
        tool_config["tools"].append(_tool_spec(name, "Give your final answer by calling this tool.", schema))
        tool_config["toolChoice"] = {"any": {}} if len(tool_config["tools"]) > 1 else {"tool": {"name": name}}
    if tool_config is not None:
        params["toolConfig"] = tool_config
    return params


def _answer_tool(request: ChatRequest) -> tuple[str, Mapping[str, Any]] | None:
    """The tool that carries a structured answer: its name and input schema (None for free text)."""
    fmt = request.response_format
    if fmt is None or not request.wants_json:
        return None
    if fmt.type == "json_schema" and fmt.schema is not None:
        return fmt.name, fmt.schema
    return "json_response", {"type": "object"}


def _converse_messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """Converse turns: tool results become user turns, and consecutive turns of one role are merged,
    because Converse insists on strict user/assistant alternation."""
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        role, blocks = _content_blocks(message)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return turns


def _content_blocks(message: Message) -> tuple[str, list[dict[str, Any]]]:
    if message.role == "tool":
        if not message.tool_call_id:
            raise ProviderError(ErrorKind.BAD_REQUEST, "a tool message needs the tool_call_id it answers")
        result = {"toolUseId": message.tool_call_id, "content": [{"text": message.content}] if message.content else []}
        return "user", [{"toolResult": result}]
    # Converse refuses blank text blocks, so empty content contributes no block.
    blocks: list[dict[str, Any]] = [{"text": message.content}] if message.content.strip() else []
    if message.role == "assistant":
        blocks.extend({"toolUse": _tool_use(call)} for call in message.tool_calls)
    return message.role, blocks


def _tool_use(call: ToolCall) -> dict[str, Any]:
    try:
        arguments = json.loads(call.arguments) if call.arguments.strip() else {}
    except ValueError as exc:
        raise ProviderError(ErrorKind.BAD_REQUEST, f"tool call {call.id} has arguments that are not JSON") from exc
    return {"toolUseId": call.id, "name": call.name, "input": arguments}


def _tool_config(request: ChatRequest, messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    choice = request.tool_choice
    names = [tool.name for tool in request.tools]
    if choice not in (None, "auto", "none", "required") and choice not in names:
        raise ProviderError(ErrorKind.BAD_REQUEST, f"tool_choice names {choice!r}, which is not among the tools")
    if choice == "required" and not names:
        raise ProviderError(ErrorKind.BAD_REQUEST, "tool_choice 'required' needs at least one tool")
    history_tools = [block["toolUse"]["name"] for turn in messages for block in turn["content"] if "toolUse" in block]
    history_has_tools = any("toolUse" in b or "toolResult" in b for turn in messages for b in turn["content"])
    # Converse has no "none": withholding the tools is the only way to keep the model from calling one,
    # but a conversation that already holds tool blocks is refused without a toolConfig.
    if choice == "none" and not history_has_tools:
        return None
    specs = [_tool_spec(tool.name, tool.description, tool.parameters) for tool in request.tools]
    if not specs and history_has_tools:
        specs = [_tool_spec(name, "", {"type": "object", "properties": {}}) for name in dict.fromkeys(history_tools)]
    if not specs:
        return None
    config: dict[str, Any] = {"tools": specs}
    # "auto" is Converse's default; sending it explicitly fails on models that support no toolChoice.
    if choice == "required":
        config["toolChoice"] = {"any": {}}
    elif choice in names:
        config["toolChoice"] = {"tool": {"name": choice}}
    return config


def _tool_spec(name: str, description: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name, "inputSchema": {"json": dict(parameters)}}
    if description:
        spec["description"] = description
    return {"toolSpec": spec}


def _cohere_body(texts: tuple[str, ...], request: EmbeddingRequest) -> dict[str, Any]:
    body: dict[str, Any] = {"texts": list(texts), "input_type": request.input_type or "search_document"}
    if request.dimensions is not None:
        body["output_dimension"] = request.dimensions
    return body


def _titan_body(text: str, request: EmbeddingRequest, *, v1: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"inputText": text}
    if request.dimensions is not None:
        body["dimensions"] = request.dimensions
    if not v1:
        body["normalize"] = True
    return body


def _input_groups(inputs: tuple[str, ...], embedding_format: str) -> list[tuple[str, ...]]:
    """The texts of each InvokeModel call: Titan embeds one text per call, Cohere a batch."""
    if embedding_format == "cohere":
        return [inputs[i : i + COHERE_BATCH_SIZE] for i in range(0, len(inputs), COHERE_BATCH_SIZE)]
    return [(text,) for text in inputs]


def _model_family(model: str) -> str:
    """`anthropic.claude...` from a foundation model id, its ARN, or a cross-region profile id."""
    if model.startswith("arn:"):
        model = model.rsplit("/", 1)[-1]
    geography, _, rest = model.partition(".")
    return rest if geography in _PROFILE_GEOGRAPHIES else model


# ---- response translation ----


def _vectors(payload: Mapping[str, Any], embedding_format: str) -> list[tuple[float, ...]]:
    if embedding_format != "cohere":
        return [tuple(payload["embedding"])]
    embeddings = payload["embeddings"]
    # Cohere Embed v3 answers a list of vectors; v4 answers them by type ({"float": [...]}).
    if isinstance(embeddings, Mapping):
        embeddings = embeddings["float"]
    return [tuple(vector) for vector in embeddings]


def _finish_reason(stop_reason: str) -> FinishReason:
    if stop_reason in _MALFORMED_STOP_REASONS:
        raise ProviderError(ErrorKind.UNAVAILABLE, f"the model stopped with {stop_reason}")
    return _FINISH_REASONS.get(stop_reason, "stop")


def _usage(usage: Mapping[str, Any] | None, request: ChatRequest, output_text: str) -> Usage:
    if not usage:
        prompt = "".join(m.content + "".join(c.arguments for c in m.tool_calls) for m in request.messages)
        return Usage(estimate_tokens(prompt), estimate_tokens(output_text), estimated=True)
    # Prompt-cache reads and writes are counted apart from inputTokens; they are input all the same.
    input_tokens = usage.get("inputTokens", 0) + usage.get("cacheReadInputTokens", 0)
    input_tokens += usage.get("cacheWriteInputTokens", 0)
    return Usage(input_tokens, usage.get("outputTokens", 0))


# ---- errors ----


def _provider_error(exc: Exception) -> ProviderError:
    if isinstance(exc, ClientError):
        return _service_error(exc)
    if isinstance(exc, _TIMEOUT_ERRORS):
        return ProviderError(ErrorKind.TIMEOUT, f"bedrock did not answer in time: {exc}")
    if isinstance(exc, ParamValidationError):
        return ProviderError(ErrorKind.BAD_REQUEST, f"invalid bedrock request: {exc}")
    if isinstance(exc, _CREDENTIAL_ERRORS):
        return ProviderError(ErrorKind.AUTH, f"no usable AWS credentials: {exc}")
    return ProviderError(ErrorKind.UNAVAILABLE, f"bedrock is unreachable: {exc}")


def _service_error(exc: ClientError) -> ProviderError:
    error = exc.response.get("Error", {})
    metadata = exc.response.get("ResponseMetadata", {})
    code = str(error.get("Code", ""))
    code = code[:1].upper() + code[1:]
    message = str(error.get("Message") or code or "bedrock error")
    kind, modelled_status = _ERRORS.get(code, (None, None))
    status = metadata.get("HTTPStatusCode") or modelled_status
    if kind is None:
        kind = _kind_for_status(status)
    if kind is ErrorKind.BAD_REQUEST and _CONTEXT_LENGTH.search(message):
        kind = ErrorKind.CONTEXT_LENGTH_EXCEEDED
    elif kind is ErrorKind.BAD_REQUEST and _CONTENT_FILTER.search(message):
        kind = ErrorKind.CONTENT_FILTERED
    retry_after = _retry_after(metadata.get("HTTPHeaders", {}).get("retry-after"))
    return ProviderError(kind, f"{code}: {message}" if code else message, retry_after=retry_after, status_code=status)


def _kind_for_status(status: int | None) -> ErrorKind:
    if status in (401, 403):
        return ErrorKind.AUTH
    if status == 404:
        return ErrorKind.NOT_FOUND
    if status == 408:
        return ErrorKind.TIMEOUT
    if status == 429:
        return ErrorKind.THROTTLED
    if status is not None and 400 <= status < 500 and status != 424:
        return ErrorKind.BAD_REQUEST
    return ErrorKind.UNAVAILABLE


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds, or as an HTTP date."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(moment.timestamp() - time.time(), 0.0)
