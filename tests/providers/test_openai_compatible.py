"""The OpenAI-compatible adapter (OpenAI, vLLM, Ollama, llama.cpp) driving the real `openai` SDK
against a strict fake of `/v1/chat/completions` and `/v1/embeddings`."""

from __future__ import annotations

import concurrent.futures
import json
import math
import socket

import pytest

from genai_platform.providers.openai_compatible import OpenAICompatibleAdapter
from genai_platform.providers.types import (
    AccountConfig,
    ChatRequest,
    EmbeddingRequest,
    ErrorKind,
    Message,
    ProviderError,
    ResponseFormat,
    StreamEnd,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolDefinition,
)
from tests.fakes.openai_wire import FakeModel, OpenAIWireFake
from tests.fakes.server import FakeResponse

WEATHER = ToolDefinition(
    name="get_weather",
    description="Current weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
TIME = ToolDefinition(name="get_time", parameters={"type": "object", "properties": {"zone": {"type": "string"}}})


@pytest.fixture(scope="module")
def shared_fake():
    with OpenAIWireFake() as server:
        yield server


@pytest.fixture
def fake(shared_fake):
    shared_fake.reset()
    return shared_fake


def adapter(
    fake: OpenAIWireFake, *, api_key: str | None = "sk-test-key", timeout: float = 5.0, **options
) -> OpenAICompatibleAdapter:
    return OpenAICompatibleAdapter(
        AccountConfig(
            provider="openai_compatible",
            endpoint=fake.url,
            credentials={"api_key": api_key} if api_key else {},
            options=options,
            timeout_seconds=timeout,
        )
    )


def ask(text: str, **fields) -> ChatRequest:
    return ChatRequest(model="gpt-4o-mini", messages=(Message("system", "Be brief."), Message("user", text)), **fields)


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def raised_by(call) -> ProviderError:
    with pytest.raises(ProviderError) as raised:
        call()
    return raised.value


# ---- chat ----


def test_chat_returns_the_models_answer_with_reported_usage(fake):
    response = adapter(fake).chat(ask("What is the capital of France?"))

    assert response.content == 'You said: "What is the capital of France?"'
    assert response.finish_reason == "stop"
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens > 0
    assert not response.usage.estimated
    assert response.provider_response_id.startswith("chatcmpl-")


def test_chat_posts_to_v1_chat_completions_with_the_bearer_key(fake):
    adapter(fake).chat(ask("hi"))

    request = fake.requests[-1]
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer sk-test-key"


def test_the_system_prompt_travels_as_the_first_message(fake):
    adapter(fake).chat(ask("hi"))

    assert fake.last_body()["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]


def test_multi_turn_history_is_sent_in_order(fake):
    request = ChatRequest(
        model="gpt-4o-mini",
        messages=(
            Message("user", "My name is Ada."),
            Message("assistant", "Hello Ada."),
            Message("user", "What is my name?", name="ada"),
        ),
    )

    adapter(fake).chat(request)

    assert fake.last_body()["messages"] == [
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Hello Ada."},
        {"role": "user", "content": "What is my name?", "name": "ada"},
    ]


def test_sampling_parameters_stop_sequences_and_user_are_sent(fake):
    adapter(fake).chat(ask("hi", temperature=0.2, top_p=0.9, max_tokens=50, stop=("END",), user="lob-42"))

    body = fake.last_body()
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["stop"], body["user"]) == (
        0.2,
        0.9,
        50,
        ["END"],
        "lob-42",
    )
    assert "max_completion_tokens" not in body


def test_an_answer_cut_by_max_tokens_finishes_with_length(fake):
    response = adapter(fake).chat(ask("tell me a very long story about dragons", max_tokens=3))

    assert response.finish_reason == "length"
    assert response.usage.output_tokens <= 3


def test_max_completion_tokens_can_replace_max_tokens_for_reasoning_models(fake):
    adapter(fake, max_tokens_parameter="max_completion_tokens").chat(ask("hi", max_tokens=50))

    body = fake.last_body()
    assert body["max_completion_tokens"] == 50
    assert "max_tokens" not in body


def test_a_server_that_reports_no_usage_gets_an_estimate_flagged_as_such(fake):
    fake.send_usage = False

    response = adapter(fake).chat(ask("count my tokens please"))

    assert response.usage.estimated
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens > 0


# ---- tools ----


def test_tool_definitions_travel_as_functions_with_their_json_schema(fake):
    adapter(fake).chat(ask("weather in Paris", tools=(WEATHER,), tool_choice="auto"))

    body = fake.last_body()
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            },
        }
    ]
    assert body["tool_choice"] == "auto"


def test_a_named_tool_choice_is_sent_as_a_function_object(fake):
    adapter(fake).chat(ask("what time is it", tools=(WEATHER, TIME), tool_choice="get_time"))

    assert fake.last_body()["tool_choice"] == {"type": "function", "function": {"name": "get_time"}}


def test_tool_choice_is_not_sent_without_tools(fake):
    adapter(fake).chat(ask("hi", tool_choice="auto"))

    assert "tool_choice" not in fake.last_body()


def test_tool_call_round_trip(fake):
    llm = adapter(fake)
    question = ask("weather in Paris", tools=(WEATHER,), tool_choice="required")

    first = llm.chat(question)

    assert first.finish_reason == "tool_calls"
    assert first.content == ""
    [call] = first.tool_calls
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "weather in Paris"}

    follow_up = ChatRequest(
        model="gpt-4o-mini",
        messages=(
            *question.messages,
            Message("assistant", tool_calls=first.tool_calls),
            Message("tool", '{"temp_c": 18}', tool_call_id=call.id),
        ),
        tools=(WEATHER,),
    )
    second = llm.chat(follow_up)

    assert second.content == 'The tool returned: "{"temp_c": 18}"'
    assert second.finish_reason == "stop"
    sent = fake.last_body()["messages"]
    assert sent[2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": call.id, "type": "function", "function": {"name": "get_weather", "arguments": call.arguments}}
        ],
    }
    assert sent[3] == {"role": "tool", "content": '{"temp_c": 18}', "tool_call_id": call.id}


# ---- streaming ----


def test_streaming_yields_text_pieces_then_one_end_with_reported_usage(fake):
    events = list(adapter(fake).chat_stream(ask("stream this answer please")))

    *deltas, end = events
    assert len(deltas) > 2
    assert all(isinstance(e, TextDelta) for e in deltas)
    assert "".join(e.text for e in deltas) == 'You said: "stream this answer please"'
    assert isinstance(end, StreamEnd)
    assert end.finish_reason == "stop"
    assert end.usage.input_tokens > 0
    assert end.usage.output_tokens > 0
    assert not end.usage.estimated


def test_streaming_asks_for_the_usage_chunk(fake):
    list(adapter(fake).chat_stream(ask("hi")))

    body = fake.last_body()
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_a_stream_from_a_server_that_ignores_stream_options_gets_estimated_usage(fake):
    fake.honor_stream_options = False

    end = list(adapter(fake).chat_stream(ask("hi there")))[-1]

    assert isinstance(end, StreamEnd)
    assert end.usage.estimated
    assert end.usage.output_tokens > 0


def test_stream_options_can_be_turned_off_for_servers_that_reject_them(fake):
    end = list(adapter(fake, stream_include_usage=False).chat_stream(ask("hi")))[-1]

    assert "stream_options" not in fake.last_body()
    assert end.usage.estimated


def test_a_streamed_tool_call_arrives_as_id_and_name_then_argument_fragments(fake):
    events = list(adapter(fake).chat_stream(ask("weather in Oslo", tools=(WEATHER,), tool_choice="required")))

    *fragments, end = events
    assert all(isinstance(e, ToolCallDelta) and e.index == 0 for e in fragments)
    assert fragments[0].id.startswith("call_")
    assert fragments[0].name == "get_weather"
    assert all(f.id is None and f.name is None for f in fragments[1:])
    assert len(fragments) > 2
    assert json.loads("".join(f.arguments for f in fragments)) == {"city": "weather in Oslo"}
    assert end.finish_reason == "tool_calls"


def test_parallel_streamed_tool_calls_keep_their_own_indexes(fake):
    events = list(adapter(fake).chat_stream(ask("use get_weather and get_time", tools=(WEATHER, TIME))))

    calls: dict[int, dict] = {}
    for event in events[:-1]:
        call = calls.setdefault(event.index, {"name": None, "arguments": ""})
        call["name"] = call["name"] or event.name
        call["arguments"] += event.arguments
    assert {i: c["name"] for i, c in calls.items()} == {0: "get_weather", 1: "get_time"}
    assert all(json.loads(c["arguments"]) for c in calls.values())


def test_a_server_repeating_the_call_id_on_every_fragment_still_yields_it_once(fake):
    def chunk(delta: dict, finish: str | None = None) -> bytes:
        body = {
            "id": "x",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(body)}\n\n".encode()

    fragment = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather"}}
    fake.fail_next(
        FakeResponse(
            headers={"Content-Type": "text/event-stream"},
            chunks=[
                chunk({"tool_calls": [{**fragment, "function": {"name": "get_weather", "arguments": '{"city": '}}]}),
                chunk({"tool_calls": [{**fragment, "function": {"name": "get_weather", "arguments": '"Oslo"}'}}]}),
                chunk({}, "stop"),
                b"data: [DONE]\n\n",
            ],
        )
    )

    events = list(adapter(fake).chat_stream(ask("weather", tools=(WEATHER,))))

    assert events[:2] == [
        ToolCallDelta(index=0, id="call_1", name="get_weather", arguments='{"city": '),
        ToolCallDelta(index=0, arguments='"Oslo"}'),
    ]
    assert events[2].finish_reason == "tool_calls"


# ---- embeddings ----


def test_embeddings_return_one_vector_per_input_with_usage(fake):
    response = adapter(fake).embed(EmbeddingRequest(model="text-embedding-3-small", inputs=("refunds", "weather")))

    assert len(response.vectors) == 2
    assert len(response.vectors[0]) == 1536
    assert response.vectors[0] != response.vectors[1]
    assert response.usage.input_tokens == 2
    assert not response.usage.estimated


def test_embeddings_ask_for_floats_and_the_requested_dimensions(fake):
    response = adapter(fake).embed(EmbeddingRequest(model="text-embedding-3-small", inputs=("hi",), dimensions=8))

    assert len(response.vectors[0]) == 8
    body = fake.last_body()
    assert (fake.requests[-1].path, body["encoding_format"], body["dimensions"]) == ("/v1/embeddings", "float", 8)


def test_embeddings_can_travel_as_base64(fake):
    request = EmbeddingRequest(model="text-embedding-3-small", inputs=("hi",), dimensions=8)
    as_floats = adapter(fake).embed(request).vectors[0]

    as_base64 = adapter(fake, embedding_encoding="base64").embed(request).vectors[0]

    assert fake.last_body()["encoding_format"] == "base64"
    assert all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(as_floats, as_base64, strict=True))


def test_embeddings_from_a_server_without_usage_are_estimated(fake):
    fake.send_usage = False

    response = adapter(fake).embed(EmbeddingRequest(model="text-embedding-3-small", inputs=("a few words",)))

    assert response.usage.estimated
    assert response.usage.input_tokens > 0


def test_dimensions_on_a_model_that_cannot_shorten_vectors_is_a_bad_request(fake):
    error = raised_by(
        lambda: adapter(fake).embed(EmbeddingRequest(model="text-embedding-ada-002", inputs=("hi",), dimensions=8))
    )

    assert error.kind == ErrorKind.BAD_REQUEST
    assert error.status_code == 400


# ---- account settings ----


def test_default_headers_from_options_are_sent_on_every_call(fake):
    adapter(fake, default_headers={"X-Tenant": "payments"}).chat(ask("hi"))

    assert fake.requests[-1].headers["x-tenant"] == "payments"


def test_default_headers_may_not_carry_credentials(fake):
    error = raised_by(lambda: adapter(fake, default_headers={"Authorization": "Bearer secret"}))

    assert error.kind == ErrorKind.BAD_REQUEST


def test_a_server_that_checks_no_key_gets_a_placeholder(fake):
    fake.api_key = "unused"

    adapter(fake, api_key=None).chat(ask("hi"))

    assert fake.requests[-1].headers["authorization"] == "Bearer unused"


def test_an_unknown_wire_option_value_is_refused_at_construction(fake):
    error = raised_by(lambda: adapter(fake, max_tokens_parameter="max_output_tokens"))

    assert error.kind == ErrorKind.BAD_REQUEST


def test_a_connection_limit_that_is_not_a_positive_integer_is_refused_at_construction(fake):
    error = raised_by(lambda: adapter(fake, max_connections=0))

    assert error.kind == ErrorKind.BAD_REQUEST


def test_many_threads_share_one_adapter_and_all_get_their_answer(fake):
    # A worker's thread pool runs calls of one account through one adapter (one SDK client) at once.
    shared = adapter(fake, max_connections=4)
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda n: shared.chat(ask(f"question {n}")).content, range(32)))

    assert answers == [f'You said: "question {n}"' for n in range(32)]


# ---- the fake refuses what the service refuses ----


def test_a_wrong_api_key_is_an_auth_error(fake):
    error = raised_by(lambda: adapter(fake, api_key="sk-wrong-key-1234").chat(ask("hi")))

    assert (error.kind, error.status_code) == (ErrorKind.AUTH, 401)
    assert "invalid_api_key" in error.message


def test_an_unknown_model_is_not_found(fake):
    error = raised_by(lambda: adapter(fake).chat(ChatRequest(model="gpt-9", messages=(Message("user", "hi"),))))

    assert (error.kind, error.status_code) == (ErrorKind.NOT_FOUND, 404)


def test_an_out_of_range_temperature_is_a_bad_request(fake):
    error = raised_by(lambda: adapter(fake).chat(ask("hi", temperature=3.5)))

    assert (error.kind, error.status_code) == (ErrorKind.BAD_REQUEST, 400)
    assert "temperature" in error.message


def test_a_tool_result_that_answers_no_tool_call_is_a_bad_request(fake):
    request = ChatRequest(
        model="gpt-4o-mini",
        messages=(Message("user", "hi"), Message("tool", "42", tool_call_id="call_unknown")),
    )

    error = raised_by(lambda: adapter(fake).chat(request))

    assert error.kind == ErrorKind.BAD_REQUEST
    assert "tool" in error.message


def test_a_tool_call_left_unanswered_is_a_bad_request(fake):
    request = ChatRequest(
        model="gpt-4o-mini",
        messages=(
            Message("user", "weather?"),
            Message("assistant", tool_calls=(ToolCall("call_1", "get_weather", "{}"),)),
            Message("user", "never mind"),
        ),
        tools=(WEATHER,),
    )

    error = raised_by(lambda: adapter(fake).chat(request))

    assert error.kind == ErrorKind.BAD_REQUEST
    assert "call_1" in error.message


def test_a_prompt_beyond_the_context_window_is_context_length_exceeded(fake):
    fake.models["tiny"] = FakeModel("tiny", context_window=20)
    request = ChatRequest(model="tiny", messages=(Message("user", "word " * 40),))

    error = raised_by(lambda: adapter(fake).chat(request))

    assert (error.kind, error.status_code) == (ErrorKind.CONTEXT_LENGTH_EXCEEDED, 400)


def test_vllms_unwrapped_context_length_error_is_recognized(fake):
    # Older vLLM answers with a bare error object and states the cause only in prose.
    fake.fail_next(
        FakeResponse.json(
            {
                "object": "error",
                "message": "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.",
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            },
            status=400,
        )
    )

    error = raised_by(lambda: adapter(fake).chat(ask("hi")))

    assert error.kind == ErrorKind.CONTEXT_LENGTH_EXCEEDED


# ---- errors ----


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, ErrorKind.BAD_REQUEST),
        (401, ErrorKind.AUTH),
        (403, ErrorKind.AUTH),
        (404, ErrorKind.NOT_FOUND),
        (429, ErrorKind.THROTTLED),
        (500, ErrorKind.UNAVAILABLE),
        (502, ErrorKind.UNAVAILABLE),
        (503, ErrorKind.UNAVAILABLE),
        (504, ErrorKind.UNAVAILABLE),
    ],
)
def test_http_statuses_map_onto_error_kinds(fake, status, kind):
    fake.fail_next(fake.error_response(status, "scripted failure", type="scripted"))

    error = raised_by(lambda: adapter(fake).chat(ask("hi")))

    assert (error.kind, error.status_code) == (kind, status)


def test_a_rate_limit_carries_retry_after_in_seconds(fake):
    fake.fail_next(fake.rate_limited(retry_after=7))

    error = raised_by(lambda: adapter(fake).chat(ask("hi")))

    assert (error.kind, error.retry_after, error.status_code) == (ErrorKind.THROTTLED, 7.0, 429)


def test_a_rate_limit_without_retry_after_leaves_it_unset(fake):
    fake.fail_next(fake.rate_limited())

    error = raised_by(lambda: adapter(fake).chat(ask("hi")))

    assert error.kind == ErrorKind.THROTTLED
    assert error.retry_after is None


def test_the_sdk_does_not_retry_on_its_own(fake):
    fake.fail_next(fake.server_error(503))

    raised_by(lambda: adapter(fake).chat(ask("hi")))

    assert len(fake.requests) == 1


def test_a_slow_server_is_a_timeout(fake):
    fake.fail_next(FakeResponse(delay=0.6))

    error = raised_by(lambda: adapter(fake, timeout=0.2).chat(ask("hi")))

    assert error.kind == ErrorKind.TIMEOUT


def test_a_stream_that_stalls_between_chunks_is_a_timeout(fake):
    fake.stream_chunk_delay = 0.6

    error = raised_by(lambda: list(adapter(fake, timeout=0.2).chat_stream(ask("hi"))))

    assert error.kind == ErrorKind.TIMEOUT


def test_an_unreachable_server_is_unavailable():
    llm = OpenAICompatibleAdapter(
        AccountConfig(provider="openai_compatible", endpoint=closed_port_url(), timeout_seconds=2)
    )

    error = raised_by(lambda: llm.chat(ask("hi")))

    assert error.kind == ErrorKind.UNAVAILABLE


def test_a_failure_before_a_stream_starts_is_raised_while_iterating(fake):
    fake.fail_next(fake.rate_limited(retry_after=2))

    error = raised_by(lambda: list(adapter(fake).chat_stream(ask("hi"))))

    assert (error.kind, error.retry_after) == (ErrorKind.THROTTLED, 2.0)


def test_an_error_event_in_the_middle_of_a_stream_is_mapped(fake):
    fake.interrupt_next_stream(after_chunks=2, error={"message": "The server had an error", "type": "server_error"})
    seen = []

    def consume():
        for event in adapter(fake).chat_stream(ask("a long enough answer")):
            seen.append(event)

    error = raised_by(consume)

    assert error.kind == ErrorKind.UNAVAILABLE
    assert seen and all(isinstance(e, TextDelta) for e in seen)


def test_a_stream_cut_before_the_model_finished_is_unavailable(fake):
    fake.interrupt_next_stream(after_chunks=3)

    error = raised_by(lambda: list(adapter(fake).chat_stream(ask("a long enough answer"))))

    assert error.kind == ErrorKind.UNAVAILABLE


def test_an_endpoint_that_does_not_speak_the_api_is_unavailable(fake):
    fake.fail_next(FakeResponse(headers={"Content-Type": "text/html"}, body=b"<html>It works!</html>"))

    error = raised_by(lambda: adapter(fake).chat(ask("hi")))

    assert error.kind == ErrorKind.UNAVAILABLE


# ---- structured outputs ----

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


def test_a_json_schema_response_format_is_forwarded_natively(fake):
    response_format = ResponseFormat(type="json_schema", name="Person", schema=PERSON, strict=True)

    response = adapter(fake).chat(ask("Ada, 36", response_format=response_format))

    assert fake.last_body()["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Person", "schema": PERSON, "strict": True},
    }
    assert json.loads(response.content) == {"name": None, "age": None}


def test_a_json_object_response_format_is_forwarded_natively(fake):
    response = adapter(fake).chat(ask("answer in json", response_format=ResponseFormat(type="json_object")))

    assert fake.last_body()["response_format"] == {"type": "json_object"}
    assert json.loads(response.content) == {"fake": True}


def test_the_provider_refusing_a_response_format_is_a_bad_request(fake):
    # OpenAI wants the word "json" in the messages for json_object; its refusal is the caller's fault.
    error = raised_by(lambda: adapter(fake).chat(ask("hello", response_format=ResponseFormat(type="json_object"))))

    assert error.kind == ErrorKind.BAD_REQUEST


def test_without_a_response_format_none_is_sent(fake):
    adapter(fake).chat(ask("hello"))

    assert "response_format" not in fake.last_body()
