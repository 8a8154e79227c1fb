"""A strict, wire-compatible fake of the OCI Generative AI inference API (version 20231130).

It speaks what the real `oci` SDK sends and parses: `POST /20231130/actions/chat` and
`POST /20231130/actions/embedText`, JSON in camelCase, streamed chats as Server-Sent Events
(`data: {json}` blocks, content type exactly `text/event-stream`), and OCI's error body
`{"code": ..., "message": ...}` with an `opc-request-id` header on every answer.

Strict where the real service is strict:

- every request must carry a valid OCI HTTP signature (draft-cavage "Signature" scheme, version 1,
  rsa-sha256). The signing string is rebuilt from the listed headers and verified against the
  registered public key of `keyId="<tenancy>/<user>/<fingerprint>"`; POST bodies must be covered by
  `content-length`, `content-type` and a matching `x-content-sha256`. Resource-principal callers
  sign with `keyId="ST$<session token>"`: the token must be a JWT issued by the fake's identity key,
  and its `jwk` claim holds the session public key the request is verified with. Failures answer
  401 NotAuthenticated;
- bodies are validated (compartment, serving mode, API format, message roles and shapes, tool
  definitions, tool results pointing at calls that exist) and rejected with 400 InvalidParameter;
- an unknown compartment or model answers 404 NotAuthorizedOrNotFound, as OCI does for anything the
  caller may not see.

Replies are deterministic and derived from the request: the model quotes the last user message
(or the last tool result), calls a tool when the tool choice demands it or the user names the tool,
honours maxTokens (one word per token) and stop sequences, and reports usage. A user message
containing `FORBIDDEN` is "moderated" (GENERIC finishReason `content_filter`, COHERE `ERROR_TOXIC`).
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import re
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.fakes.server import FakeResponse, FakeServer, RecordedRequest

API_VERSION = "/20231130"
CHAT_PATH = f"{API_VERSION}/actions/chat"
EMBED_PATH = f"{API_VERSION}/actions/embedText"
DEFAULT_CHAT_MODELS = frozenset(
    {
        "meta.llama-3.3-70b-instruct",
        "xai.grok-3",
        "openai.gpt-oss-120b",
        "google.gemini-2.5-flash",
        "cohere.command-r-plus-08-2024",
        "cohere.command-a-03-2025",
    }
)
DEFAULT_EMBED_MODELS = frozenset({"cohere.embed-english-v3.0", "cohere.embed-multilingual-v3.0", "cohere.embed-v4.0"})
MAX_EMBED_INPUTS = 96
MAX_CLOCK_SKEW_SECONDS = 300
NOT_AUTHENTICATED = "The required information to complete authentication was not provided or was incorrect."
NOT_FOUND = "Authorization failed or requested resource not found."
_TOKENS = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_WORDS = re.compile(r"\S+\s*")
_AUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')
_SIGNED_BODY_HEADERS = ("content-length", "content-type", "x-content-sha256")


class Rejected(Exception):
    def __init__(self, response: FakeResponse) -> None:
        super().__init__(response.status)
        self.response = response


def oci_error(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> FakeResponse:
    """An error exactly as OCI sends it: `{"code", "message"}` plus an `opc-request-id` header."""
    return FakeResponse.json(
        {"code": code, "message": message},
        status=status,
        headers={"opc-request-id": _request_id(), **(headers or {})},
    )


def throttled(retry_after: int | None = None) -> FakeResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return oci_error(429, "TooManyRequests", "Too many requests for the user.", headers)


def fingerprint_of(public_key: rsa.RSAPublicKey) -> str:
    """OCI's API key fingerprint: the MD5 of the DER public key, as colon-separated hex pairs."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashlib.md5(der).hexdigest()  # noqa: S324 - OCI defines fingerprints as MD5, not as a security hash
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def issue_session_token(
    identity_key: rsa.RSAPrivateKey,
    session_public_key: rsa.RSAPublicKey,
    *,
    tenancy: str,
    compartment: str,
    ttl_seconds: int = 3600,
) -> str:
    """A resource principal session token (RPST) as OCI's identity service would issue one."""
    numbers = session_public_key.public_numbers()
    now = int(time.time())
    claims = {
        "sub": "ocid1.datasciencenotebooksession.oc1..fake",
        "res_tenant": tenancy,
        "res_compartment": compartment,
        "ptype": "resource",
        "iat": now,
        "exp": now + ttl_seconds,
        "jwk": {
            "kty": "RSA",
            "alg": "RS256",
            "kid": "session",
            "n": _b64url_int(numbers.n),
            "e": _b64url_int(numbers.e),
        },
    }
    return jwt.encode(claims, identity_key, algorithm="RS256")


class FakeOCIGenAI:
    """The fake service; use as a context manager, point the SDK's `service_endpoint` at `url`."""

    def __init__(
        self,
        *,
        compartment_id: str,
        chat_models: frozenset[str] = DEFAULT_CHAT_MODELS,
        embed_models: frozenset[str] = DEFAULT_EMBED_MODELS,
        dedicated_endpoints: frozenset[str] = frozenset(),
        context_window: int = 8192,
    ) -> None:
        self.compartment_id = compartment_id
        self.chat_models = chat_models
        self.embed_models = embed_models
        self.dedicated_endpoints = dedicated_endpoints
        self.context_window = self._default_context_window = context_window
        self._api_keys: dict[str, rsa.RSAPublicKey] = {}
        self._identity_keys: list[rsa.RSAPublicKey] = []
        #: Bodies of the requests that passed authentication and validation, in order.
        self.accepted: list[dict[str, Any]] = []
        #: Seconds to stall after the first streamed event (to provoke a mid-stream read timeout).
        self.stall_stream_after_first_event: float = 0.0
        self.server = FakeServer(self._handle)

    # ---- set-up ----

    def register_api_key(self, *, tenancy: str, user: str, public_key: rsa.RSAPublicKey) -> str:
        """Uploads an API signing key for a user; returns its fingerprint."""
        fingerprint = fingerprint_of(public_key)
        self._api_keys[f"{tenancy}/{user}/{fingerprint}"] = public_key
        return fingerprint

    def trust_identity_key(self, public_key: rsa.RSAPublicKey) -> None:
        """Accepts session tokens (resource/instance principals) signed by this identity key."""
        self._identity_keys.append(public_key)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.server.requests

    def fail_next(self, response: FakeResponse, times: int = 1) -> None:
        self.server.fail_next(response, times)

    def reset(self) -> None:
        """Forgets recorded requests, queued faults and per-test tweaks, so one server can serve many tests."""
        self.server.requests.clear()
        self.server.faults.clear()
        self.accepted.clear()
        self.context_window = self._default_context_window
        self.stall_stream_after_first_event = 0.0

    def last_chat_request(self) -> dict[str, Any]:
        return next(body["chatRequest"] for body in reversed(self.accepted) if "chatRequest" in body)

    def __enter__(self) -> FakeOCIGenAI:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    # ---- request handling ----

    def _handle(self, request: RecordedRequest) -> FakeResponse:
        try:
            if request.path not in (CHAT_PATH, EMBED_PATH):
                raise Rejected(oci_error(404, "NotAuthorizedOrNotFound", NOT_FOUND))
            if request.method != "POST":
                raise Rejected(oci_error(405, "MethodNotAllowed", f"Method {request.method} is not allowed."))
            self._authenticate(request)
            body = _json_body(request)
            if request.path == CHAT_PATH:
                return self._chat(body)
            return self._embed(body)
        except Rejected as rejected:
            return rejected.response

    def _authenticate(self, request: RecordedRequest) -> None:
        headers = request.headers
        authorization = headers.get("authorization", "")
        if not authorization.startswith("Signature "):
            raise _unauthenticated()
        params = dict(_AUTH_PARAM.findall(authorization))
        if params.get("version") != "1" or params.get("algorithm") != "rsa-sha256":
            raise _unauthenticated()
        signed = params.get("headers", "").split()
        required = ["date", "(request-target)", "host"]
        if request.method in ("POST", "PUT", "PATCH"):
            required += _SIGNED_BODY_HEADERS
        if any(name not in signed for name in required) or any(
            name != "(request-target)" and name not in headers for name in signed
        ):
            raise _unauthenticated()
        if not _date_is_fresh(headers["date"]):
            raise _unauthenticated()
        if "x-content-sha256" in signed:
            digest = base64.b64encode(hashlib.sha256(request.body).digest()).decode()
            if headers["x-content-sha256"] != digest or headers["content-length"] != str(len(request.body)):
                raise _unauthenticated()
        public_key = self._public_key_for(params.get("keyId", ""))
        target = request.path
        if request.query:
            target += "?" + "&".join(f"{k}={v}" for k, values in request.query.items() for v in values)
        lines = [
            f"(request-target): {request.method.lower()} {target}"
            if name == "(request-target)"
            else f"{name}: {headers[name]}"
            for name in signed
        ]
        try:
            signature = base64.b64decode(params.get("signature", ""), validate=True)
            public_key.verify(signature, "\n".join(lines).encode(), padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError):
            raise _unauthenticated() from None

    def _public_key_for(self, key_id: str) -> rsa.RSAPublicKey:
        if not key_id.startswith("ST$"):
            key = self._api_keys.get(key_id)
            if key is None:
                raise _unauthenticated()
            return key
        token = key_id.removeprefix("ST$")
        for identity_key in self._identity_keys:
            try:
                claims = jwt.decode(token, identity_key, algorithms=["RS256"])
            except jwt.PyJWTError:
                continue
            jwk = claims.get("jwk") or {}
            try:
                numbers = rsa.RSAPublicNumbers(_int_b64url(jwk["e"]), _int_b64url(jwk["n"]))
                return numbers.public_key()
            except (KeyError, ValueError):
                break
        raise _unauthenticated()

    def _serving_model(self, body: Mapping[str, Any], known: frozenset[str]) -> str:
        compartment = body.get("compartmentId")
        if not isinstance(compartment, str) or not compartment:
            raise _invalid("compartmentId is required.")
        if not re.match(r"^ocid1\.(compartment|tenancy)\.", compartment):
            raise _invalid(f"Invalid compartmentId: '{compartment}'.")
        if compartment != self.compartment_id:
            raise Rejected(oci_error(404, "NotAuthorizedOrNotFound", NOT_FOUND))
        mode = body.get("servingMode")
        if not isinstance(mode, dict):
            raise _invalid("servingMode is required.")
        serving_type = mode.get("servingType")
        if serving_type == "ON_DEMAND":
            model = mode.get("modelId")
            if not isinstance(model, str) or not model:
                raise _invalid("servingMode.modelId is required for servingType ON_DEMAND.")
            if model not in known:
                raise Rejected(oci_error(404, "NotAuthorizedOrNotFound", f"Entity with key {model} not found"))
            return model
        if serving_type == "DEDICATED":
            endpoint = mode.get("endpointId")
            if not isinstance(endpoint, str) or not endpoint.startswith("ocid1.generativeaiendpoint."):
                raise _invalid("servingMode.endpointId must be a generative AI endpoint OCID.")
            if endpoint not in self.dedicated_endpoints:
                raise Rejected(oci_error(404, "NotAuthorizedOrNotFound", NOT_FOUND))
            return endpoint
        raise _invalid(f"Invalid servingMode.servingType: '{serving_type}'. Expected ON_DEMAND or DEDICATED.")

    # ---- chat ----

    def _chat(self, body: dict[str, Any]) -> FakeResponse:
        model = self._serving_model(body, self.chat_models)
        chat = body.get("chatRequest")
        if not isinstance(chat, dict):
            raise _invalid("chatRequest is required.")
        api_format = chat.get("apiFormat")
        if api_format == "GENERIC":
            conversation = _validate_generic(chat)
        elif api_format == "COHERE":
            conversation = _validate_cohere(chat)
        else:
            raise _invalid(f"Invalid chatRequest.apiFormat: '{api_format}'. Expected GENERIC or COHERE.")
        _validate_sampling(chat, stop_key="stop" if api_format == "GENERIC" else "stopSequences")
        prompt_tokens = conversation.prompt_tokens
        if prompt_tokens > self.context_window:
            raise _invalid(
                f"Input is too long: the prompt has {prompt_tokens} tokens, which exceeds the maximum context "
                f"length of {self.context_window} tokens for this model. Please reduce the length of the messages."
            )
        self.accepted.append(body)
        answer = _answer(conversation, chat)
        if api_format == "GENERIC" and not answer.tool_calls and chat.get("responseFormat") is not None:
            answer.text = _formatted_answer(chat["responseFormat"])
        elif api_format == "COHERE" and not answer.tool_calls and chat.get("responseFormat") is not None:
            answer.text = _cohere_formatted_answer(chat["responseFormat"])
        if chat.get("isStream"):
            return self._stream(api_format, answer, chat)
        payload = _generic_result(answer) if api_format == "GENERIC" else _cohere_result(answer)
        return FakeResponse.json(
            {"modelId": model, "modelVersion": "1.0", "chatResponse": payload},
            headers={"opc-request-id": _request_id()},
        )

    def _stream(self, api_format: str, answer: _Answer, chat: Mapping[str, Any]) -> FakeResponse:
        include_usage = bool((chat.get("streamOptions") or {}).get("isIncludeUsage"))
        events = (
            _generic_events(answer, include_usage) if api_format == "GENERIC" else _cohere_events(answer, include_usage)
        )
        return FakeResponse(
            headers={"Content-Type": "text/event-stream", "opc-request-id": _request_id()},
            chunks=self._sse(events),
        )

    def _sse(self, events: Iterator[dict[str, Any]]) -> Iterator[bytes]:
        for number, event in enumerate(events):
            if number == 1 and self.stall_stream_after_first_event:
                time.sleep(self.stall_stream_after_first_event)
            yield b"data: " + json.dumps(event).encode() + b"\n\n"

    # ---- embeddings ----

    def _embed(self, body: dict[str, Any]) -> FakeResponse:
        model = self._serving_model(body, self.embed_models)
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
            raise _invalid("inputs must be a non-empty list of strings.")
        if len(inputs) > MAX_EMBED_INPUTS:
            raise _invalid(f"inputs must contain at most {MAX_EMBED_INPUTS} items.")
        if body.get("truncate", "NONE") not in ("NONE", "START", "END"):
            raise _invalid(f"Invalid truncate: '{body.get('truncate')}'.")
        input_type = body.get("inputType", "SEARCH_DOCUMENT")
        if input_type not in ("SEARCH_DOCUMENT", "SEARCH_QUERY", "CLASSIFICATION", "CLUSTERING", "IMAGE"):
            raise _invalid(f"Invalid inputType: '{input_type}'.")
        dimensions = body.get("outputDimensions")
        if dimensions is not None and (model != "cohere.embed-v4.0" or dimensions not in (256, 512, 1024, 1536)):
            raise _invalid(f"outputDimensions {dimensions} is not supported by this model.")
        size = dimensions or (1536 if model == "cohere.embed-v4.0" else 1024)
        self.accepted.append(body)
        tokens = sum(_count_tokens(text) for text in inputs)
        return FakeResponse.json(
            {
                "id": str(uuid.uuid4()),
                "embeddings": [_embedding(f"{input_type}:{text}", size) for text in inputs],
                "modelId": model,
                "modelVersion": "3.0",
                "usage": {"promptTokens": tokens, "totalTokens": tokens},
            },
            headers={"opc-request-id": _request_id()},
        )


# ---- request validation ----


class _Conversation:
    """What the fake model needs from either API format."""

    def __init__(self) -> None:
        self.last_text = ""
        self.last_is_tool_result = False
        self.texts: list[str] = []
        self.tools: dict[str, list[str]] = {}
        #: None (let the model decide), "none", "required", or a tool name.
        self.tool_choice: str | None = None

    @property
    def prompt_tokens(self) -> int:
        return sum(_count_tokens(text) for text in self.texts) + 4 * len(self.texts)


def _formatted_answer(response_format: Any) -> str:
    """GENERIC `responseFormat`: TEXT, JSON_OBJECT, or JSON_SCHEMA with `jsonSchema.name` and `schema`.
    The answer is `{"fake": true}`, or the schema's required properties set to null."""
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "JSON_OBJECT":
        return json.dumps({"fake": True})
    if kind != "JSON_SCHEMA":
        raise _invalid(f"Invalid chatRequest.responseFormat.type: '{kind}'.")
    spec = response_format.get("jsonSchema")
    if not isinstance(spec, dict) or not spec.get("name") or not isinstance(spec.get("schema"), dict):
        raise _invalid("chatRequest.responseFormat.jsonSchema needs a name and a schema object.")
    return json.dumps(dict.fromkeys(spec["schema"].get("required") or ()))


def _cohere_formatted_answer(response_format: Any) -> str:
    """COHERE `responseFormat`: TEXT, or JSON_OBJECT with an optional `schema` object (Cohere's
    format has no name and no strict flag). The answer is `{"fake": true}`, or the schema's
    required properties set to null."""
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind not in ("TEXT", "JSON_OBJECT") or set(response_format) - {"type", "schema"}:
        raise _invalid(f"Invalid chatRequest.responseFormat for a COHERE request: {response_format!r}.")
    schema = response_format.get("schema")
    if schema is None:
        return json.dumps({"fake": True})
    if not isinstance(schema, dict):
        raise _invalid("chatRequest.responseFormat.schema must be an object.")
    return json.dumps(dict.fromkeys(schema.get("required") or ()))


def _validate_generic(chat: Mapping[str, Any]) -> _Conversation:
    conversation = _Conversation()
    messages = chat.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _invalid("chatRequest.messages must be a non-empty list.")
    previous_calls: set[str] = set()
    for position, message in enumerate(messages):
        where = f"chatRequest.messages[{position}]"
        if not isinstance(message, dict):
            raise _invalid(f"{where} must be an object.")
        role = message.get("role")
        if role not in ("SYSTEM", "USER", "ASSISTANT", "TOOL", "DEVELOPER"):
            raise _invalid(f"Invalid {where}.role: '{role}'.")
        text = _generic_text(message.get("content"), where, required=role in ("SYSTEM", "USER", "DEVELOPER", "TOOL"))
        calls: set[str] = set()
        if role == "ASSISTANT":
            for number, call in enumerate(message.get("toolCalls") or []):
                call_where = f"{where}.toolCalls[{number}]"
                if not isinstance(call, dict) or call.get("type") != "FUNCTION":
                    raise _invalid(f"{call_where}.type must be FUNCTION.")
                for field in ("id", "name", "arguments"):
                    if not isinstance(call.get(field), str) or not call[field]:
                        raise _invalid(f"{call_where}.{field} is required.")
                _parse_json_object(call["arguments"], f"{call_where}.arguments")
                calls.add(call["id"])
            if not text and not calls:
                raise _invalid(f"{where} must have content or toolCalls.")
        if role == "TOOL":
            call_id = message.get("toolCallId")
            if not isinstance(call_id, str) or not call_id:
                raise _invalid(f"{where}.toolCallId is required.")
            if call_id not in previous_calls:
                raise _invalid(
                    f"Invalid parameter: 'toolCallId' of '{call_id}' not found in 'toolCalls' of previous message."
                )
            calls = previous_calls  # parallel results all answer the same assistant turn
        previous_calls = calls
        conversation.texts.append(text)
        if role in ("USER", "TOOL"):
            conversation.last_text = text
            conversation.last_is_tool_result = role == "TOOL"
    for number, tool in enumerate(chat.get("tools") or []):
        where = f"chatRequest.tools[{number}]"
        if not isinstance(tool, dict) or tool.get("type") != "FUNCTION":
            raise _invalid(f"{where}.type must be FUNCTION.")
        if not isinstance(tool.get("name"), str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", tool["name"]):
            raise _invalid(f"{where}.name is invalid.")
        parameters = tool.get("parameters", {})
        if not isinstance(parameters, dict) or parameters.get("type", "object") != "object":
            raise _invalid(f"{where}.parameters must be a JSON schema object.")
        conversation.tools[tool["name"]] = list((parameters.get("properties") or {}).keys())
    choice = chat.get("toolChoice")
    if choice is not None:
        kind = choice.get("type") if isinstance(choice, dict) else None
        if kind not in ("AUTO", "NONE", "REQUIRED", "FUNCTION"):
            raise _invalid(f"Invalid chatRequest.toolChoice.type: '{kind}'.")
        if kind in ("REQUIRED", "FUNCTION") and not conversation.tools:
            raise _invalid("chatRequest.toolChoice requires tools.")
        if kind == "FUNCTION" and choice.get("name") not in conversation.tools:
            raise _invalid(f"chatRequest.toolChoice.name '{choice.get('name')}' is not one of the tools.")
        conversation.tool_choice = {"AUTO": None, "NONE": "none", "REQUIRED": "required"}.get(kind, choice.get("name"))
    return conversation


def _generic_text(content: Any, where: str, *, required: bool) -> str:
    if content is None:
        if required:
            raise _invalid(f"{where}.content is required.")
        return ""
    if not isinstance(content, list) or (required and not content):
        raise _invalid(f"{where}.content must be a non-empty list.")
    pieces = []
    for number, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") != "TEXT" or not isinstance(part.get("text"), str):
            raise _invalid(f"{where}.content[{number}] must be a TEXT content with a text string.")
        pieces.append(part["text"])
    return "".join(pieces)


def _validate_cohere(chat: Mapping[str, Any]) -> _Conversation:
    conversation = _Conversation()
    message = chat.get("message")
    tool_results = chat.get("toolResults")
    if not isinstance(message, str):
        raise _invalid("chatRequest.message is required.")
    if not message and not tool_results:
        raise _invalid("chatRequest.message must not be empty unless toolResults are given.")
    preamble = chat.get("preambleOverride")
    if preamble is not None:
        if not isinstance(preamble, str):
            raise _invalid("chatRequest.preambleOverride must be a string.")
        conversation.texts.append(preamble)
    for position, turn in enumerate(chat.get("chatHistory") or []):
        where = f"chatRequest.chatHistory[{position}]"
        role = turn.get("role") if isinstance(turn, dict) else None
        if role in ("USER", "SYSTEM"):
            if not isinstance(turn.get("message"), str) or not turn["message"]:
                raise _invalid(f"{where}.message is required.")
            conversation.texts.append(turn["message"])
        elif role == "CHATBOT":
            if not isinstance(turn.get("message"), str) or not turn["message"]:
                raise _invalid(f"{where}.message is required.")
            for number, call in enumerate(turn.get("toolCalls") or []):
                _validate_cohere_call(call, f"{where}.toolCalls[{number}]")
            conversation.texts.append(turn["message"])
        elif role == "TOOL":
            results = turn.get("toolResults")
            if not isinstance(results, list) or not results:
                raise _invalid(f"{where}.toolResults is required.")
            conversation.texts.extend(_validate_cohere_results(results, f"{where}.toolResults"))
        else:
            raise _invalid(f"Invalid {where}.role: '{role}'. Expected USER, CHATBOT, SYSTEM or TOOL.")
    for number, tool in enumerate(chat.get("tools") or []):
        where = f"chatRequest.tools[{number}]"
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str) or not tool["name"]:
            raise _invalid(f"{where}.name is required.")
        if not isinstance(tool.get("description"), str) or not tool["description"]:
            raise _invalid(f"{where}.description is required.")
        definitions = tool.get("parameterDefinitions") or {}
        for name, definition in definitions.items():
            if not isinstance(definition, dict) or not isinstance(definition.get("type"), str):
                raise _invalid(f"{where}.parameterDefinitions.{name}.type is required.")
        conversation.tools[tool["name"]] = list(definitions.keys())
    if tool_results is not None:
        if not isinstance(tool_results, list) or not tool_results:
            raise _invalid("chatRequest.toolResults must be a non-empty list.")
        outputs = _validate_cohere_results(tool_results, "chatRequest.toolResults")
        conversation.texts.extend(outputs)
        conversation.last_text = outputs[-1]
        conversation.last_is_tool_result = True
    else:
        conversation.last_text = message
    conversation.texts.append(message)
    return conversation


def _validate_cohere_call(call: Any, where: str) -> None:
    if not isinstance(call, dict) or not isinstance(call.get("name"), str) or not call["name"]:
        raise _invalid(f"{where}.name is required.")
    if not isinstance(call.get("parameters"), dict):
        raise _invalid(f"{where}.parameters must be an object.")


def _validate_cohere_results(results: list[Any], where: str) -> list[str]:
    outputs = []
    for number, result in enumerate(results):
        if not isinstance(result, dict):
            raise _invalid(f"{where}[{number}] must be an object.")
        _validate_cohere_call(result.get("call"), f"{where}[{number}].call")
        items = result.get("outputs")
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
            raise _invalid(f"{where}[{number}].outputs must be a non-empty list of objects.")
        first = items[0]
        outputs.append(str(first["output"]) if "output" in first else json.dumps(first))
    return outputs


def _validate_sampling(chat: Mapping[str, Any], *, stop_key: str) -> None:
    max_tokens = chat.get("maxTokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise _invalid("chatRequest.maxTokens must be a positive integer.")
    temperature = chat.get("temperature")
    if temperature is not None and (not isinstance(temperature, int | float) or not 0 <= temperature <= 2):
        raise _invalid("chatRequest.temperature must be between 0 and 2.")
    top_p = chat.get("topP")
    if top_p is not None and (not isinstance(top_p, int | float) or not 0 <= top_p <= 1):
        raise _invalid("chatRequest.topP must be between 0 and 1.")
    stop = chat.get(stop_key)
    if stop is not None and (not isinstance(stop, list) or not all(isinstance(s, str) for s in stop)):
        raise _invalid(f"chatRequest.{stop_key} must be a list of strings.")


# ---- the deterministic model ----


class _Answer:
    def __init__(self) -> None:
        self.text = ""
        self.tool_calls: list[tuple[str, str, dict[str, Any]]] = []  # (id, name, arguments)
        self.finish = "stop"  # stop | length | tool_calls | content_filter
        self.prompt_tokens = 0

    @property
    def completion_tokens(self) -> int:
        spoken = self.text + "".join(name + json.dumps(arguments) for _, name, arguments in self.tool_calls)
        return _count_tokens(spoken)


def _answer(conversation: _Conversation, chat: Mapping[str, Any]) -> _Answer:
    answer = _Answer()
    answer.prompt_tokens = conversation.prompt_tokens
    if "FORBIDDEN" in conversation.last_text:
        answer.finish = "content_filter"
        return answer
    tool = _tool_to_call(conversation)
    if tool is not None:
        properties = conversation.tools[tool]
        arguments = {properties[0]: conversation.last_text} if properties else {}
        call_id = "call_" + hashlib.sha256(f"{tool}{arguments}".encode()).hexdigest()[:20]
        answer.tool_calls.append((call_id, tool, arguments))
        answer.finish = "tool_calls"
        return answer
    if conversation.last_is_tool_result:
        text = f"The tool returned: {conversation.last_text}"
    else:
        text = f"You said: {conversation.last_text}"
    for stop in chat.get("stop") or chat.get("stopSequences") or []:
        if stop and stop in text:
            text = text[: text.index(stop)]
    words = _WORDS.findall(text)
    max_tokens = chat.get("maxTokens")
    if max_tokens is not None and len(words) > max_tokens:
        text = "".join(words[:max_tokens]).rstrip()
        answer.finish = "length"
    answer.text = text
    return answer


def _tool_to_call(conversation: _Conversation) -> str | None:
    if not conversation.tools or conversation.tool_choice == "none" or conversation.last_is_tool_result:
        return None
    if conversation.tool_choice in conversation.tools:
        return conversation.tool_choice
    named = [name for name in conversation.tools if name in conversation.last_text]
    if named:
        return named[0]
    if conversation.tool_choice == "required":
        return next(iter(conversation.tools))
    return None


_GENERIC_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "content_filter": "content_filter"}
_COHERE_FINISH = {"stop": "COMPLETE", "length": "MAX_TOKENS", "tool_calls": "COMPLETE", "content_filter": "ERROR_TOXIC"}


def _usage(answer: _Answer) -> dict[str, int]:
    return {
        "promptTokens": answer.prompt_tokens,
        "completionTokens": answer.completion_tokens,
        "totalTokens": answer.prompt_tokens + answer.completion_tokens,
    }


def _generic_result(answer: _Answer) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "ASSISTANT"}
    if answer.text:
        message["content"] = [{"type": "TEXT", "text": answer.text}]
    if answer.tool_calls:
        message["toolCalls"] = [
            {"type": "FUNCTION", "id": call_id, "name": name, "arguments": json.dumps(arguments)}
            for call_id, name, arguments in answer.tool_calls
        ]
    return {
        "apiFormat": "GENERIC",
        "timeCreated": datetime.now(UTC).isoformat(),
        "choices": [{"index": 0, "message": message, "finishReason": _GENERIC_FINISH[answer.finish]}],
        "usage": _usage(answer),
    }


def _cohere_result(answer: _Answer) -> dict[str, Any]:
    result: dict[str, Any] = {
        "apiFormat": "COHERE",
        "text": answer.text,
        "finishReason": _COHERE_FINISH[answer.finish],
        "usage": _usage(answer),
    }
    if answer.tool_calls:
        result["toolCalls"] = [{"name": name, "parameters": arguments} for _, name, arguments in answer.tool_calls]
    return result


def _generic_events(answer: _Answer, include_usage: bool) -> Iterator[dict[str, Any]]:
    for piece in _WORDS.findall(answer.text):
        yield {"index": 0, "message": {"role": "ASSISTANT", "content": [{"type": "TEXT", "text": piece}]}, "pad": "aaa"}
    for call_id, name, arguments in answer.tool_calls:
        # Like gpt-oss on OCI: the first fragment names the call, later ones only carry arguments.
        text = json.dumps(arguments)
        middle = len(text) // 2
        yield {
            "index": 0,
            "message": {
                "role": "ASSISTANT",
                "toolCalls": [{"type": "FUNCTION", "id": call_id, "name": name, "arguments": text[:middle]}],
            },
        }
        yield {
            "index": 0,
            "message": {"role": "ASSISTANT", "toolCalls": [{"type": "FUNCTION", "arguments": text[middle:]}]},
        }
    yield {"index": 0, "message": {"role": "ASSISTANT"}, "finishReason": _GENERIC_FINISH[answer.finish], "pad": "aaa"}
    if include_usage:
        yield {"usage": _usage(answer)}


def _cohere_events(answer: _Answer, include_usage: bool) -> Iterator[dict[str, Any]]:
    for piece in _WORDS.findall(answer.text):
        yield {"apiFormat": "COHERE", "text": piece}
    calls = [{"name": name, "parameters": arguments} for _, name, arguments in answer.tool_calls]
    if calls:
        yield {"apiFormat": "COHERE", "text": "", "toolCalls": calls}
    final: dict[str, Any] = {"apiFormat": "COHERE", "text": answer.text, "finishReason": _COHERE_FINISH[answer.finish]}
    if calls:
        final["toolCalls"] = calls  # the final event repeats the whole answer, as the real stream does
    if include_usage:
        final["usage"] = _usage(answer)
    yield final


# ---- helpers ----


def _json_body(request: RecordedRequest) -> dict[str, Any]:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise _invalid("Content-Type must be application/json.")
    try:
        body = request.json()
    except (ValueError, UnicodeDecodeError):
        raise _invalid("Unable to parse the request body as JSON.") from None
    if not isinstance(body, dict):
        raise _invalid("The request body must be a JSON object.")
    return body


def _parse_json_object(text: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise _invalid(f"{where} must be a JSON object encoded as a string.") from None
    if not isinstance(value, dict):
        raise _invalid(f"{where} must be a JSON object encoded as a string.")
    return value


def _date_is_fresh(value: str) -> bool:
    try:
        sent = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return False
    return abs((datetime.now(UTC) - sent).total_seconds()) <= MAX_CLOCK_SKEW_SECONDS


def _unauthenticated() -> Rejected:
    return Rejected(oci_error(401, "NotAuthenticated", NOT_AUTHENTICATED))


def _invalid(message: str) -> Rejected:
    return Rejected(oci_error(400, "InvalidParameter", message))


def _request_id() -> str:
    return uuid.uuid4().hex.upper()


def _count_tokens(text: str) -> int:
    return len(_TOKENS.findall(text))


def _embedding(text: str, size: int) -> list[float]:
    seed = hashlib.sha256(text.encode()).digest()
    raw = [((seed[i % len(seed)] ^ (i * 31)) % 255) / 127.0 - 1.0 for i in range(size)]
    norm = sum(v * v for v in raw) ** 0.5 or 1.0
    return [round(v / norm, 6) for v in raw]


def _b64url_int(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _int_b64url(text: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")
