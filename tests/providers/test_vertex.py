"""The Vertex AI adapter, driving the real google-genai SDK against a strict fake of the Vertex REST API."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

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
from genai_platform.providers.vertex import VertexAdapter
from tests.fakes.vertex import (
    DEFAULT_LOCATION,
    DEFAULT_PROJECT,
    DEFAULT_TOKEN,
    SKIP_SIGNATURE,
    THINKING_TOKENS,
    StreamInterruption,
    VertexFake,
    google_error,
)

CHAT_MODEL = "gemini-2.5-flash"
WEATHER = ToolDefinition(
    name="get_weather",
    description="Current weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
CLOCK = ToolDefinition(name="get_time", description="Current time in a city")


@pytest.fixture(scope="module")
def vertex_service() -> Iterator[VertexFake]:
    with VertexFake() as server:
        yield server


@pytest.fixture(autouse=True)
def fake(vertex_service: VertexFake) -> VertexFake:
    """The module's fake, with no requests, faults or hooks left over from earlier tests."""
    vertex_service.reset()
    return vertex_service


def account(fake: VertexFake, **overrides: Any) -> AccountConfig:
    fields: dict[str, Any] = {
        "provider": "vertex",
        "region": DEFAULT_LOCATION,
        "endpoint": fake.url,
        "credentials": {"access_token": DEFAULT_TOKEN},
        "options": {"project": DEFAULT_PROJECT},
        "timeout_seconds": 5.0,
    }
    return AccountConfig(**{**fields, **overrides})


@pytest.fixture(scope="module")
def adapter(vertex_service: VertexFake) -> VertexAdapter:
    # Built once, like the worker does per account: the client and its connections are reused.
    return VertexAdapter(account(vertex_service))


def ask(text: str, model: str = CHAT_MODEL, **fields: Any) -> ChatRequest:
    return ChatRequest(model=model, messages=(Message("system", "Be brief."), Message("user", text)), **fields)


def raises(kind: ErrorKind, call: Any, *args: Any) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        result = call(*args)
        if isinstance(result, Iterator):
            list(result)
    assert caught.value.kind == kind, caught.value
    return caught.value


# ---- chat ----


def test_chat_lifts_the_system_prompt_into_system_instruction(adapter, fake):
    response = adapter.chat(ask("Where is my parcel?"))

    body = fake.bodies("generateContent")[-1]
    assert body["systemInstruction"]["parts"] == [{"text": "Be brief."}]
    assert body["contents"] == [{"role": "user", "parts": [{"text": "Where is my parcel?"}]}]
    assert response.content == "Echo: Where is my parcel?"
    assert response.finish_reason == "stop"
    assert response.provider_response_id


def test_chat_posts_to_the_publisher_model_of_the_configured_project_and_location(adapter, fake):
    adapter.chat(ask("hi"))

    request = fake.requests[-1]
    assert request.path == (
        f"/v1/projects/{DEFAULT_PROJECT}/locations/{DEFAULT_LOCATION}/publishers/google/models/{CHAT_MODEL}"
        ":generateContent"
    )
    assert request.headers["authorization"] == f"Bearer {DEFAULT_TOKEN}"


def test_assistant_turns_are_sent_as_model_turns(adapter, fake):
    request = ChatRequest(
        model=CHAT_MODEL,
        messages=(Message("user", "My name is Ada."), Message("assistant", "Hello Ada."), Message("user", "Who am I?")),
    )

    adapter.chat(request)

    assert [(c["role"], c["parts"][0]["text"]) for c in fake.bodies("generateContent")[-1]["contents"]] == [
        ("user", "My name is Ada."),
        ("model", "Hello Ada."),
        ("user", "Who am I?"),
    ]


def test_sampling_settings_go_in_generation_config(adapter, fake):
    adapter.chat(ask("hi", temperature=0.2, top_p=0.9, max_tokens=64, stop=("END",)))

    assert fake.bodies("generateContent")[-1]["generationConfig"] == {
        "temperature": 0.2,
        "topP": 0.9,
        "maxOutputTokens": 64,
        "stopSequences": ["END"],
    }


def test_usage_is_the_reported_token_counts(adapter):
    usage = adapter.chat(ask("count these tokens", model="gemini-2.0-flash-001")).usage

    assert usage.input_tokens > 0 and usage.output_tokens > 0
    assert not usage.estimated


def test_thinking_tokens_are_counted_as_output(adapter):
    without_thinking = adapter.chat(ask("same prompt", model="gemini-2.0-flash-001")).usage
    with_thinking = adapter.chat(ask("same prompt", model="gemini-2.5-flash")).usage

    assert with_thinking.output_tokens == without_thinking.output_tokens + THINKING_TOKENS


def test_hitting_max_tokens_finishes_with_length(adapter):
    response = adapter.chat(ask("tell me a long story about many things", max_tokens=3))

    assert response.finish_reason == "length"
    assert response.content == "Echo: tell"


@pytest.mark.parametrize("reason", ["SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII"])
def test_a_candidate_stopped_by_a_filter_finishes_with_content_filter(adapter, fake, reason):
    fake.finish_next_with(reason)

    response = adapter.chat(ask("something risky"))

    assert response.finish_reason == "content_filter"
    assert response.content == ""


def test_a_blocked_prompt_is_content_filtered(adapter, fake):
    fake.block_next_prompt("PROHIBITED_CONTENT")

    error = raises(ErrorKind.CONTENT_FILTERED, adapter.chat, ask("something forbidden"))

    assert "PROHIBITED_CONTENT" in error.message


# ---- tools ----


def test_tools_are_declared_with_their_json_schema(adapter, fake):
    adapter.chat(ask("hi", tools=(WEATHER,)))

    assert fake.bodies("generateContent")[-1]["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Current weather for a city",
                    "parameters_json_schema": dict(WEATHER.parameters),
                }
            ]
        }
    ]


@pytest.mark.parametrize(
    ("tool_choice", "calling_config"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        ("get_time", {"mode": "ANY", "allowed_function_names": ["get_time"]}),
    ],
)
def test_tool_choice_becomes_a_function_calling_mode(adapter, fake, tool_choice, calling_config):
    adapter.chat(ask("hi", tools=(WEATHER, CLOCK), tool_choice=tool_choice))

    assert fake.bodies("generateContent")[-1]["toolConfig"] == {"functionCallingConfig": calling_config}


def test_a_required_tool_is_called_with_an_id_and_json_arguments(adapter):
    response = adapter.chat(ask("weather in Paris", tools=(WEATHER,), tool_choice="required"))

    assert response.finish_reason == "tool_calls"
    assert response.content == ""
    (call,) = response.tool_calls
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"input": "weather in Paris"}
    assert call.id.startswith("call_")


def test_tool_call_ids_are_the_same_every_time_a_response_is_read(adapter):
    request = ask("weather in Paris", tools=(WEATHER,), tool_choice="required")

    assert adapter.chat(request).tool_calls == adapter.chat(request).tool_calls


def test_tool_call_round_trip(adapter, fake):
    first = ask("use get_weather for Paris", tools=(WEATHER,), tool_choice="auto")
    call = adapter.chat(first).tool_calls[0]
    follow_up = ChatRequest(
        model=CHAT_MODEL,
        messages=(
            *first.messages,
            Message("assistant", "", tool_calls=(call,)),
            Message("tool", '{"temperature_c": 21}', tool_call_id=call.id),
        ),
        tools=(WEATHER,),
        tool_choice="auto",
    )

    answer = adapter.chat(follow_up)

    sent = fake.bodies("generateContent")[-1]["contents"]
    assert sent[1] == {
        "role": "model",
        "parts": [{"functionCall": {"name": "get_weather", "args": {"input": "use get_weather for Paris"}}}],
    }
    assert sent[2] == {
        "role": "user",
        "parts": [{"functionResponse": {"name": "get_weather", "response": {"temperature_c": 21}}}],
    }
    assert answer.finish_reason == "stop"
    assert answer.content == 'The tool get_weather returned {"temperature_c": 21}.'


def test_a_plain_text_tool_result_is_wrapped_as_output(adapter, fake):
    call = ToolCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}')
    adapter.chat(
        ChatRequest(
            model=CHAT_MODEL,
            messages=(
                Message("user", "weather?"),
                Message("assistant", "", tool_calls=(call,)),
                Message("tool", "sunny", tool_call_id="call_1"),
            ),
            tools=(WEATHER,),
        )
    )

    function_response = fake.bodies("generateContent")[-1]["contents"][2]["parts"][0]["functionResponse"]
    assert function_response["response"] == {"output": "sunny"}


def test_results_of_parallel_calls_go_back_in_one_turn(adapter, fake):
    calls = (
        ToolCall(id="call_a", name="get_weather", arguments='{"city": "Paris"}'),
        ToolCall(id="call_b", name="get_time", arguments='{"city": "Paris"}'),
    )
    answer = adapter.chat(
        ChatRequest(
            model=CHAT_MODEL,
            messages=(
                Message("user", "weather and time in Paris"),
                Message("assistant", "", tool_calls=calls),
                Message("tool", "09:00", tool_call_id="call_b"),
                Message("tool", "sunny", tool_call_id="call_a"),
            ),
            tools=(WEATHER, CLOCK),
        )
    )

    last_turn = fake.bodies("generateContent")[-1]["contents"][2]
    assert [p["functionResponse"]["name"] for p in last_turn["parts"]] == ["get_time", "get_weather"]
    assert answer.content.startswith("The tool get_time returned")


def test_a_tool_result_for_an_unknown_call_is_a_bad_request(adapter, fake):
    request = ChatRequest(
        model=CHAT_MODEL, messages=(Message("user", "hi"), Message("tool", "sunny", tool_call_id="call_unknown"))
    )

    raises(ErrorKind.BAD_REQUEST, adapter.chat, request)
    assert fake.requests == []


def test_gemini_3_thought_signature_travels_in_the_tool_call_id(adapter, fake):
    first = ask("weather in Paris", model="gemini-3-pro-preview", tools=(WEATHER,), tool_choice="required")
    call = adapter.chat(first).tool_calls[0]
    (issued,) = fake.issued_signatures

    adapter.chat(
        ChatRequest(
            model="gemini-3-pro-preview",
            messages=(
                *first.messages,
                Message("assistant", "", tool_calls=(call,)),
                Message("tool", "sunny", tool_call_id=call.id),
            ),
            tools=(WEATHER,),
        )
    )

    sent = fake.bodies("generateContent")[-1]["contents"][1]["parts"][0]["thoughtSignature"]
    assert decode(sent) == decode(issued)


def test_gemini_3_history_without_signatures_carries_the_documented_bypass(adapter, fake):
    call = ToolCall(id="toolu_from_another_model", name="get_weather", arguments='{"city": "Paris"}')

    answer = adapter.chat(
        ChatRequest(
            model="gemini-3-pro-preview",
            messages=(
                Message("user", "weather in Paris"),
                Message("assistant", "", tool_calls=(call,)),
                Message("tool", "sunny", tool_call_id=call.id),
            ),
            tools=(WEATHER,),
        )
    )

    sent = fake.bodies("generateContent")[-1]["contents"][1]["parts"][0]
    assert sent["thoughtSignature"] == SKIP_SIGNATURE
    assert answer.finish_reason == "stop"


# ---- streaming ----


def test_streaming_yields_text_pieces_then_one_end_with_usage(adapter, fake):
    events = list(adapter.chat_stream(ask("stream this answer please")))

    assert all(isinstance(e, TextDelta) for e in events[:-1]) and len(events) > 3
    assert "".join(e.text for e in events[:-1]) == "Echo: stream this answer please"
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.finish_reason == "stop"
    assert end.usage.input_tokens > 0 and end.usage.output_tokens > 0 and not end.usage.estimated
    assert fake.requests[-1].path.endswith(":streamGenerateContent")
    assert fake.requests[-1].query == {"alt": ["sse"]}


def test_streaming_a_tool_call_yields_it_whole_then_ends_with_tool_calls(adapter):
    request = ask("weather in Paris", tools=(WEATHER,), tool_choice="required")

    events = list(adapter.chat_stream(request))

    (delta, end) = events
    assert isinstance(delta, ToolCallDelta)
    assert (delta.index, delta.name, json.loads(delta.arguments)) == (0, "get_weather", {"input": "weather in Paris"})
    assert delta.id == adapter.chat(request).tool_calls[0].id
    assert isinstance(end, StreamEnd) and end.finish_reason == "tool_calls"


def test_streaming_a_blocked_prompt_is_content_filtered(adapter, fake):
    fake.block_next_prompt("SAFETY")

    raises(ErrorKind.CONTENT_FILTERED, adapter.chat_stream, ask("something forbidden"))


def test_an_error_event_mid_stream_is_mapped_after_the_text_already_sent(adapter, fake):
    fake.interrupt_next_stream(
        StreamInterruption(
            after_events=2, error={"code": 503, "message": "The service is unavailable.", "status": "UNAVAILABLE"}
        )
    )
    received = []

    with pytest.raises(ProviderError) as caught:
        for event in adapter.chat_stream(ask("a reply long enough to be cut")):
            received.append(event)

    assert caught.value.kind == ErrorKind.UNAVAILABLE
    assert [e.text for e in received] == ["Echo: ", "a "]


def test_a_stream_cut_mid_way_is_unavailable(adapter, fake):
    fake.interrupt_next_stream(StreamInterruption(after_events=1))

    raises(ErrorKind.UNAVAILABLE, adapter.chat_stream, ask("a reply long enough to be cut"))


def test_a_stream_that_ends_without_a_finish_reason_is_unavailable(adapter, fake):
    fake.interrupt_next_stream(StreamInterruption(after_events=2, end_cleanly=True))

    raises(ErrorKind.UNAVAILABLE, adapter.chat_stream, ask("a reply long enough to be cut"))


def test_a_stream_that_stalls_times_out(fake):
    adapter = VertexAdapter(account(fake, timeout_seconds=0.5))
    fake.interrupt_next_stream(StreamInterruption(after_events=1, stall_seconds=1.5))

    raises(ErrorKind.TIMEOUT, adapter.chat_stream, ask("a reply long enough to be cut"))


def test_a_stream_refused_up_front_is_mapped(adapter, fake):
    fake.fail_next(google_error(429, "RESOURCE_EXHAUSTED", "Resource exhausted.", headers={"Retry-After": "3"}))

    error = raises(ErrorKind.THROTTLED, adapter.chat_stream, ask("hi"))

    assert error.retry_after == 3.0


# ---- embeddings ----


def test_embeddings_use_predict_with_task_type_and_dimensions(adapter, fake):
    response = adapter.embed(
        EmbeddingRequest(
            model="text-embedding-005",
            inputs=("refund policy", "card refunds"),
            dimensions=256,
            input_type="search_document",
        )
    )

    assert fake.bodies("predict") == [
        {
            "instances": [
                {"content": "refund policy", "task_type": "RETRIEVAL_DOCUMENT"},
                {"content": "card refunds", "task_type": "RETRIEVAL_DOCUMENT"},
            ],
            "parameters": {"outputDimensionality": 256},
        }
    ]
    assert [len(v) for v in response.vectors] == [256, 256]
    assert response.usage.input_tokens == 4 and not response.usage.estimated


def test_a_search_query_is_embedded_as_retrieval_query(adapter, fake):
    adapter.embed(EmbeddingRequest(model="text-embedding-005", inputs=("refunds?",), input_type="search_query"))

    assert fake.bodies("predict")[-1]["instances"][0]["task_type"] == "RETRIEVAL_QUERY"


def test_embeddings_keep_the_order_of_the_inputs(adapter):
    texts = ("alpha beta", "gamma delta", "alpha beta")

    vectors = adapter.embed(EmbeddingRequest(model="text-embedding-005", inputs=texts)).vectors

    assert vectors[0] == vectors[2] != vectors[1]
    assert len(vectors[0]) == 768


def test_more_than_250_texts_are_split_across_predict_calls(adapter, fake):
    response = adapter.embed(
        EmbeddingRequest(model="text-embedding-005", inputs=tuple(f"text {i}" for i in range(300)))
    )

    assert [len(body["instances"]) for body in fake.bodies("predict")] == [250, 50]
    assert len(response.vectors) == 300


def test_gemini_embedding_001_gets_one_text_per_call(adapter, fake):
    response = adapter.embed(EmbeddingRequest(model="gemini-embedding-001", inputs=("one", "two", "three")))

    assert [len(body["instances"]) for body in fake.bodies("predict")] == [1, 1, 1]
    assert len(response.vectors) == 3


def test_newer_gemini_embedding_models_use_embed_content(adapter, fake):
    response = adapter.embed(
        EmbeddingRequest(
            model="gemini-embedding-2-preview", inputs=("one", "two"), dimensions=64, input_type="search_query"
        )
    )

    assert fake.bodies("embedContent") == [
        {
            "content": {"role": "user", "parts": [{"text": text}]},
            "embedContentConfig": {"taskType": "RETRIEVAL_QUERY", "outputDimensionality": 64},
        }
        for text in ("one", "two")
    ]
    assert [len(v) for v in response.vectors] == [64, 64]


def test_an_embedding_size_the_model_cannot_produce_is_a_bad_request(adapter):
    request = EmbeddingRequest(model="text-embedding-005", inputs=("x",), dimensions=4096)

    raises(ErrorKind.BAD_REQUEST, adapter.embed, request)


# ---- credentials ----


def test_a_wrong_access_token_is_an_auth_error(fake):
    adapter = VertexAdapter(account(fake, credentials={"access_token": "ya29.expired"}))

    error = raises(ErrorKind.AUTH, adapter.chat, ask("hi"))

    assert error.status_code == 401
    assert "UNAUTHENTICATED" in error.message


def test_a_project_the_identity_cannot_use_is_an_auth_error(fake):
    adapter = VertexAdapter(account(fake, options={"project": "someone-elses-project"}))

    error = raises(ErrorKind.AUTH, adapter.chat, ask("hi"))

    assert error.status_code == 403


def test_a_service_account_key_is_exchanged_for_a_token_at_its_token_uri(fake):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fake.register_service_account("gateway@acme-genai-prod.iam.gserviceaccount.com", key.public_key())
    adapter = VertexAdapter(account(fake, credentials={"service_account_json": service_account_json(fake, key)}))

    response = adapter.chat(ask("hi"))

    token_request, api_request = fake.requests
    assert token_request.path == "/token"
    assert api_request.headers["authorization"] == f"Bearer {fake.issued_tokens[0]}"
    assert response.content == "Echo: hi"


def test_a_service_account_key_the_token_endpoint_refuses_is_an_auth_error(fake):
    registered = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    revoked = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fake.register_service_account("gateway@acme-genai-prod.iam.gserviceaccount.com", registered.public_key())
    adapter = VertexAdapter(account(fake, credentials={"service_account_json": service_account_json(fake, revoked)}))

    error = raises(ErrorKind.AUTH, adapter.chat, ask("hi"))

    assert "invalid_grant" in error.message
    assert [r.path for r in fake.requests] == ["/token"]


def test_empty_credentials_use_the_ambient_identity(fake, tmp_path, monkeypatch):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fake.register_service_account("gateway@acme-genai-prod.iam.gserviceaccount.com", key.public_key())
    key_file = tmp_path / "adc.json"
    key_file.write_text(service_account_json(fake, key))
    # What Workload Identity or a mounted key file looks like to Application Default Credentials.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    adapter = VertexAdapter(account(fake, credentials={}))

    adapter.chat(ask("hi"))

    assert fake.requests[-1].headers["authorization"] == f"Bearer {fake.issued_tokens[0]}"


def test_no_ambient_identity_is_an_auth_error(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    adapter = VertexAdapter(account(fake, credentials={}))

    raises(ErrorKind.AUTH, adapter.chat, ask("hi"))
    assert fake.requests == []


@pytest.mark.parametrize(
    "credentials",
    [
        {"service_account_json": "{not json"},
        {"service_account_json": '{"type": "authorized_user"}'},
        {"api_key": "AIza..."},
    ],
)
def test_unusable_credentials_are_refused_when_the_adapter_is_built(fake, credentials):
    with pytest.raises(ProviderError) as caught:
        VertexAdapter(account(fake, credentials=credentials))

    assert caught.value.kind == ErrorKind.AUTH


def test_an_endpoint_override_without_a_project_is_refused(fake):
    with pytest.raises(ProviderError) as caught:
        VertexAdapter(account(fake, options={}))

    assert caught.value.kind == ErrorKind.AUTH


# ---- errors ----


def test_an_unknown_model_is_not_found(adapter):
    error = raises(ErrorKind.NOT_FOUND, adapter.chat, ask("hi", model="gemini-0.9-imaginary"))

    assert error.status_code == 404


def test_a_request_vertex_refuses_is_a_bad_request(adapter):
    bad_tool = ToolDefinition(name="get weather")  # spaces are not allowed in function names

    error = raises(ErrorKind.BAD_REQUEST, adapter.chat, ask("hi", tools=(bad_tool,)))

    assert error.status_code == 400
    assert "Invalid function name" in error.message


def test_a_prompt_longer_than_the_context_window_is_context_length_exceeded(adapter, fake):
    fake.context_window = 10

    error = raises(
        ErrorKind.CONTEXT_LENGTH_EXCEEDED, adapter.chat, ask("a prompt that is clearly longer than ten tokens")
    )

    assert error.status_code == 400


@pytest.mark.parametrize(
    ("status", "google_status", "kind"),
    [
        (400, "INVALID_ARGUMENT", ErrorKind.BAD_REQUEST),
        (400, "FAILED_PRECONDITION", ErrorKind.BAD_REQUEST),
        (401, "UNAUTHENTICATED", ErrorKind.AUTH),
        (403, "PERMISSION_DENIED", ErrorKind.AUTH),
        (404, "NOT_FOUND", ErrorKind.NOT_FOUND),
        (429, "RESOURCE_EXHAUSTED", ErrorKind.THROTTLED),
        (500, "INTERNAL", ErrorKind.UNAVAILABLE),
        (502, "UNAVAILABLE", ErrorKind.UNAVAILABLE),
        (503, "UNAVAILABLE", ErrorKind.UNAVAILABLE),
        (504, "DEADLINE_EXCEEDED", ErrorKind.UNAVAILABLE),
    ],
)
def test_http_errors_map_onto_error_kinds(adapter, fake, status, google_status, kind):
    fake.fail_next(google_error(status, google_status, "Something went wrong."))

    error = raises(kind, adapter.chat, ask("hi"))

    assert error.status_code == status


def test_throttling_carries_retry_after_from_the_header(adapter, fake):
    fake.fail_next(
        google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "Resource exhausted. Please try again later. Please refer to "
            "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details.",
            headers={"Retry-After": "7"},
        )
    )

    error = raises(ErrorKind.THROTTLED, adapter.chat, ask("hi"))

    assert error.retry_after == 7.0


def test_throttling_carries_retry_after_from_a_retry_info_detail(adapter, fake):
    fake.fail_next(
        google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "Quota exceeded.",
            details=[{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "29s"}],
        )
    )

    error = raises(ErrorKind.THROTTLED, adapter.chat, ask("hi"))

    assert error.retry_after == 29.0


def test_throttling_without_a_hint_has_no_retry_after(adapter, fake):
    fake.fail_next(google_error(429, "RESOURCE_EXHAUSTED", "Resource exhausted."))

    assert raises(ErrorKind.THROTTLED, adapter.chat, ask("hi")).retry_after is None


@pytest.mark.parametrize("status", [429, 503])
def test_the_sdk_does_not_retry_on_its_own(adapter, fake, status):
    fake.fail_next(google_error(status, "UNAVAILABLE", "busy"), times=2)

    with pytest.raises(ProviderError):
        adapter.chat(ask("hi"))

    assert len(fake.requests) == 1


def test_a_slow_answer_is_a_timeout(fake):
    adapter = VertexAdapter(account(fake, timeout_seconds=0.5))
    fake.stall_next(1.5)

    raises(ErrorKind.TIMEOUT, adapter.chat, ask("hi"))


def test_embedding_failures_are_mapped_too(adapter, fake):
    fake.fail_next(google_error(503, "UNAVAILABLE", "The service is currently unavailable."))

    raises(ErrorKind.UNAVAILABLE, adapter.embed, EmbeddingRequest(model="text-embedding-005", inputs=("x",)))


def test_a_server_that_cannot_be_reached_is_unavailable(fake):
    with VertexFake() as gone:
        closed_url = gone.url
    adapter = VertexAdapter(account(fake, endpoint=closed_url))

    raises(ErrorKind.UNAVAILABLE, adapter.chat, ask("hi"))


# ---- the fake is strict: it refuses what Vertex refuses ----


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": text}]}


def weather_call(**extra: Any) -> dict[str, Any]:
    return {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}, **extra}]}


def two_weather_calls() -> dict[str, Any]:
    call = {"functionCall": {"name": "get_weather", "args": {}}}
    return {"role": "model", "parts": [call, call]}


def weather_result() -> dict[str, Any]:
    return {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"output": "sunny"}}}]}


@pytest.mark.parametrize(
    ("body", "model", "message"),
    [
        ({"contents": []}, CHAT_MODEL, "at least one contents field is required"),
        ({"contents": [user("hi")], "temprature": 1}, CHAT_MODEL, 'Unknown name "temprature"'),
        ({"contents": [{"role": "assistant", "parts": [{"text": "hi"}]}]}, CHAT_MODEL, "valid role: user, model"),
        ({"contents": [user("")]}, CHAT_MODEL, "empty text parameter"),
        ({"contents": [user("hi")], "generationConfig": {"maxOutputTokens": "many"}}, CHAT_MODEL, "(TYPE_INT32)"),
        ({"contents": [user("hi")], "generationConfig": {"temperature": 3}}, CHAT_MODEL, "supported range"),
        ({"contents": [user("hi"), weather_result()]}, CHAT_MODEL, "function response turn comes immediately after"),
        (
            {"contents": [user("hi"), two_weather_calls(), weather_result()]},
            CHAT_MODEL,
            "number of function response parts is equal to the number of function call parts",
        ),
        (
            {"contents": [user("hi")], "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}},
            CHAT_MODEL,
            "without function_declarations",
        ),
        (
            {"contents": [user("hi"), weather_call(), weather_result()]},
            "gemini-3-pro-preview",
            "missing a `thought_signature`",
        ),
    ],
)
def test_the_fake_refuses_malformed_requests_like_vertex(fake, body, model, message):
    response = post(fake, model, "generateContent", body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert message in error["message"]


def test_the_fake_accepts_snake_case_field_names_like_protobuf_json(fake):
    body = {"contents": [user("hi")], "generation_config": {"max_output_tokens": 20}}

    assert post(fake, CHAT_MODEL, "generateContent", body).status_code == 200


def test_the_fake_requires_a_bearer_token(fake):
    response = post(fake, CHAT_MODEL, "generateContent", {"contents": [user("hi")]}, token=None)

    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"


def test_the_fake_gives_gemini_embedding_001_one_text_per_call(fake):
    body = {"instances": [{"content": "a"}, {"content": "b"}]}

    assert post(fake, "gemini-embedding-001", "predict", body).status_code == 400


# ---- helpers ----


def post(
    fake: VertexFake, model: str, method: str, body: dict[str, Any], token: str | None = DEFAULT_TOKEN
) -> httpx.Response:
    resource = f"projects/{DEFAULT_PROJECT}/locations/{DEFAULT_LOCATION}/publishers/google/models/{model}"
    url = f"{fake.url}/v1/{resource}:{method}"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(url, json=body, headers=headers)


def service_account_json(fake: VertexFake, key: rsa.RSAPrivateKey) -> str:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return json.dumps(
        {
            "type": "service_account",
            "project_id": DEFAULT_PROJECT,
            "private_key_id": "0123456789abcdef",
            "private_key": pem.decode(),
            "client_email": "gateway@acme-genai-prod.iam.gserviceaccount.com",
            "client_id": "100000000000000000001",
            "token_uri": fake.token_uri,
        }
    )


def decode(signature: str) -> bytes:
    """Signatures are bytes; protobuf JSON spells them in standard or URL-safe base64."""
    return base64.urlsafe_b64decode(signature.replace("+", "-").replace("/", "_") + "=" * (-len(signature) % 4))


# ---- structured outputs ----

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


def test_a_json_schema_response_format_becomes_json_mode_with_the_schema(adapter, fake):
    response_format = ResponseFormat(type="json_schema", name="Person", schema=PERSON, strict=True)

    response = adapter.chat(ask("Ada, 36", response_format=response_format))

    config = fake.bodies("generateContent")[-1]["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == PERSON
    assert json.loads(response.content) == {"name": None, "age": None}


def test_a_json_object_response_format_is_json_mode_without_a_schema(adapter, fake):
    adapter.chat(ask("json please", response_format=ResponseFormat(type="json_object")))

    config = fake.bodies("generateContent")[-1]["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert "responseJsonSchema" not in config
    assert "responseSchema" not in config
