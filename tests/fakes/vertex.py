"""A strict fake of Vertex AI's REST API, good enough for the real `google-genai` SDK to talk to.

It serves one project and one location, the way a regional endpoint
(`https://{location}-aiplatform.googleapis.com`) does:

- `POST /v1/projects/{p}/locations/{l}/publishers/google/models/{m}:generateContent`, and
  `:streamGenerateContent?alt=sse` (Server-Sent Events, `data: {json}\\r\\n\\r\\n`, one
  GenerateContentResponse per event);
- `:predict` for text-embedding-00x and gemini-embedding-001 (`instances[].content`), and
  `:embedContent` for the newer Gemini embedding models (one `content` per call), which is how the
  SDK routes them;
- `POST /token`, an OAuth 2.0 token endpoint for service-account keys (the JWT-bearer grant), so
  the service-account path is exercised end to end with a key whose `token_uri` points here.

Like the real service it requires `Authorization: Bearer <token>` (401 UNAUTHENTICATED), answers
another project with 403 PERMISSION_DENIED and an unknown model or location with 404 NOT_FOUND,
parses bodies the way protobuf JSON does (lowerCamelCase or the original snake_case field names,
unknown fields and wrong types refused), enforces Gemini's turn rules (function call and response
turns, their counts, thought signatures on Gemini 3) and answers errors with Google's body
`{"error": {"code", "message", "status"}}`. Messages copy the service's wording where we know it.

Replies are deterministic: `Echo: <last user text>`; after function responses, what the tools
returned. The model calls a tool when `toolConfig` forces one (mode ANY) or when the user text
names a declared function. `maxOutputTokens` and `stopSequences` are honoured, so `MAX_TOKENS` and
`STOP` happen naturally. Gemini 2.5 and later report thinking tokens, as they think by default.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from .server import FakeResponse, FakeServer, RecordedRequest

DEFAULT_PROJECT = "acme-genai-prod"
DEFAULT_LOCATION = "europe-west4"
DEFAULT_TOKEN = "ya29.a0-fake-vertex-access-token"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
SKIP_SIGNATURE = "skip_thought_signature_validator"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"

#: model id -> maximum maxOutputTokens (exclusive bound is this + 1, as the service words it).
CHAT_MODELS = {
    "gemini-2.0-flash-001": 8192,
    "gemini-2.5-flash": 65535,
    "gemini-2.5-flash-lite": 65535,
    "gemini-2.5-pro": 65535,
    "gemini-3-pro-preview": 65535,
    "gemini-3-flash-preview": 65535,
}
#: model id -> full vector size.
PREDICT_EMBEDDING_MODELS = {
    "text-embedding-005": 768,
    "text-multilingual-embedding-002": 768,
    "gemini-embedding-001": 3072,
}
EMBED_CONTENT_MODELS = {"gemini-embedding-2-preview": 3072}
THINKING_TOKENS = 16
EMBEDDING_TASK_TYPES = frozenset(
    {
        "RETRIEVAL_QUERY",
        "RETRIEVAL_DOCUMENT",
        "SEMANTIC_SIMILARITY",
        "CLASSIFICATION",
        "CLUSTERING",
        "QUESTION_ANSWERING",
        "FACT_VERIFICATION",
        "CODE_RETRIEVAL_QUERY",
    }
)

_PATH = re.compile(
    r"^/(?P<version>v1|v1beta1)/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
    r"/publishers/(?P<publisher>[^/]+)/models/(?P<model>[^/:]+):(?P<method>[A-Za-z]+)$"
)
_FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$")
_TOKENS = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_PIECES = re.compile(r"\S+\s*")
_LEARN_MORE = "Learn more: https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/gemini"

# Field names as protobuf JSON spells them (lowerCamelCase); snake_case spellings are accepted too.
_REQUEST_FIELDS = {
    "contents",
    "systemInstruction",
    "cachedContent",
    "tools",
    "toolConfig",
    "labels",
    "safetySettings",
    "modelArmorConfig",
    "generationConfig",
}
_CONTENT_FIELDS = {"role", "parts"}
_PART_DATA_FIELDS = {
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
}
_PART_FIELDS = _PART_DATA_FIELDS | {"thought", "thoughtSignature", "videoMetadata", "mediaResolution"}
_FUNCTION_CALL_FIELDS = {"id", "name", "args", "partialArgs", "willContinue"}
_FUNCTION_RESPONSE_FIELDS = {"id", "name", "response", "parts", "willContinue", "scheduling"}
_TOOL_FIELDS = {
    "functionDeclarations",
    "retrieval",
    "googleSearch",
    "googleSearchRetrieval",
    "codeExecution",
    "urlContext",
    "enterpriseWebSearch",
    "googleMaps",
    "computerUse",
}
_DECLARATION_FIELDS = {"name", "description", "parameters", "parametersJsonSchema", "response", "responseJsonSchema"}
_TOOL_CONFIG_FIELDS = {"functionCallingConfig", "retrievalConfig"}
_CALLING_CONFIG_FIELDS = {"mode", "allowedFunctionNames", "streamFunctionCallArguments"}
_CALLING_MODES = {"MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"}
#: generationConfig field -> protobuf type, for the type checks the service's JSON parser does.
_GENERATION_FIELDS = {
    "temperature": "TYPE_FLOAT",
    "topP": "TYPE_FLOAT",
    "topK": "TYPE_FLOAT",
    "candidateCount": "TYPE_INT32",
    "maxOutputTokens": "TYPE_INT32",
    "stopSequences": "TYPE_STRING[]",
    "presencePenalty": "TYPE_FLOAT",
    "frequencyPenalty": "TYPE_FLOAT",
    "seed": "TYPE_INT32",
    "responseMimeType": "TYPE_STRING",
    "responseSchema": "TYPE_MESSAGE",
    "responseJsonSchema": "TYPE_MESSAGE",
    "responseLogprobs": "TYPE_BOOL",
    "logprobs": "TYPE_INT32",
    "responseModalities": "TYPE_STRING[]",
    "thinkingConfig": "TYPE_MESSAGE",
    "mediaResolution": "TYPE_STRING",
    "speechConfig": "TYPE_MESSAGE",
    "routingConfig": "TYPE_MESSAGE",
    "audioTimestamp": "TYPE_BOOL",
}


class Rejected(Exception):
    """Raised while validating; carries the answer the service would give."""

    def __init__(self, response: FakeResponse) -> None:
        super().__init__(response.status)
        self.response = response


def google_error(
    code: int, status: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> FakeResponse:
    """An error the way Google APIs send it: `{"error": {"code", "message", "status", ...}}`."""
    return FakeResponse.json({"error": {"code": code, "message": message, "status": status, **extra}}, code, headers)


def invalid(message: str) -> Rejected:
    return Rejected(google_error(400, "INVALID_ARGUMENT", message))


@dataclass
class StreamInterruption:
    """What happens to the next stream after `after_events` events: an error event, a stall, a clean
    end without the final event, or (by default) a connection cut mid-body."""

    after_events: int
    error: dict[str, Any] | None = None
    stall_seconds: float = 0.0
    end_cleanly: bool = False


class VertexFake:
    """The fake service; use as a context manager. `url` is what goes in the account's `endpoint`."""

    def __init__(
        self, *, project: str = DEFAULT_PROJECT, location: str = DEFAULT_LOCATION, token: str = DEFAULT_TOKEN
    ) -> None:
        self.project = project
        self.location = location
        self._initial_token = token
        self.tokens = {token}
        #: Access tokens handed out by `/token`, and thought signatures attached to function calls, in order.
        self.issued_tokens: list[str] = []
        self.issued_signatures: list[str] = []
        #: Prompts longer than this many tokens are refused, as the model's context window would.
        self.context_window = 1_048_576
        self._service_accounts: dict[str, RSAPublicKey] = {}
        self._finish_reasons: deque[str] = deque()
        self._blocks: deque[str] = deque()
        self._interruptions: deque[StreamInterruption] = deque()
        self._lock = threading.Lock()
        self.server = FakeServer(self._handle)

    def __enter__(self) -> VertexFake:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def token_uri(self) -> str:
        return f"{self.server.url}/token"

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.server.requests

    def bodies(self, method: str) -> list[dict[str, Any]]:
        """The JSON bodies received for one API method (`generateContent`, `predict`, ...)."""
        return [r.json() for r in self.server.requests if r.path.endswith(f":{method}")]

    def reset(self) -> None:
        """Forgets requests, queued faults and hooks, so one running fake can serve many tests."""
        with self._lock:
            self.server.requests.clear()
            self.server.faults.clear()
            self.tokens = {self._initial_token}
            self.issued_tokens.clear()
            self.issued_signatures.clear()
            self.context_window = 1_048_576
            self._service_accounts.clear()
            self._finish_reasons.clear()
            self._blocks.clear()
            self._interruptions.clear()

    # ---- hooks for tests ----

    def fail_next(self, response: FakeResponse, times: int = 1) -> None:
        self.server.fail_next(response, times)

    def stall_next(self, seconds: float) -> None:
        """The next request gets no answer for `seconds` (to provoke a client timeout)."""
        # Sent chunked: by the time it is written the client has gone, and only the chunked writer
        # of FakeServer shrugs off the broken pipe instead of printing a traceback.
        self.server.fail_next(FakeResponse(200, {"Content-Type": "application/json"}, chunks=[b"{}"], delay=seconds))

    def finish_next_with(self, reason: str) -> None:
        """The next accepted generation ends with this finishReason (SAFETY, RECITATION, ...)."""
        with self._lock:
            self._finish_reasons.append(reason)

    def block_next_prompt(self, reason: str = "PROHIBITED_CONTENT") -> None:
        """The next accepted generation is refused with promptFeedback.blockReason and no candidates."""
        with self._lock:
            self._blocks.append(reason)

    def interrupt_next_stream(self, interruption: StreamInterruption) -> None:
        with self._lock:
            self._interruptions.append(interruption)

    def register_service_account(self, client_email: str, public_key: RSAPublicKey) -> None:
        """Lets `/token` accept JWT assertions signed by this key for this account."""
        self._service_accounts[client_email] = public_key

    # ---- dispatch ----

    def _handle(self, request: RecordedRequest) -> FakeResponse:
        try:
            if request.path == "/token":
                return self._token(request)
            return self._api(request)
        except Rejected as rejected:
            return rejected.response

    def _api(self, request: RecordedRequest) -> FakeResponse:
        match = _PATH.match(request.path)
        if match is None or request.method != "POST":
            # Google's front end answers unknown URLs with an HTML page, not a JSON error.
            return FakeResponse(
                404, {"Content-Type": "text/html; charset=UTF-8"}, b"<!DOCTYPE html><p>Error 404 (Not Found)!!1</p>"
            )
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self.tokens:
            raise Rejected(
                google_error(
                    401,
                    "UNAUTHENTICATED",
                    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
                    "other valid authentication credential. See "
                    "https://developers.google.com/identity/sign-in/web/devconsole-project.",
                    headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
                )
            )
        project, location, model, method = match["project"], match["location"], match["model"], match["method"]
        resource = f"projects/{project}/locations/{location}/publishers/{match['publisher']}/models/{model}"
        if project != self.project:
            raise Rejected(
                google_error(
                    403,
                    "PERMISSION_DENIED",
                    f"Permission 'aiplatform.endpoints.predict' denied on resource "
                    f"'//aiplatform.googleapis.com/{resource}' (or it may not exist).",
                    details=[
                        {
                            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": "IAM_PERMISSION_DENIED",
                            "domain": "aiplatform.googleapis.com",
                            "metadata": {"permission": "aiplatform.endpoints.predict", "resource": resource},
                        }
                    ],
                )
            )
        catalog = {
            "generateContent": CHAT_MODELS,
            "streamGenerateContent": CHAT_MODELS,
            "predict": PREDICT_EMBEDDING_MODELS,
            "embedContent": EMBED_CONTENT_MODELS,
        }.get(method)
        if catalog is None:
            raise Rejected(google_error(404, "NOT_FOUND", "Method not found."))
        if location != self.location or match["publisher"] != "google" or model not in catalog:
            raise Rejected(
                google_error(
                    404,
                    "NOT_FOUND",
                    f"Publisher Model `{resource}` was not found or your project does not have access to it. Please "
                    "ensure you are using a valid model version. For more information, see: "
                    "https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions",
                )
            )
        try:
            body = json.loads(request.body or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise invalid("Invalid JSON payload received. Unexpected token.") from None
        if not isinstance(body, dict):
            raise invalid("Invalid JSON payload received. Expected an object.")
        if method == "predict":
            return self._predict(model, body)
        if method == "embedContent":
            return self._embed_content(model, body)
        generation = self._generate(model, body)
        if method == "streamGenerateContent":
            return self._stream(generation, sse=request.query.get("alt") == ["sse"])
        return FakeResponse.json(generation.whole())

    # ---- generateContent ----

    def _generate(self, model: str, body: dict[str, Any]) -> Generation:
        request = _fields(body, "", _REQUEST_FIELDS)
        declared = _validate_tools(request.get("tools"))
        calling = _validate_tool_config(request.get("toolConfig"), declared)
        config = _validate_generation_config(request.get("generationConfig"), CHAT_MODELS[model])
        system = _validate_system_instruction(request.get("systemInstruction"))
        contents = _validate_contents(request.get("contents"))
        if _gemini_major(model) >= 3:
            _check_thought_signatures(contents)
        prompt_tokens = _count(system) + sum(_count(_content_text(c)) for c in contents)
        prompt_tokens += _count(json.dumps(request.get("tools") or []))
        if prompt_tokens > self.context_window:
            raise invalid(
                f"The input token count ({prompt_tokens}) exceeds the maximum number of tokens allowed "
                f"({self.context_window})."
            )
        with self._lock:
            block = self._blocks.popleft() if self._blocks else None
            forced_finish = self._finish_reasons.popleft() if self._finish_reasons else None
        response_id = base64.urlsafe_b64encode(hashlib.sha256(json.dumps(body).encode()).digest()[:15]).decode()
        generation = Generation(model=model, response_id=response_id, prompt_tokens=prompt_tokens)
        generation.thinking_tokens = THINKING_TOKENS if _gemini_version(model) >= (2, 5) else 0
        if block is not None:
            generation.block_reason = block
            return generation
        call = _tool_to_call(contents, declared, calling)
        if call is not None:
            name, args = call
            part: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
            if _gemini_major(model) >= 3:
                part["thoughtSignature"] = _sign(name, args)
                self.issued_signatures.append(part["thoughtSignature"])
            generation.parts = [part]
            generation.finish_reason = forced_finish or "STOP"
            return generation
        text, finish = _reply(contents, config)
        if config.get("responseMimeType") == "application/json":
            # JSON mode: the required properties of the schema (null), enough to show it arrived.
            schema = config.get("responseJsonSchema") or config.get("responseSchema") or {}
            text, finish = json.dumps(dict.fromkeys(schema.get("required") or ())), "STOP"
        if forced_finish in {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII"}:
            generation.parts = []  # the service withholds the blocked text
            generation.finish_reason = forced_finish
            return generation
        generation.parts = [{"text": text}]
        generation.finish_reason = forced_finish or finish
        return generation

    def _stream(self, generation: Generation, *, sse: bool) -> FakeResponse:
        with self._lock:
            interruption = self._interruptions.popleft() if self._interruptions else None
        events = generation.events()

        def frames() -> Iterator[bytes]:
            if not sse:
                # Without alt=sse the service streams one JSON array.
                yield b"[" + b",\r\n".join(json.dumps(e).encode() for e in events) + b"]"
                return
            for sent, event in enumerate(events):
                if interruption is not None and sent == interruption.after_events:
                    if interruption.error is not None:
                        yield b"data: " + json.dumps({"error": interruption.error}).encode() + b"\r\n\r\n"
                        return
                    if interruption.end_cleanly:
                        return
                    if interruption.stall_seconds:
                        time.sleep(interruption.stall_seconds)
                    else:
                        # Ends the connection without the last chunk, like a dropped stream.
                        raise ConnectionResetError("stream cut by the test")
                yield b"data: " + json.dumps(event).encode() + b"\r\n\r\n"

        content_type = "text/event-stream" if sse else "application/json; charset=UTF-8"
        return FakeResponse(200, {"Content-Type": content_type}, chunks=frames())

    # ---- embeddings ----

    def _predict(self, model: str, body: dict[str, Any]) -> FakeResponse:
        unknown = set(body) - {"instances", "parameters"}
        if unknown:
            raise invalid(f'Invalid JSON payload received. Unknown name "{sorted(unknown)[0]}": Cannot find field.')
        instances = body.get("instances")
        if not isinstance(instances, list) or not instances:
            raise invalid("Request contains an invalid argument.")
        if model == "gemini-embedding-001" and len(instances) > 1:
            raise invalid(f"Unable to submit request because {model} supports only one instance per request.")
        if len(instances) > 250:
            raise invalid(f"Unable to submit request because it has {len(instances)} instances; the limit is 250.")
        parameters = body.get("parameters") or {}
        if not isinstance(parameters, dict) or set(parameters) - {"outputDimensionality", "autoTruncate"}:
            raise invalid("Request contains an invalid argument.")
        dimensions = _dimensions(parameters.get("outputDimensionality"), PREDICT_EMBEDDING_MODELS[model])
        auto_truncate = parameters.get("autoTruncate", True)
        predictions = []
        total_tokens = 0
        for instance in instances:
            if not isinstance(instance, dict) or not isinstance(instance.get("content"), str):
                raise invalid("Request contains an invalid argument.")
            if set(instance) - {"content", "task_type", "title"}:
                raise invalid("Request contains an invalid argument.")
            task_type = instance.get("task_type")
            if task_type is not None and task_type not in EMBEDDING_TASK_TYPES:
                raise invalid(f"Unsupported task_type: {task_type}.")
            if "title" in instance and task_type != "RETRIEVAL_DOCUMENT":
                raise invalid("title is only valid with task_type RETRIEVAL_DOCUMENT.")
            tokens = _count(instance["content"])
            if tokens > 2048 and not auto_truncate:
                raise invalid(f"Unable to submit request because the input has {tokens} tokens; the limit is 2048.")
            total_tokens += min(tokens, 2048)
            predictions.append(
                {
                    "embeddings": {
                        "values": _embedding(instance["content"], dimensions),
                        "statistics": {"truncated": tokens > 2048, "token_count": min(tokens, 2048)},
                    }
                }
            )
        if total_tokens > 20_000:
            raise invalid(
                f"Unable to submit request because the input token count is {total_tokens} but the model supports up "
                "to 20000. Reduce the input token count and try again."
            )
        billable = sum(len(i["content"]) for i in instances)
        return FakeResponse.json({"predictions": predictions, "metadata": {"billableCharacterCount": billable}})

    def _embed_content(self, model: str, body: dict[str, Any]) -> FakeResponse:
        request = _fields(body, "", {"content", "embedContentConfig"})
        content = _fields(request.get("content"), "content", _CONTENT_FIELDS)
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            raise invalid(f"Unable to submit request because it must include at least one parts field. {_LEARN_MORE}")
        texts = [_fields(p, "content.parts", _PART_FIELDS).get("text") for p in parts]
        if not all(isinstance(t, str) and t for t in texts):
            raise invalid("Unable to submit request because it has an empty text parameter.")
        config = _fields(
            request.get("embedContentConfig") or {},
            "embed_content_config",
            {"taskType", "title", "outputDimensionality", "autoTruncate"},
        )
        task_type = config.get("taskType")
        if task_type is not None and task_type not in EMBEDDING_TASK_TYPES:
            raise invalid(
                f"Invalid value at 'embed_content_config.task_type' (type.googleapis.com/TaskType), \"{task_type}\""
            )
        text = " ".join(texts)
        tokens = _count(text)
        return FakeResponse.json(
            {
                "embedding": {
                    "values": _embedding(
                        text, _dimensions(config.get("outputDimensionality"), EMBED_CONTENT_MODELS[model])
                    )
                },
                "usageMetadata": {"promptTokenCount": tokens, "totalTokenCount": tokens},
                "truncated": False,
            }
        )

    # ---- OAuth token endpoint (service-account JWT-bearer grant) ----

    def _token(self, request: RecordedRequest) -> FakeResponse:
        def oauth_error(error: str, description: str) -> FakeResponse:
            return FakeResponse.json({"error": error, "error_description": description}, 400)

        if request.method != "POST":
            return FakeResponse(405, {"Content-Type": "text/plain"}, b"Method Not Allowed")
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" or "assertion" not in form:
            return oauth_error("unsupported_grant_type", "Invalid grant_type: " + form.get("grant_type", ""))
        try:
            header_b64, payload_b64, signature_b64 = form["assertion"].split(".")
            header = json.loads(_b64url(header_b64))
            claims = json.loads(_b64url(payload_b64))
            signature = _b64url(signature_b64)
        except (ValueError, binascii.Error):
            return oauth_error(
                "invalid_grant", "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe."
            )
        key = self._service_accounts.get(claims.get("iss", ""))
        if key is None:
            return oauth_error("invalid_grant", "Invalid grant: account not found")
        if header.get("alg") != "RS256":
            return oauth_error("invalid_grant", "Invalid JWT Signature.")
        try:
            key.verify(signature, f"{header_b64}.{payload_b64}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return oauth_error("invalid_grant", "Invalid JWT Signature.")
        now = time.time()
        # google-auth always addresses the assertion to Google's token endpoint, whatever token_uri says.
        if claims.get("aud") != GOOGLE_TOKEN_AUDIENCE or not (
            claims.get("iat", 0) - 300 <= now <= claims.get("exp", 0)
        ):
            return oauth_error(
                "invalid_grant", "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe."
            )
        if CLOUD_PLATFORM_SCOPE not in str(claims.get("scope", "")).split():
            return oauth_error("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        token = "ya29.c.sa-" + hashlib.sha256(form["assertion"].encode()).hexdigest()[:32]
        self.tokens.add(token)
        self.issued_tokens.append(token)
        return FakeResponse.json({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})


@dataclass
class Generation:
    """One model answer, rendered as a whole response or as stream events."""

    model: str
    response_id: str
    prompt_tokens: int
    parts: list[dict[str, Any]] | None = None
    finish_reason: str = "STOP"
    block_reason: str | None = None
    thinking_tokens: int = 0

    def _envelope(self, **fields: Any) -> dict[str, Any]:
        return {
            **fields,
            "modelVersion": self.model,
            "createTime": "2026-01-15T10:00:00.000000Z",
            "responseId": self.response_id,
        }

    def _usage(self) -> dict[str, Any]:
        output = sum(
            _count(p.get("text", "")) + _count(json.dumps(p.get("functionCall", ""))) for p in self.parts or []
        )
        usage: dict[str, Any] = {
            "promptTokenCount": self.prompt_tokens,
            "candidatesTokenCount": output,
            "totalTokenCount": self.prompt_tokens + output + self.thinking_tokens,
            "trafficType": "ON_DEMAND",
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": self.prompt_tokens}],
        }
        if self.thinking_tokens:
            usage["thoughtsTokenCount"] = self.thinking_tokens
        return usage

    def _candidate(self, parts: list[dict[str, Any]] | None, finish: bool) -> dict[str, Any]:
        candidate: dict[str, Any] = {}
        if parts is not None:
            candidate["content"] = {"role": "model", "parts": parts}
        if finish:
            candidate["finishReason"] = self.finish_reason
            if self.finish_reason == "SAFETY":
                candidate["safetyRatings"] = [
                    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}
                ]
        return candidate

    def _blocked(self) -> dict[str, Any]:
        return self._envelope(
            promptFeedback={"blockReason": self.block_reason, "blockReasonMessage": "The prompt was blocked."},
            usageMetadata={"promptTokenCount": self.prompt_tokens, "totalTokenCount": self.prompt_tokens},
        )

    def whole(self) -> dict[str, Any]:
        if self.block_reason is not None:
            return self._blocked()
        candidate = self._candidate(self.parts or None, finish=True)
        return self._envelope(candidates=[candidate], usageMetadata=self._usage())

    def events(self) -> list[dict[str, Any]]:
        if self.block_reason is not None:
            return [self._blocked()]
        parts = self.parts or []
        if parts and "text" in parts[0]:
            pieces = _PIECES.findall(parts[0]["text"]) or [""]
            events = [
                self._envelope(
                    candidates=[self._candidate([{"text": p}], finish=False)],
                    usageMetadata={"trafficType": "ON_DEMAND"},
                )
                for p in pieces[:-1]
            ]
            last = self._candidate([{"text": pieces[-1]}], finish=True)
            return [*events, self._envelope(candidates=[last], usageMetadata=self._usage())]
        events = []
        if parts:
            events.append(self._envelope(candidates=[self._candidate(parts, finish=False)]))
        # The service closes a function-call stream with an empty text part carrying the finish reason.
        last = self._candidate([{"text": ""}] if parts else None, finish=True)
        return [*events, self._envelope(candidates=[last], usageMetadata=self._usage())]


# ---- request validation (protobuf JSON rules) ----


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _fields(value: Any, where: str, allowed: set[str]) -> dict[str, Any]:
    """Checks an object's field names, accepting either spelling; returns it keyed by camelCase."""
    if not isinstance(value, dict):
        raise invalid(f"Invalid value at '{where}' (TYPE_MESSAGE), {json.dumps(value)}")
    fields: dict[str, Any] = {}
    for key, item in value.items():
        name = _camel(key)
        if name not in allowed:
            at = f" at '{where}'" if where else ""
            raise invalid(f'Invalid JSON payload received. Unknown name "{key}"{at}: Cannot find field.')
        if name in fields:
            raise invalid(f"Invalid JSON payload received. Field '{_snake(name)}' is set twice.")
        fields[name] = item
    return fields


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_type(value: Any, kind: str, where: str) -> None:
    ok = {
        "TYPE_FLOAT": _is_number(value),
        "TYPE_INT32": (isinstance(value, int) and not isinstance(value, bool))
        or (isinstance(value, str) and value.lstrip("-").isdigit()),
        "TYPE_STRING": isinstance(value, str),
        "TYPE_BOOL": isinstance(value, bool),
        "TYPE_MESSAGE": isinstance(value, dict),
        "TYPE_STRING[]": isinstance(value, list) and all(isinstance(v, str) for v in value),
    }[kind]
    if not ok:
        raise invalid(f"Invalid value at '{where}' ({kind.removesuffix('[]')}), {json.dumps(value)}")


def _validate_generation_config(value: Any, max_output_tokens: int) -> dict[str, Any]:
    if value is None:
        return {}
    config = _fields(value, "generation_config", set(_GENERATION_FIELDS))
    for name, item in config.items():
        _check_type(item, _GENERATION_FIELDS[name], f"generation_config.{_snake(name)}")

    def in_range(name: str, low: float, high: float) -> None:
        item = config.get(name)
        if item is not None and not (low <= float(item) < high):
            raise invalid(
                f"Unable to submit request because it has a {name} value of {item} but the supported range is from "
                f"{low:g} (inclusive) to {high:g} (exclusive). Update the value and try again."
            )

    in_range("temperature", 0, 2.0001)
    in_range("topP", 0, 1.0001)
    in_range("maxOutputTokens", 1, max_output_tokens + 1)
    if len(config.get("stopSequences") or []) > 5:
        raise invalid("Unable to submit request because it has more than 5 stop sequences.")
    if "responseSchema" in config and "responseJsonSchema" in config:
        raise invalid("responseSchema and responseJsonSchema cannot both be set.")
    if ("responseSchema" in config or "responseJsonSchema" in config) and config.get(
        "responseMimeType"
    ) != "application/json":
        raise invalid(
            "Unable to submit request because setting a response schema requires responseMimeType 'application/json'."
        )
    return config


def _validate_system_instruction(value: Any) -> str:
    if value is None:
        return ""
    instruction = _fields(value, "system_instruction", _CONTENT_FIELDS)
    parts = instruction.get("parts")
    if not isinstance(parts, list) or not parts:
        raise invalid(f"Unable to submit request because it must include at least one parts field. {_LEARN_MORE}")
    texts = []
    for index, raw in enumerate(parts):
        part = _fields(raw, f"system_instruction.parts[{index}]", _PART_FIELDS)
        if not isinstance(part.get("text"), str):
            raise invalid("System instruction must only contain text parts.")
        texts.append(part["text"])
    return " ".join(texts)


def _validate_tools(value: Any) -> dict[str, dict[str, Any]]:
    if value is None:
        return {}
    if not isinstance(value, list):
        raise invalid(f"Invalid value at 'tools' (TYPE_MESSAGE), {json.dumps(value)}")
    declared: dict[str, dict[str, Any]] = {}
    for t, raw_tool in enumerate(value):
        tool = _fields(raw_tool, f"tools[{t}]", _TOOL_FIELDS)
        declarations = tool.get("functionDeclarations") or []
        if not isinstance(declarations, list):
            raise invalid(
                f"Invalid value at 'tools[{t}].function_declarations' (TYPE_MESSAGE), {json.dumps(declarations)}"
            )
        for d, raw in enumerate(declarations):
            where = f"tools[{t}].function_declarations[{d}]"
            declaration = _fields(raw, where, _DECLARATION_FIELDS)
            name = declaration.get("name")
            if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
                raise invalid(
                    f"* GenerateContentRequest.{where}.name: Invalid function name. Must start with a letter or an "
                    "underscore. Must be a-z, A-Z, 0-9, or contain underscores, dots, colons and dashes, with a "
                    "maximum length of 64."
                )
            if name in declared:
                raise invalid(f"Duplicate function declaration found: {name}")
            if "parameters" in declaration and "parametersJsonSchema" in declaration:
                raise invalid(f"{where}: parameters and parameters_json_schema cannot both be set.")
            schema = declaration.get("parametersJsonSchema")
            if schema is not None and not isinstance(schema, dict | bool):
                raise invalid(f"Invalid value at '{where}.parameters_json_schema', {json.dumps(schema)}")
            if "description" in declaration:
                _check_type(declaration["description"], "TYPE_STRING", f"{where}.description")
            declared[name] = declaration
    return declared


def _validate_tool_config(value: Any, declared: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if value is None:
        return {}
    tool_config = _fields(value, "tool_config", _TOOL_CONFIG_FIELDS)
    calling = _fields(
        tool_config.get("functionCallingConfig") or {}, "tool_config.function_calling_config", _CALLING_CONFIG_FIELDS
    )
    if not calling:
        return {}
    if not declared:
        raise invalid("Function calling config is set without function_declarations.")
    mode = calling.get("mode", "MODE_UNSPECIFIED")
    if mode not in _CALLING_MODES:
        raise invalid(
            f"Invalid value at 'tool_config.function_calling_config.mode' "
            f'(type.googleapis.com/google.cloud.aiplatform.v1.FunctionCallingConfig.Mode), "{mode}"'
        )
    allowed = calling.get("allowedFunctionNames")
    if allowed is not None:
        _check_type(allowed, "TYPE_STRING[]", "tool_config.function_calling_config.allowed_function_names")
        if mode not in ("ANY", "VALIDATED"):
            raise invalid("allowed_function_names can only be set when the function calling mode is ANY or VALIDATED.")
        for name in allowed:
            if name not in declared:
                raise invalid(f"allowed_function_names contains {name}, which is not a declared function.")
    return calling


def _validate_contents(value: Any) -> list[dict[str, Any]]:
    if value is None or value == []:
        raise invalid(f"Unable to submit request because at least one contents field is required. {_LEARN_MORE}")
    if not isinstance(value, list):
        raise invalid(f"Invalid value at 'contents' (TYPE_MESSAGE), {json.dumps(value)}")
    contents = []
    for index, raw in enumerate(value):
        where = f"contents[{index}]"
        content = _fields(raw, where, _CONTENT_FIELDS)
        role = content.get("role")
        if role is None and len(value) > 1:
            raise invalid("Please use a valid role: user, model.")
        if role is not None and role not in ("user", "model"):
            raise invalid("Please use a valid role: user, model.")
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            raise invalid(f"Unable to submit request because it must include at least one parts field. {_LEARN_MORE}")
        content["parts"] = [_validate_part(part, f"{where}.parts[{i}]") for i, part in enumerate(parts)]
        content.setdefault("role", "user")
        contents.append(content)
    _check_turn_order(contents)
    return contents


def _validate_part(raw: Any, where: str) -> dict[str, Any]:
    part = _fields(raw, where, _PART_FIELDS)
    data = [name for name in part if name in _PART_DATA_FIELDS]
    if not data:
        raise invalid(f"Unable to submit request because it has an empty parts field at '{where}'.")
    if len(data) > 1:
        raise invalid(
            f"Invalid value at '{where}' (oneof), oneof field 'data' is already set. Cannot set '{_snake(data[1])}'"
        )
    if "text" in part:
        _check_type(part["text"], "TYPE_STRING", f"{where}.text")
        if not part["text"]:
            raise invalid(
                "Unable to submit request because it has an empty text parameter. Add a value to the parameter and "
                "try again."
            )
    if "thought" in part:
        _check_type(part["thought"], "TYPE_BOOL", f"{where}.thought")
    if "thoughtSignature" in part:
        signature = part["thoughtSignature"]
        if not isinstance(signature, str) or _b64_or_none(signature) is None:
            raise invalid(
                f"Invalid value at '{where}.thought_signature' (TYPE_BYTES), "
                f"Base64 decoding failed for {json.dumps(signature)}"
            )
    if "functionCall" in part:
        call = _fields(part["functionCall"], f"{where}.function_call", _FUNCTION_CALL_FIELDS)
        if not isinstance(call.get("name"), str) or not call["name"]:
            raise invalid(f"* GenerateContentRequest.{where}.function_call.name: Name is empty.")
        if "args" in call and not isinstance(call["args"], dict):
            raise invalid(
                f"Invalid value at '{where}.function_call.args' (type.googleapis.com/google.protobuf.Struct), "
                f"{json.dumps(call['args'])}"
            )
        part["functionCall"] = call
    if "functionResponse" in part:
        response = _fields(part["functionResponse"], f"{where}.function_response", _FUNCTION_RESPONSE_FIELDS)
        if not isinstance(response.get("name"), str) or not response["name"]:
            raise invalid(f"* GenerateContentRequest.{where}.function_response.name: Name is empty.")
        if not isinstance(response.get("response"), dict):
            raise invalid(
                f"Invalid value at '{where}.function_response.response' (type.googleapis.com/google.protobuf.Struct), "
                f"{json.dumps(response.get('response'))}"
            )
        part["functionResponse"] = response
    return part


def _kind(content: dict[str, Any]) -> str:
    parts = content["parts"]
    if any("functionCall" in p for p in parts):
        return "call"
    if any("functionResponse" in p for p in parts):
        return "response"
    return content["role"]


def _check_turn_order(contents: list[dict[str, Any]]) -> None:
    previous: dict[str, Any] | None = None
    for content in contents:
        kind = _kind(content)
        follows_user_or_response = previous is not None and _kind(previous) in ("user", "response")
        if kind == "call" and (content["role"] != "model" or not follows_user_or_response):
            raise invalid(
                "Please ensure that function call turn comes immediately after a user turn or after a function "
                "response turn."
            )
        if kind == "response":
            if content["role"] != "user" or previous is None or _kind(previous) != "call":
                raise invalid("Please ensure that function response turn comes immediately after a function call turn.")
            calls = sum("functionCall" in p for p in previous["parts"])
            responses = sum("functionResponse" in p for p in content["parts"])
            if calls != responses:
                raise invalid(
                    "Please ensure that the number of function response parts is equal to the number of function "
                    "call parts of the function call turn."
                )
        previous = content


def _check_thought_signatures(contents: list[dict[str, Any]]) -> None:
    """Gemini 3: in the current turn, the first call of every step must carry its signature."""
    start = 0
    for index, content in enumerate(contents):
        if content["role"] == "user" and _kind(content) == "user":
            start = index
    for index in range(start, len(contents)):
        content = contents[index]
        calls = [p for p in content["parts"] if "functionCall" in p]
        if not calls:
            continue
        first = calls[0]
        signature = first.get("thoughtSignature")
        name = first["functionCall"]["name"]
        if signature is None:
            raise invalid(
                f"Unable to submit request because function call `{name}` in the {index + 1}. content block is "
                "missing a `thought_signature`. Learn more: "
                "https://docs.cloud.google.com/vertex-ai/generative-ai/docs/thought-signatures"
            )
        # Compared as bytes: protobuf JSON takes standard or URL-safe base64 (the SDK sends URL-safe).
        accepted = {_b64_or_none(SKIP_SIGNATURE), _b64_or_none(_sign(name, first["functionCall"].get("args") or {}))}
        if _b64_or_none(signature) not in accepted:
            raise invalid("Corrupted thought signature.")


# ---- the model ----


def _tool_to_call(
    contents: list[dict[str, Any]], declared: dict[str, dict[str, Any]], calling: dict[str, Any]
) -> tuple[str, dict[str, Any]] | None:
    last = contents[-1]
    if not declared or calling.get("mode") == "NONE" or _kind(last) not in ("user", "response"):
        return None
    text = _content_text(last)
    if calling.get("mode") == "ANY":
        # ANY forces a call on every turn, even right after function responses.
        names = calling.get("allowedFunctionNames") or list(declared)
        return names[0], {"input": text}
    if _kind(last) == "response":
        return None
    for name in declared:
        if re.search(rf"\b{re.escape(name)}\b", text):
            return name, {"input": text}
    return None


def _reply(contents: list[dict[str, Any]], config: dict[str, Any]) -> tuple[str, str]:
    last = contents[-1]
    if _kind(last) == "response":
        results = [p["functionResponse"] for p in last["parts"] if "functionResponse" in p]
        text = " ".join(f"The tool {r['name']} returned {json.dumps(r['response'], sort_keys=True)}." for r in results)
    else:
        text = "Echo: " + _content_text(last)
    for stop in config.get("stopSequences") or []:
        if stop and stop in text:
            return text[: text.index(stop)], "STOP"
    limit = config.get("maxOutputTokens")
    if limit is not None:
        kept = ""
        for piece in _PIECES.findall(text):
            if _count(kept + piece) > int(limit):
                return kept.rstrip(), "MAX_TOKENS"
            kept += piece
    return text, "STOP"


def _content_text(content: dict[str, Any]) -> str:
    pieces = []
    for part in content["parts"]:
        if "text" in part:
            pieces.append(part["text"])
        elif "functionCall" in part:
            pieces.append(part["functionCall"]["name"] + json.dumps(part["functionCall"].get("args") or {}))
        elif "functionResponse" in part:
            pieces.append(part["functionResponse"]["name"] + json.dumps(part["functionResponse"]["response"]))
    return " ".join(pieces)


def _count(text: str) -> int:
    return len(_TOKENS.findall(text))


def _gemini_version(model: str) -> tuple[int, int]:
    match = re.match(r"gemini-(\d+)(?:\.(\d+))?", model)
    return (int(match[1]), int(match[2] or 0)) if match else (0, 0)


def _gemini_major(model: str) -> int:
    return _gemini_version(model)[0]


def _sign(name: str, args: dict[str, Any]) -> str:
    """A deterministic stand-in for the opaque signature Gemini 3 attaches to a function call."""
    digest = hashlib.sha256(("sig\x00" + name + json.dumps(args, sort_keys=True)).encode()).digest()
    return base64.b64encode(digest * 3).decode()


def _b64_or_none(value: str) -> bytes | None:
    """Protobuf JSON accepts standard and URL-safe base64, padded or not."""
    try:
        return base64.b64decode(value.replace("-", "+").replace("_", "/") + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _b64url(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _dimensions(requested: Any, full: int) -> int:
    if requested is None:
        return full
    if not isinstance(requested, int) or isinstance(requested, bool) or not 1 <= requested <= full:
        raise invalid(f"Unable to submit request because outputDimensionality must be between 1 and {full}.")
    return requested


def _embedding(text: str, dimensions: int) -> list[float]:
    """Feature-hashed bag of words, unit length: texts sharing words are near each other."""
    vector = [0.0] * dimensions
    for word in re.findall(r"\w+", text.lower()) or [""]:
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        vector[int.from_bytes(digest[:4], "big") % dimensions] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [round(v / norm, 6) for v in vector]
