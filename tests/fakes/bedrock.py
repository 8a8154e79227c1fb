"""A strict, wire-compatible fake of Amazon Bedrock Runtime that the real boto3 client talks to unchanged.

It serves the three operations the adapter uses, exactly where botocore's service model puts them:

- Converse: `POST /model/{modelId}/converse`, JSON in and out;
- ConverseStream: `POST /model/{modelId}/converse-stream`, answered in `application/vnd.amazon.eventstream`
  framing (one binary message per event, each flushed on its own);
- InvokeModel: `POST /model/{modelId}/invoke`, with Amazon Titan Text Embeddings and Cohere Embed bodies.

`modelId` is a path label, so botocore percent-encodes it (an application inference profile ARN arrives as
`arn%3Aaws%3Abedrock%3A...%2Fabc123`); the fake decodes it once, like the service.

Every request must carry a SigV4 signature that the fake recomputes with botocore's own signer over the
received method, path, signed headers and body, for the dummy credentials below; a missing, malformed or
wrong signature, an unknown access key or a wrong session token is refused with 403 and the error type
AWS's front end uses. Bodies are validated the way the service does (roles, alternation, content blocks,
tool use/result pairing, toolConfig shape, inferenceConfig types and ranges), and errors come back as
`{"message": ...}` with the type in the `x-amzn-ErrorType` header.

Replies are deterministic: the model quotes the last user text, answers a tool result by quoting it, and
calls a tool when toolChoice forces one (`any` or `tool`) or when the user text names a defined tool.
Usage is counted with a simple word/punctuation tokenizer. Tests steer the fake through attributes
(`context_window`, `stop_reason_override`, `stream_error`, `stream_stall`), `stall_next()` and `fail_next()`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import struct
import threading
import time
import traceback
import uuid
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlencode

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from .server import FakeResponse, FakeServer, RecordedRequest

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#: Temporary credentials (as from STS/IRSA) must also present this session token.
TEMPORARY_ACCESS_KEY_ID = "ASIAIOSFODNN7EXAMPLE"
TEMPORARY_SECRET_ACCESS_KEY = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQEXAMPLE"

CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
CLAUDE_US_PROFILE = "us.anthropic.claude-3-5-sonnet-20240620-v1:0"
APPLICATION_PROFILE_ARN = f"arn:aws:bedrock:{REGION}:{ACCOUNT_ID}:application-inference-profile/abc123"
TITAN_EMBED_V2 = "amazon.titan-embed-text-v2:0"
TITAN_EMBED_V1 = "amazon.titan-embed-text-v1"
COHERE_EMBED_V3 = "cohere.embed-english-v3"
COHERE_EMBED_V4 = "cohere.embed-v4:0"

CHAT_MODELS = frozenset(
    {
        CLAUDE,
        "anthropic.claude-3-haiku-20240307-v1:0",
        "amazon.nova-lite-v1:0",
        "meta.llama3-1-8b-instruct-v1:0",
    }
)
#: Native vector size of each embedding model.
EMBEDDING_MODELS: Mapping[str, int] = {
    TITAN_EMBED_V2: 1024,
    TITAN_EMBED_V1: 1536,
    COHERE_EMBED_V3: 1024,
    "cohere.embed-multilingual-v3": 1024,
    COHERE_EMBED_V4: 1536,
}
_GEO_PREFIXES = frozenset({"us", "eu", "apac", "us-gov", "jp", "au", "ca", "global"})

EVENTSTREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"
_ROUTE = re.compile(r"/model/(?P<model>[^/]+)/(?P<operation>converse|converse-stream|invoke)")
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,"
    r"\s*SignedHeaders=(?P<signed>[a-z0-9;-]+),\s*Signature=(?P<signature>[0-9a-f]{64})"
)
_TOOL_USE_ID = re.compile(r"[a-zA-Z0-9_.:-]{1,64}")
_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_TOKENS = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_PIECES = re.compile(r"\S+\s*")
_CONTENT_BLOCK_MEMBERS = frozenset(
    {"text", "image", "document", "video", "audio", "toolUse", "toolResult", "guardContent", "cachePoint"}
    | {"reasoningContent", "citationsContent", "searchResult"}
)
_CORAL = "http://internal.amazon.com/coral/com.amazon.bedrock/"
_CORAL_FRONTEND = "http://internal.amazon.com/coral/com.amazon.coral.service/"
#: Status of each modelled exception, for the HTTP error answer of a streamed exception type.
ERROR_STATUS: Mapping[str, int] = {
    "ValidationException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ModelTimeoutException": 408,
    "ThrottlingException": 429,
    "ModelNotReadyException": 429,
    "ModelErrorException": 424,
    "ModelStreamErrorException": 424,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}


def count_tokens(text: str) -> int:
    return len(_TOKENS.findall(text))


def bedrock_error(status: int, error_type: str, message: str, headers: Mapping[str, str] | None = None) -> FakeResponse:
    """An error answer as Bedrock sends it: JSON `{"message"}`, the type in `x-amzn-ErrorType`."""
    namespace = _CORAL_FRONTEND if error_type in _FRONTEND_ERRORS else _CORAL
    return FakeResponse.json(
        {"message": message},
        status=status,
        headers={
            "x-amzn-ErrorType": f"{error_type}:{namespace}",
            "x-amzn-RequestId": str(uuid.uuid4()),
            **(headers or {}),
        },
    )


_FRONTEND_ERRORS = frozenset(
    {
        "MissingAuthenticationTokenException",
        "IncompleteSignatureException",
        "InvalidSignatureException",
        "UnrecognizedClientException",
        "UnknownOperationException",
        "SerializationException",
    }
)


def encode_event_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One `application/vnd.amazon.eventstream` message: prelude (total and headers length, CRC32),
    string headers (type 7), payload, and a CRC32 of everything before it."""
    encoded_headers = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        encoded_headers += struct.pack(">B", len(raw_name)) + raw_name + b"\x07"
        encoded_headers += struct.pack(">H", len(raw_value)) + raw_value
    total_length = 12 + len(encoded_headers) + len(payload) + 4
    prelude = struct.pack(">II", total_length, len(encoded_headers))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded_headers + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event(event_type: str, payload: Mapping[str, Any]) -> bytes:
    # The service pads every event with a "p" field of varying length so that sizes leak no tokens.
    padded = {**payload, "p": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[: 5 + len(event_type)]}
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_event_message(headers, json.dumps(padded).encode())


def exception_event(member: str, message: str) -> bytes:
    """A modelled exception inside the stream; `member` is the union member name (`throttlingException`)."""
    headers = {":exception-type": member, ":content-type": "application/json", ":message-type": "exception"}
    return encode_event_message(headers, json.dumps({"message": message}).encode())


class ServiceError(Exception):
    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.response = bedrock_error(status, error_type, message)


def _invalid(message: str) -> ServiceError:
    return ServiceError(400, "ValidationException", message)


def _constraint(value: Any, path: str, constraint: str) -> ServiceError:
    """The service's generic (Smithy) constraint violation message."""
    return _invalid(
        f"1 validation error detected: Value '{value}' at '{path}' failed to satisfy constraint: {constraint}"
    )


def _blank_text(shape: str, where: str) -> str:
    return f"The text field in the {shape} object at {where} is blank. Add text to the text field, and try again."


_START_WITH_USER = (
    "A conversation must start with a user message. Try again with a conversation that starts with a user message."
)
_CHAT_ONLY = "This action doesn't support the model that you provided. Try again with a supported text or chat model."


def _malformed(detail: str) -> ServiceError:
    return _invalid(f"Malformed input request: {detail}, please reformat your input and try again.")


@dataclass
class BedrockCall:
    """A request the fake accepted (signature valid, route known), with its decoded model id."""

    operation: str
    model_id: str
    body: Any
    headers: dict[str, str]


@dataclass
class _Reply:
    content: list[dict[str, Any]]
    stop_reason: str
    input_tokens: int
    output_tokens: int


@dataclass
class StreamError:
    """An exception event sent after `after_events` normal events of the next stream."""

    member: str
    message: str
    after_events: int = 2


@dataclass
class FakeBedrock:
    """The fake service; use as a context manager. `fail_next()` queues raw faults for the next requests."""

    region: str = REGION
    credentials: dict[str, tuple[str, str | None]] = field(
        default_factory=lambda: {
            ACCESS_KEY_ID: (SECRET_ACCESS_KEY, None),
            TEMPORARY_ACCESS_KEY_ID: (TEMPORARY_SECRET_ACCESS_KEY, SESSION_TOKEN),
        }
    )
    #: Application inference profile ARN -> the foundation model it routes to.
    application_profiles: dict[str, str] = field(default_factory=lambda: {APPLICATION_PROFILE_ARN: CLAUDE})
    #: Prompts with more input tokens are refused like an over-long prompt.
    context_window: int = 200_000
    #: When set, the next answers stop for this reason (e.g. "guardrail_intervened").
    stop_reason_override: str | None = None
    #: When set, the next stream is interrupted by this exception event.
    stream_error: StreamError | None = None
    #: (after_events, seconds): the next stream stalls this long after that many events.
    stream_stall: tuple[int, float] | None = None
    calls: list[BedrockCall] = field(default_factory=list)
    #: Exceptions raised by the fake itself; a test fixture asserts there are none.
    handler_errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.server = FakeServer(self.handle)
        self._lock = threading.Lock()

    # ---- harness ----

    def __enter__(self) -> FakeBedrock:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.server.requests

    def fail_next(self, response: FakeResponse, times: int = 1) -> None:
        self.server.fail_next(response, times)

    def stall_next(self, seconds: float) -> None:
        """Answer the next request only after `seconds`, to provoke a client timeout. The body is chunked
        because FakeServer absorbs the broken pipe of a client that gave up only on chunked bodies."""
        self.fail_next(FakeResponse(headers={"Content-Type": "application/json"}, chunks=[b"{}"], delay=seconds))

    def reset(self) -> None:
        """Back to the initial state, so one running server can serve many tests (stopping one takes 0.5s)."""
        for setting in fields(self):
            default = setting.default_factory() if setting.default_factory is not MISSING else setting.default
            setattr(self, setting.name, default)
        self.server.requests.clear()
        self.server.faults.clear()

    def last_call(self, operation: str | None = None) -> BedrockCall:
        return [c for c in self.calls if operation is None or c.operation == operation][-1]

    # ---- dispatch ----

    def handle(self, request: RecordedRequest) -> FakeResponse:
        try:
            return self._handle(request)
        except ServiceError as exc:
            return exc.response
        except Exception:
            self.handler_errors.append(traceback.format_exc())
            return bedrock_error(500, "InternalServerException", "The fake failed; see handler_errors.")

    def _handle(self, request: RecordedRequest) -> FakeResponse:
        refusal = self._check_signature(request)
        if refusal is not None:
            return refusal
        route = _ROUTE.fullmatch(request.path)
        if route is None or request.method != "POST":
            return bedrock_error(404, "UnknownOperationException", "")
        model_id = unquote(route["model"])
        operation = route["operation"]
        if operation == "invoke":
            body = self._invoke_body(request)
        else:
            try:
                body = json.loads(request.body or b"{}")
            except ValueError:
                return bedrock_error(400, "SerializationException", "Unexpected character in the request body")
        with self._lock:
            self.calls.append(BedrockCall(operation, model_id, body, dict(request.headers)))
        model = self._resolve_model(model_id)
        if operation == "invoke":
            return self._invoke(model, body)
        if model in EMBEDDING_MODELS:
            raise _invalid(_CHAT_ONLY)
        reply = self._converse(body)
        if operation == "converse":
            return self._converse_response(reply)
        return self._converse_stream_response(reply)

    def _resolve_model(self, model_id: str) -> str:
        if model_id in self.application_profiles:
            return self.application_profiles[model_id]
        if model_id.startswith("arn:aws:bedrock:") and ":application-inference-profile/" in model_id:
            raise ServiceError(404, "ResourceNotFoundException", "The specified inference profile was not found.")
        foundation = re.fullmatch(r"arn:aws:bedrock:[a-z0-9-]+::foundation-model/(.+)", model_id)
        base = foundation[1] if foundation else model_id
        prefix, _, rest = base.partition(".")
        if prefix in _GEO_PREFIXES and not foundation:
            base = rest
        if base in CHAT_MODELS or base in EMBEDDING_MODELS:
            return base
        raise _invalid("The provided model identifier is invalid.")

    # ---- SigV4 ----

    def _check_signature(self, request: RecordedRequest) -> FakeResponse | None:
        header = request.headers.get("authorization", "")
        if not header:
            return bedrock_error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        parts = _AUTHORIZATION.fullmatch(header.strip())
        if parts is None:
            if header.startswith("Bearer "):
                return bedrock_error(
                    403, "UnrecognizedClientException", "The security token included in the request is invalid."
                )
            return bedrock_error(
                403,
                "IncompleteSignatureException",
                f"Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. "
                f"Authorization={header}",
            )
        if parts["key"] not in self.credentials:
            return bedrock_error(
                403, "UnrecognizedClientException", "The security token included in the request is invalid."
            )
        secret, token = self.credentials[parts["key"]]
        signed = parts["signed"].split(";")
        amz_date = request.headers.get("x-amz-date", "")
        try:
            signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            return bedrock_error(
                403,
                "IncompleteSignatureException",
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
            )
        if "host" not in signed or "x-amz-date" not in signed or any(h not in request.headers for h in signed):
            return bedrock_error(403, "IncompleteSignatureException", "Signed headers are missing from the request.")
        if parts["date"] != amz_date[:8]:
            return bedrock_error(
                403,
                "InvalidSignatureException",
                f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                f"'{parts['date']}' != '{amz_date[:8]}', from '{amz_date}'.",
            )
        if abs((datetime.now(UTC) - signed_at).total_seconds()) > 300:
            return bedrock_error(
                403,
                "InvalidSignatureException",
                f"Signature expired: {amz_date} is now earlier than the allowed window.",
            )
        if parts["region"] != self.region:
            return bedrock_error(403, "InvalidSignatureException", "Credential should be scoped to a valid region. ")
        if parts["service"] != "bedrock":
            return bedrock_error(
                403, "InvalidSignatureException", "Credential should be scoped to correct service: 'bedrock'. "
            )
        if token is not None and (
            request.headers.get("x-amz-security-token") != token or "x-amz-security-token" not in signed
        ):
            return bedrock_error(
                403, "UnrecognizedClientException", "The security token included in the request is invalid."
            )
        query = urlencode(request.query, doseq=True)
        url = f"http://{request.headers['host']}{request.path}" + (f"?{query}" if query else "")
        received = AWSRequest(
            method=request.method, url=url, headers={h: request.headers[h] for h in signed}, data=request.body
        )
        received.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(parts["key"], secret, token), parts["service"], parts["region"])
        expected = signer.signature(signer.string_to_sign(received, signer.canonical_request(received)), received)
        if not hmac.compare_digest(expected, parts["signature"]):
            return bedrock_error(
                403,
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. Check your AWS "
                "Secret Access Key and signing method. Consult the service documentation for details.",
            )
        return None

    # ---- Converse ----

    def _converse(self, body: Any) -> _Reply:
        if not isinstance(body, dict):
            raise ServiceError(400, "SerializationException", "Request body must be a JSON object")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _invalid(_START_WITH_USER)
        system = body.get("system", [])
        _validate_system(system)
        tool_config = body.get("toolConfig")
        tool_names = _validate_tool_config(tool_config) if tool_config is not None else []
        _validate_messages(messages, has_tool_config=tool_config is not None)
        inference = body.get("inferenceConfig", {})
        _validate_inference_config(inference)

        texts = [block["text"] for block in system if "text" in block]
        for message in messages:
            for block in message["content"]:
                texts.extend(_block_texts(block))
        if tool_config is not None:
            texts.append(json.dumps(tool_config))
        input_tokens = sum(count_tokens(t) for t in texts) + 3 * len(messages)
        if input_tokens > self.context_window:
            raise _invalid("Input is too long for requested model.")
        return self._answer(messages, tool_config, tool_names, inference, input_tokens)

    def _answer(
        self,
        messages: list[dict[str, Any]],
        tool_config: dict[str, Any] | None,
        tool_names: list[str],
        inference: dict[str, Any],
        input_tokens: int,
    ) -> _Reply:
        last_user = next((m for m in reversed(messages) if m["role"] == "user"), messages[-1])
        results = [b["toolResult"] for b in last_user["content"] if "toolResult" in b]
        user_text = " ".join(b["text"] for b in last_user["content"] if "text" in b)
        if results:
            quoted = " ".join(t for r in results for c in r["content"] for t in _result_texts(c))
            return self._text_reply(f'The tool returned: "{quoted}"', inference, input_tokens)
        tool = _tool_to_call(tool_config, tool_names, user_text) if last_user is messages[-1] else None
        if tool is None:
            return self._text_reply(f'You said: "{user_text}"', inference, input_tokens)
        spec = next(t["toolSpec"] for t in tool_config["tools"] if t.get("toolSpec", {}).get("name") == tool)  # type: ignore[index]
        properties = spec["inputSchema"]["json"].get("properties") or {}
        tool_input = {next(iter(properties)): user_text} if properties else {}
        digest = hashlib.sha256((tool + user_text).encode()).digest()
        tool_use_id = "tooluse_" + base64.urlsafe_b64encode(digest).decode()[:22]
        preamble = f"I'll use the {tool} tool."
        content = [{"text": preamble}, {"toolUse": {"toolUseId": tool_use_id, "name": tool, "input": tool_input}}]
        output_tokens = count_tokens(preamble) + count_tokens(json.dumps(tool_input)) + 5
        return _Reply(content, self._stop("tool_use"), input_tokens, output_tokens)

    def _text_reply(self, text: str, inference: dict[str, Any], input_tokens: int) -> _Reply:
        stop_reason = "end_turn"
        for stop in inference.get("stopSequences", []):
            if stop in text:
                text, stop_reason = text[: text.index(stop)], "stop_sequence"
        max_tokens = inference.get("maxTokens")
        if max_tokens is not None and count_tokens(text) > max_tokens:
            kept = ""
            for piece in _PIECES.findall(text):
                if count_tokens(kept + piece) > max_tokens:
                    break
                kept += piece
            text, stop_reason = kept, "max_tokens"
        stop_reason = self._stop(stop_reason)
        if stop_reason == "guardrail_intervened":
            text = "Sorry, the model cannot answer this question."
        return _Reply([{"text": text}], stop_reason, input_tokens, count_tokens(text))

    def _stop(self, natural: str) -> str:
        return self.stop_reason_override or natural

    def _converse_response(self, reply: _Reply) -> FakeResponse:
        payload = {
            "output": {"message": {"role": "assistant", "content": reply.content}},
            "stopReason": reply.stop_reason,
            "usage": _usage(reply),
            "metrics": {"latencyMs": 42},
        }
        return FakeResponse.json(payload, headers={"x-amzn-RequestId": str(uuid.uuid4())})

    def _converse_stream_response(self, reply: _Reply) -> FakeResponse:
        events = [event("messageStart", {"role": "assistant"})]
        for index, block in enumerate(reply.content):
            if "text" in block:
                events += [
                    event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": piece}})
                    for piece in _PIECES.findall(block["text"]) or [""]
                ]
            else:
                tool_use = block["toolUse"]
                start = {"toolUse": {"toolUseId": tool_use["toolUseId"], "name": tool_use["name"]}}
                events.append(event("contentBlockStart", {"contentBlockIndex": index, "start": start}))
                arguments = json.dumps(tool_use["input"])
                for offset in range(0, len(arguments), 8):
                    delta = {"toolUse": {"input": arguments[offset : offset + 8]}}
                    events.append(event("contentBlockDelta", {"contentBlockIndex": index, "delta": delta}))
            events.append(event("contentBlockStop", {"contentBlockIndex": index}))
        events.append(event("messageStop", {"stopReason": reply.stop_reason}))
        events.append(event("metadata", {"usage": _usage(reply), "metrics": {"latencyMs": 42}}))
        stream_error, self.stream_error = self.stream_error, None
        if stream_error is not None:
            events = [*events[: stream_error.after_events], exception_event(stream_error.member, stream_error.message)]
        stall, self.stream_stall = self.stream_stall, None
        return FakeResponse(
            headers={"Content-Type": EVENTSTREAM_CONTENT_TYPE, "x-amzn-RequestId": str(uuid.uuid4())},
            chunks=_stalled(events, stall),
        )

    # ---- InvokeModel (embeddings) ----

    def _invoke_body(self, request: RecordedRequest) -> Any:
        if request.headers.get("content-type", "application/json").split(";")[0] != "application/json":
            raise _invalid("The provided Content-Type is not supported; use application/json.")
        try:
            return json.loads(request.body)
        except ValueError:
            raise _invalid("Malformed input request, please reformat your input and try again.") from None

    def _invoke(self, model: str, body: Any) -> FakeResponse:
        if model not in EMBEDDING_MODELS:
            raise _malformed("#: required key [messages] not found")
        if not isinstance(body, dict):
            raise _malformed("#: expected type: JSONObject")
        if model.startswith("amazon.titan-embed"):
            return self._titan_embedding(model, body)
        return self._cohere_embedding(model, body)

    def _titan_embedding(self, model: str, body: dict[str, Any]) -> FakeResponse:
        allowed = (
            {"inputText"} if model == TITAN_EMBED_V1 else {"inputText", "dimensions", "normalize", "embeddingTypes"}
        )
        _check_keys(body, allowed, required={"inputText"})
        text = body["inputText"]
        if not isinstance(text, str) or not text:
            raise _malformed("#/inputText: expected minLength: 1, actual: 0")
        dimensions = body.get("dimensions", EMBEDDING_MODELS[model])
        if dimensions not in (256, 512, 1024, 1536) or (model != TITAN_EMBED_V1 and dimensions == 1536):
            raise _malformed(f"#/dimensions: {dimensions} is not a valid enum value")
        normalize = body.get("normalize", True)
        if not isinstance(normalize, bool):
            raise _malformed("#/normalize: expected type: Boolean, found: " + type(normalize).__name__)
        vector = hashed_vector(text, dimensions, normalize=normalize)
        tokens = count_tokens(text)
        payload: dict[str, Any] = {"embedding": vector, "inputTextTokenCount": tokens}
        if model != TITAN_EMBED_V1:
            payload["embeddingsByType"] = {"float": vector}
        return _invoke_response(payload, tokens)

    def _cohere_embedding(self, model: str, body: dict[str, Any]) -> FakeResponse:
        allowed = {"texts", "images", "input_type", "truncate", "embedding_types"}
        if model == COHERE_EMBED_V4:
            allowed |= {"output_dimension", "max_tokens", "inputs"}
        _check_keys(body, allowed, required={"input_type"})
        texts = body.get("texts")
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise _malformed("#/texts: expected type: JSONArray")
        if not 1 <= len(texts) <= 96:
            raise _malformed(f"#/texts: expected maximum item count: 96, found: {len(texts)}")
        if any(len(t) > 2048 for t in texts):
            raise _malformed("#/texts: expected maxLength: 2048")
        if body["input_type"] not in ("search_document", "search_query", "classification", "clustering"):
            raise _malformed(f"#/input_type: {body['input_type']} is not a valid enum value")
        dimensions = body.get("output_dimension", EMBEDDING_MODELS[model])
        if dimensions not in (256, 512, 1024, 1536):
            raise _malformed(f"#/output_dimension: {dimensions} is not a valid enum value")
        vectors = [hashed_vector(t, dimensions, normalize=True) for t in texts]
        payload: dict[str, Any] = {"id": str(uuid.uuid4()), "texts": texts}
        if model == COHERE_EMBED_V4:
            payload |= {"embeddings": {"float": vectors}, "response_type": "embeddings_by_type"}
        else:
            payload |= {"embeddings": vectors, "response_type": "embeddings_floats"}
        return _invoke_response(payload, sum(count_tokens(t) for t in texts))


# ---- validation helpers (messages mirror the service's) ----


def _validate_system(system: Any) -> None:
    if not isinstance(system, list):
        raise ServiceError(400, "SerializationException", "system must be a list")
    for index, block in enumerate(system):
        if not isinstance(block, dict) or len(block) != 1 or not set(block) <= {"text", "guardContent", "cachePoint"}:
            raise _invalid(f"The SystemContentBlock at system.{index} must contain exactly one member.")
        if "text" in block and (not isinstance(block["text"], str) or not block["text"].strip()):
            raise _invalid(_blank_text("SystemContentBlock", f"system.{index}"))


def _validate_messages(messages: list[Any], *, has_tool_config: bool) -> None:
    previous_tool_use_ids: set[str] = set()
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise _constraint("null", f"messages.{index + 1}.member.role", "Member must not be null")
        role = message["role"]
        if role not in ("user", "assistant"):
            raise _constraint(
                role, f"messages.{index + 1}.member.role", "Member must satisfy enum value set: [user, assistant]"
            )
        if index == 0 and role != "user":
            raise _invalid(_START_WITH_USER)
        if index > 0 and role == messages[index - 1]["role"]:
            raise _invalid(
                "A conversation must alternate between user and assistant roles. Make sure the conversation "
                "alternates between user and assistant roles and try again."
            )
        content = message["content"]
        if not isinstance(content, list) or not content:
            raise _invalid(
                f"The content field in the Message object at messages.{index} is empty. "
                "Add a ContentBlock object to the content field and try again."
            )
        tool_use_ids: set[str] = set()
        tool_result_ids: set[str] = set()
        for position, block in enumerate(content):
            where = f"messages.{index}.content.{position}"
            if not isinstance(block, dict) or len(block) != 1 or not set(block) <= _CONTENT_BLOCK_MEMBERS:
                raise _invalid(f"The ContentBlock at {where} must contain exactly one supported member.")
            if "text" in block and (not isinstance(block["text"], str) or not block["text"].strip()):
                raise _invalid(_blank_text("ContentBlock", where))
            if "toolUse" in block:
                if role != "assistant":
                    raise _invalid(f"The toolUse content block at {where} is only allowed in assistant messages.")
                tool_use_ids.add(_validate_tool_use(block["toolUse"], where))
            if "toolResult" in block:
                if role != "user":
                    raise _invalid(f"The toolResult content block at {where} is only allowed in user messages.")
                tool_result_ids.add(_validate_tool_result(block["toolResult"], where))
        if (tool_use_ids or tool_result_ids) and not has_tool_config:
            raise _invalid("The toolConfig field must be defined when using toolUse and toolResult content blocks.")
        if role == "user" and tool_result_ids != previous_tool_use_ids:
            if not tool_result_ids:
                ids = ", ".join(sorted(previous_tool_use_ids))
                raise _invalid(f"Expected toolResult blocks at messages.{index}.content for the following Ids: {ids}")
            raise _invalid(
                f"The number of toolResult blocks at messages.{index}.content exceeds the number of toolUse "
                "blocks of previous turn."
            )
        if role == "assistant":
            previous_tool_use_ids = tool_use_ids


def _validate_tool_use(tool_use: Any, where: str) -> str:
    if not isinstance(tool_use, dict) or not {"toolUseId", "name", "input"} <= set(tool_use):
        raise _invalid(f"The toolUse at {where} requires toolUseId, name and input.")
    if not isinstance(tool_use["toolUseId"], str) or not _TOOL_USE_ID.fullmatch(tool_use["toolUseId"]):
        raise _constraint(
            tool_use["toolUseId"],
            f"{where}.toolUse.toolUseId",
            "Member must satisfy regular expression pattern: [a-zA-Z0-9_.:-]+",
        )
    if not isinstance(tool_use["input"], dict):
        raise _invalid(f"The input field of the toolUse at {where} must be a JSON object.")
    return tool_use["toolUseId"]


def _validate_tool_result(result: Any, where: str) -> str:
    if not isinstance(result, dict) or not {"toolUseId", "content"} <= set(result):
        raise _invalid(f"The toolResult at {where} requires toolUseId and content.")
    if not isinstance(result["content"], list):
        raise ServiceError(400, "SerializationException", f"{where}.toolResult.content must be a list")
    for item in result["content"]:
        if (
            not isinstance(item, dict)
            or len(item) != 1
            or not set(item) <= {"text", "json", "image", "document", "video", "searchResult"}
        ):
            raise _invalid(f"The ToolResultContentBlock at {where} must contain exactly one supported member.")
    if result.get("status", "success") not in ("success", "error"):
        raise _constraint(
            result["status"], f"{where}.toolResult.status", "Member must satisfy enum value set: [success, error]"
        )
    return result["toolUseId"]


def _validate_tool_config(tool_config: Any) -> list[str]:
    if not isinstance(tool_config, dict) or not isinstance(tool_config.get("tools"), list) or not tool_config["tools"]:
        raise _constraint("[]", "toolConfig.tools", "Member must have length greater than or equal to 1")
    names: list[str] = []
    for index, tool in enumerate(tool_config["tools"]):
        spec = tool.get("toolSpec") if isinstance(tool, dict) else None
        if not isinstance(spec, dict) or not {"name", "inputSchema"} <= set(spec):
            raise _invalid(f"The toolSpec at toolConfig.tools.{index} requires name and inputSchema.")
        if not isinstance(spec["name"], str) or not _TOOL_NAME.fullmatch(spec["name"]):
            raise _constraint(
                spec["name"],
                f"toolConfig.tools.{index + 1}.member.toolSpec.name",
                "Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+",
            )
        if "description" in spec and (not isinstance(spec["description"], str) or not spec["description"]):
            raise _constraint(
                spec["description"],
                f"toolConfig.tools.{index + 1}.member.toolSpec.description",
                "Member must have length greater than or equal to 1",
            )
        schema = spec["inputSchema"].get("json") if isinstance(spec["inputSchema"], dict) else None
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise _invalid(
                f"The value at toolConfig.tools.{index}.toolSpec.inputSchema.json.type must be one of the "
                "following: object."
            )
        if spec["name"] in names:
            raise _invalid(
                f"The tool name {spec['name']} at toolConfig.tools.{index} is not unique. Tool names must be unique."
            )
        names.append(spec["name"])
    choice = tool_config.get("toolChoice")
    if choice is not None:
        if not isinstance(choice, dict) or len(choice) != 1 or not set(choice) <= {"auto", "any", "tool"}:
            raise _invalid("The toolChoice field must contain exactly one of auto, any or tool.")
        if "tool" in choice and choice["tool"].get("name") not in names:
            raise _invalid(f"The tool {choice['tool'].get('name')} in toolChoice is not defined in toolConfig.tools.")
    return names


def _validate_inference_config(inference: Any) -> None:
    if not isinstance(inference, dict):
        raise ServiceError(400, "SerializationException", "inferenceConfig must be an object")
    max_tokens = inference.get("maxTokens")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)):
        raise ServiceError(400, "SerializationException", "NUMBER_VALUE can not be converted to an Integer")
    if max_tokens is not None and max_tokens < 1:
        raise _constraint(max_tokens, "inferenceConfig.maxTokens", "Member must have value greater than or equal to 1")
    for name in ("temperature", "topP"):
        value = inference.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ServiceError(400, "SerializationException", f"{name} must be a number")
        if not 0 <= value <= 1:
            bound = "less than or equal to 1" if value > 1 else "greater than or equal to 0"
            raise _constraint(value, f"inferenceConfig.{name}", f"Member must have value {bound}")
    stops = inference.get("stopSequences", [])
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise _constraint(
            stops,
            "inferenceConfig.stopSequences",
            "Member must satisfy constraint: [Member must have length greater than or equal to 1]",
        )


def _check_keys(body: dict[str, Any], allowed: set[str], *, required: set[str]) -> None:
    for key in body:
        if key not in allowed:
            raise _malformed(f"#: extraneous key [{key}] is not permitted")
    for key in sorted(required):
        if key not in body:
            raise _malformed(f"#: required key [{key}] not found")


# ---- reply helpers ----


def _tool_to_call(tool_config: dict[str, Any] | None, tool_names: list[str], user_text: str) -> str | None:
    if tool_config is None:
        return None
    choice = tool_config.get("toolChoice") or {"auto": {}}
    if "tool" in choice:
        return choice["tool"]["name"]
    mentioned = [name for name in tool_names if name in user_text]
    if "any" in choice:
        return (mentioned or tool_names)[0]
    return mentioned[0] if mentioned else None


def _block_texts(block: dict[str, Any]) -> list[str]:
    if "text" in block:
        return [block["text"]]
    if "toolUse" in block:
        return [block["toolUse"]["name"], json.dumps(block["toolUse"]["input"])]
    if "toolResult" in block:
        return [t for c in block["toolResult"]["content"] for t in _result_texts(c)]
    return []


def _result_texts(item: dict[str, Any]) -> list[str]:
    if "text" in item:
        return [item["text"]]
    if "json" in item:
        return [json.dumps(item["json"])]
    return []


def _usage(reply: _Reply) -> dict[str, int]:
    return {
        "inputTokens": reply.input_tokens,
        "outputTokens": reply.output_tokens,
        "totalTokens": reply.input_tokens + reply.output_tokens,
    }


def _invoke_response(payload: dict[str, Any], input_tokens: int) -> FakeResponse:
    # InvokeModel reports usage in headers for every model, including those (Cohere) whose body has none.
    return FakeResponse.json(
        payload,
        headers={
            "x-amzn-RequestId": str(uuid.uuid4()),
            "X-Amzn-Bedrock-Invocation-Latency": "37",
            "X-Amzn-Bedrock-Input-Token-Count": str(input_tokens),
            "X-Amzn-Bedrock-Output-Token-Count": "0",
        },
    )


def _stalled(events: list[bytes], stall: tuple[int, float] | None) -> Iterator[bytes]:
    for index, chunk in enumerate(events):
        if stall is not None and index == stall[0]:
            time.sleep(stall[1])
        yield chunk


def hashed_vector(text: str, dimensions: int, *, normalize: bool) -> list[float]:
    """A deterministic bag-of-words vector, so texts sharing words land near each other."""
    vector = [0.0] * dimensions
    for word in re.findall(r"\w+", text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        vector[int.from_bytes(digest[:4], "big") % dimensions] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector] if normalize else vector
