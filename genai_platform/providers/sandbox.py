"""The sandbox provider: deterministic, offline, and the demo and test provider.

It answers by quoting the last user message exactly as it arrived, so a demo shows what reached
the provider after guardrails and grounding. Usage is counted with the platform's token
estimate. Account or deployment options make it misbehave on purpose, so routing, retries and
timeouts can be exercised without a cloud:

- `latency_ms`: wait this long before answering;
- `stream_chunk_delay_ms`: wait this long between streamed chunks;
- `stream_chunk_chars`: stream pieces of this many characters instead of words (like sub-word tokens);
- `fail_with`: raise this `ErrorKind` (for example `"unavailable"` or `"throttled"`) on every call;
- `retry_after`: the Retry-After seconds attached to a `throttled` failure;
- `context_window`: refuse longer prompts with `context_length_exceeded`.

Agent behaviour (tools offered and `tool_choice` "auto" or unset), deterministic so agent runs can
be tested end to end:

- it calls the offered tools whose names appear (as whole words) in the latest user message, in
  the order they are first mentioned, one call per turn, skipping every tool that an assistant
  message of the conversation already called;
- the arguments follow the tool's JSON schema: a property given in the message as `name=value`
  (the value ends at a space, comma or semicolon; a closing `.`, `!` or `?` is dropped) or
  `name="some value"` gets that value (as an integer, number or boolean when the schema says
  so); any other string property gets the whole user message; other properties are left out
  unless the schema gives a `default`;
- when no mentioned tool is left to call, it answers quoting the results of the mentioned tools:
  `[sandbox] The tools returned: name: "result"; other: "result"`.

A user message that mentions no offered tool gets the usual answer.

Structured outputs: with a `json_schema` response format it answers the smallest instance of the
schema it can build (required properties only; strings quote the user's message, cut to fit
`maxLength`; numbers their `minimum` or 0; the first `enum` value, `anyOf` branch, ...); with
`json_object`, `{"answer": "<the usual answer>"}`. A tool called by `tool_choice` gets the same
kind of instance of its parameters schema (`{"input": "<message>"}` when it declares none). The
option `break_schema` makes it answer `{}` instead, to exercise the gateway's strict check.

Grounded behaviour (a system message carrying numbered sources, as the platform's retrieval adds):
it answers extractively with the source sentence that shares the most words with the question,
citing its number: `[sandbox] The refund window is 30 days. [2]`. With no source sharing a word,
it says it doesn't know.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from .tokens import estimate_tokens
from .types import (
    AccountConfig,
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    ErrorKind,
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

DEFAULT_DIMENSIONS = 384
_WORDS = re.compile(r"\w+", re.UNICODE)
_CHUNK = re.compile(r"\S+\s*")


class SandboxAdapter:
    def __init__(self, config: AccountConfig) -> None:
        self._options = dict(config.options)

    def chat(self, request: ChatRequest) -> ChatResponse:
        input_tokens = self._admit(request)
        tool_call = self._tool_call_for(request) or _agent_tool_call(request)
        if tool_call is not None:
            output_tokens = estimate_tokens(tool_call.name + tool_call.arguments)
            return ChatResponse(
                content="",
                finish_reason="tool_calls",
                usage=Usage(input_tokens, output_tokens),
                tool_calls=(tool_call,),
                provider_response_id=f"sandbox-{uuid.uuid4().hex}",
            )
        text, finish_reason = self._structured_text(request) or self._reply_text(request)
        return ChatResponse(
            content=text,
            finish_reason=finish_reason,
            usage=Usage(input_tokens, estimate_tokens(text)),
            provider_response_id=f"sandbox-{uuid.uuid4().hex}",
        )

    def chat_stream(self, request: ChatRequest) -> Iterator[StreamEvent]:
        input_tokens = self._admit(request)
        delay = float(self._options.get("stream_chunk_delay_ms", 0)) / 1000
        tool_call = self._tool_call_for(request) or _agent_tool_call(request)
        if tool_call is not None:
            yield ToolCallDelta(index=0, id=tool_call.id, name=tool_call.name)
            yield ToolCallDelta(index=0, arguments=tool_call.arguments)
            yield StreamEnd("tool_calls", Usage(input_tokens, estimate_tokens(tool_call.name + tool_call.arguments)))
            return
        text, finish_reason = self._structured_text(request) or self._reply_text(request)
        size = int(self._options.get("stream_chunk_chars", 0))
        pieces = [text[i : i + size] for i in range(0, len(text), size)] if size > 0 else _CHUNK.findall(text)
        for piece in pieces:
            if delay:
                time.sleep(delay)
            yield TextDelta(piece)
        yield StreamEnd(finish_reason, Usage(input_tokens, estimate_tokens(text)))

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        self._misbehave()
        dimensions = request.dimensions or int(self._options.get("dimensions", DEFAULT_DIMENSIONS))
        vectors = tuple(_hashed_embedding(text, dimensions) for text in request.inputs)
        return EmbeddingResponse(vectors, Usage(sum(estimate_tokens(t) for t in request.inputs), 0))

    # ---- behaviour ----

    def _admit(self, request: ChatRequest) -> int:
        self._misbehave()
        input_tokens = sum(estimate_tokens(m.content) for m in request.messages)
        window = self._options.get("context_window")
        if window and input_tokens + (request.max_tokens or 0) > int(window):
            raise ProviderError(
                ErrorKind.CONTEXT_LENGTH_EXCEEDED,
                f"prompt of {input_tokens} tokens exceeds the context window of {window}",
                status_code=400,
            )
        return input_tokens

    def _misbehave(self) -> None:
        latency_ms = float(self._options.get("latency_ms", 0))
        if latency_ms:
            time.sleep(latency_ms / 1000)
        fail_with = self._options.get("fail_with")
        if fail_with:
            retry_after = self._options.get("retry_after")
            raise ProviderError(
                ErrorKind(fail_with),
                f"sandbox told to fail with {fail_with}",
                retry_after=float(retry_after) if retry_after is not None else None,
                status_code=429 if fail_with == ErrorKind.THROTTLED else 503,
            )

    def _reply_text(self, request: ChatRequest) -> tuple[str, str]:
        last = _last_turn(request.messages)
        agent_answer = _agent_answer(request)
        grounded_answer = _grounded_answer(request)
        if agent_answer is not None:
            text = agent_answer
        elif grounded_answer is not None:
            text = grounded_answer
        elif last is not None and last.role == "tool":
            text = f'[sandbox] The tool returned: "{last.content}"'
        else:
            quoted = last.content if last is not None else ""
            text = f'[sandbox] You said: "{quoted}"'
        for stop in request.stop:
            if stop and stop in text:
                return text[: text.index(stop)], "stop"
        if request.max_tokens is not None:
            pieces = _CHUNK.findall(text)
            kept: list[str] = []
            for piece in pieces:
                if estimate_tokens("".join([*kept, piece])) > request.max_tokens:
                    return "".join(kept).rstrip(), "length"
                kept.append(piece)
        return text, "stop"

    def _structured_text(self, request: ChatRequest) -> tuple[str, str] | None:
        fmt = request.response_format
        if fmt is None or fmt.type == "text":
            return None
        if self._options.get("break_schema"):
            return "{}", "stop"
        if fmt.type == "json_object" or fmt.schema is None:
            return json.dumps({"answer": self._reply_text(request)[0]}), "stop"
        last = _last_turn(request.messages)
        return json.dumps(schema_instance(fmt.schema, last.content if last else "")), "stop"

    def _tool_call_for(self, request: ChatRequest) -> ToolCall | None:
        """Calls a tool when the request insists on one and the last turn is the user's."""
        if not request.tools or request.tool_choice in (None, "auto", "none"):
            return None
        last = _last_turn(request.messages)
        if last is None or last.role != "user":
            return None
        names = [t.name for t in request.tools]
        name = request.tool_choice if request.tool_choice in names else names[0]
        parameters = next(t.parameters for t in request.tools if t.name == name)
        if parameters.get("properties"):
            arguments = json.dumps(schema_instance(parameters, last.content))
        else:
            arguments = json.dumps({"input": last.content})
        call_id = "call_" + hashlib.sha256((name + arguments).encode()).hexdigest()[:24]
        return ToolCall(id=call_id, name=name, arguments=arguments)


# ---- agent behaviour: call the tools the user mentioned, then quote what they returned ----

_ASSIGNMENT = re.compile(r"""(?<![\w-])([A-Za-z0-9_-]+)=(?:"([^"]*)"|([^\s,;]+))""")


def _agent_tool_call(request: ChatRequest) -> ToolCall | None:
    """The next mentioned tool not yet called, with arguments built from its schema."""
    user = _latest_user_message(request)
    if user is None or not _agent_mode(request):
        return None
    called = {call.name for message in request.messages if message.role == "assistant" for call in message.tool_calls}
    for tool in _mentioned_tools(request, user.content):
        if tool.name not in called:
            arguments = json.dumps(_arguments_for(tool, user.content))
            call_id = "call_" + hashlib.sha256((tool.name + arguments).encode()).hexdigest()[:24]
            return ToolCall(id=call_id, name=tool.name, arguments=arguments)
    return None


def _agent_answer(request: ChatRequest) -> str | None:
    """Quotes the mentioned tools' results once every one of them was called; None when the agent
    behaviour does not apply (nothing mentioned, or no result yet)."""
    user = _latest_user_message(request)
    if user is None or not _agent_mode(request):
        return None
    mentioned = [tool.name for tool in _mentioned_tools(request, user.content)]
    if not mentioned:
        return None
    names_by_call = {
        call.id: call.name for message in request.messages if message.role == "assistant" for call in message.tool_calls
    }
    results = [
        (names_by_call[m.tool_call_id], m.content)
        for m in request.messages
        if m.role == "tool" and m.tool_call_id in names_by_call and names_by_call[m.tool_call_id] in mentioned
    ]
    if not results:
        return None
    return "[sandbox] The tools returned: " + "; ".join(f'{name}: "{content}"' for name, content in results)


def _agent_mode(request: ChatRequest) -> bool:
    return bool(request.tools) and request.tool_choice in (None, "auto")


def _latest_user_message(request: ChatRequest) -> Message | None:
    for message in reversed(request.messages):
        if message.role == "user":
            return message
    return None


def _mentioned_tools(request: ChatRequest, text: str) -> list[ToolDefinition]:
    positions = []
    for tool in request.tools:
        found = re.search(rf"(?<![\w-]){re.escape(tool.name)}(?![\w-])", text)
        if found:
            positions.append((found.start(), tool))
    return [tool for _, tool in sorted(positions, key=lambda p: p[0])]


def _arguments_for(tool: ToolDefinition, text: str) -> dict[str, Any]:
    given = {
        m.group(1): m.group(2) if m.group(2) is not None else m.group(3).rstrip(".!?")
        for m in _ASSIGNMENT.finditer(text)
    }
    properties = tool.parameters.get("properties") or {}
    arguments: dict[str, Any] = {}
    for name, schema in properties.items():
        kind = schema.get("type") if isinstance(schema, dict) else None
        if name in given:
            arguments[name] = _typed(given[name], kind)
        elif kind == "string":
            arguments[name] = text
        elif isinstance(schema, dict) and "default" in schema:
            arguments[name] = schema["default"]
    return arguments


def _typed(value: str, kind: Any) -> Any:
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        return value
    if kind == "boolean":
        return value.lower() in ("true", "yes", "1")
    return value


_SOURCE = re.compile(r"^\[(\d+)\] ", re.MULTILINE)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
_STOPWORDS = frozenset(
    re.findall(
        r"\w+",
        "a an and are as at be by can do does for from how i in is it of on or our the this to was what when where "
        "which who why will with you your",
    )
)


def _grounded_answer(request: ChatRequest) -> str | None:
    """The best-matching source sentence and its citation, when the prompt carries numbered sources."""
    context = next((m.content for m in request.messages if m.role == "system" and "\nSources:\n" in m.content), None)
    question = next((m.content for m in reversed(request.messages) if m.role == "user"), None)
    if context is None or question is None:
        return None
    wanted = set(_WORDS.findall(question.lower())) - _STOPWORDS
    sources = context.split("\nSources:\n", 1)[1]
    marks = list(_SOURCE.finditer(sources))
    best: tuple[int, str, str] = (0, "", "")
    for mark, following in zip(marks, [*marks[1:], None], strict=True):
        body = sources[mark.end() : following.start() if following else len(sources)]
        for sentence in _SENTENCE.findall(body):
            score = len(wanted & set(_WORDS.findall(sentence.lower())))
            if score > best[0]:
                best = (score, sentence.strip(), mark.group(1))
    if not best[0]:
        return "[sandbox] I don't know: the sources do not say."
    return f"[sandbox] {best[1]} [{best[2]}]"


def _last_turn(messages: tuple[Message, ...]) -> Message | None:
    for message in reversed(messages):
        if message.role in ("user", "tool"):
            return message
    return None


def schema_instance(schema: Mapping[str, Any], text: str, root: Mapping[str, Any] | None = None) -> Any:
    """The smallest instance of a JSON Schema the sandbox can build, strings quoting `text`."""
    root = root if root is not None else schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        return schema_instance(target, text, root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for combinator in ("anyOf", "oneOf", "allOf"):
        if schema.get(combinator):
            return schema_instance(schema[combinator][0], text, root)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: schema_instance(properties.get(name, {}), text, root) for name in schema.get("required") or ()}
    if kind == "array":
        return [schema_instance(schema.get("items") or {}, text, root) for _ in range(schema.get("minItems", 0))]
    if kind in ("integer", "number"):
        minimum = schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1)
        return math.ceil(minimum) if kind == "integer" else minimum
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    value = text[: schema.get("maxLength", len(text))]
    return value + "x" * max(0, schema.get("minLength", 0) - len(value))


def _hashed_embedding(text: str, dimensions: int) -> tuple[float, ...]:
    """A bag-of-words vector (feature hashing), so texts sharing words land near each other."""
    vector = [0.0] * dimensions
    for word in _WORDS.findall(text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        bucket = int.from_bytes(digest[:4], "big") % dimensions
        vector[bucket] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return tuple(v / norm for v in vector)
