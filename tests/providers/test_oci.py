"""The OCI Generative AI adapter, driving the real `oci` SDK against a strict wire-level fake."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import genai_platform.providers.oci as oci_adapter_module
from genai_platform.providers.oci import OCIAdapter
from genai_platform.providers.registry import build_adapter
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
    Usage,
)
from tests.fakes.oci import (
    CHAT_PATH,
    FakeOCIGenAI,
    FakeResponse,
    fingerprint_of,
    issue_session_token,
    oci_error,
    throttled,
)

TENANCY = "ocid1.tenancy.oc1..aaaaaaaatenancy"
USER = "ocid1.user.oc1..aaaaaaaauser"
COMPARTMENT = "ocid1.compartment.oc1..aaaaaaaacompartment"
LLAMA = "meta.llama-3.3-70b-instruct"
COMMAND = "cohere.command-r-plus-08-2024"
EMBED = "cohere.embed-english-v3.0"
DEDICATED = "ocid1.generativeaiendpoint.oc1.us-chicago-1.amaaaaaadedicated"
WEATHER = ToolDefinition(
    name="get_weather",
    description="Current weather for a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string", "description": "City name"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
)


def pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def identity_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def fake_service(signing_key, identity_key):
    # One server for the module: stopping a server costs its half-second poll interval.
    with FakeOCIGenAI(compartment_id=COMPARTMENT, dedicated_endpoints=frozenset({DEDICATED})) as fake:
        fake.register_api_key(tenancy=TENANCY, user=USER, public_key=signing_key.public_key())
        fake.trust_identity_key(identity_key.public_key())
        yield fake


@pytest.fixture
def fake(fake_service):
    fake_service.reset()
    return fake_service


@pytest.fixture
def make_adapter(fake, signing_key):
    def make(*, key: rsa.RSAPrivateKey | None = None, timeout: float = 5.0, **options) -> OCIAdapter:
        key = key or signing_key
        credentials = {
            "user": USER,
            "tenancy": TENANCY,
            "fingerprint": fingerprint_of(key.public_key()),
            "key_content": pem(key),
        }
        return OCIAdapter(
            AccountConfig(
                provider="oci",
                region="us-chicago-1",
                endpoint=fake.url,
                credentials=credentials,
                options={"compartment_id": COMPARTMENT, **options},
                timeout_seconds=timeout,
            )
        )

    return make


@pytest.fixture
def adapter(make_adapter) -> OCIAdapter:
    return make_adapter()


def ask(text: str, model: str = LLAMA, **fields) -> ChatRequest:
    return ChatRequest(model=model, messages=(Message("system", "Be brief."), Message("user", text)), **fields)


def sse(*events: dict) -> FakeResponse:
    return FakeResponse(
        headers={"Content-Type": "text/event-stream", "opc-request-id": "R1"},
        chunks=[b"data: " + json.dumps(event).encode() + b"\n\n" for event in events],
    )


# ---- module and construction ----


def test_the_adapter_module_imports_the_oci_sdk_rather_than_itself():
    assert oci_adapter_module.oci.__name__ == "oci"
    assert hasattr(oci_adapter_module.oci, "generative_ai_inference")


def test_the_registry_builds_the_oci_adapter(fake, signing_key):
    config = AccountConfig(
        provider="oci",
        region="us-chicago-1",
        endpoint=fake.url,
        credentials={
            "user": USER,
            "tenancy": TENANCY,
            "fingerprint": fingerprint_of(signing_key.public_key()),
            "key_content": pem(signing_key),
        },
        options={"compartment_id": COMPARTMENT},
    )

    assert isinstance(build_adapter(config), OCIAdapter)


def test_an_account_without_a_compartment_is_refused():
    with pytest.raises(ProviderError) as error:
        OCIAdapter(AccountConfig(provider="oci", region="us-chicago-1", credentials={"user": USER}))

    assert error.value.kind is ErrorKind.BAD_REQUEST


def test_incomplete_api_key_credentials_are_an_auth_error():
    config = AccountConfig(
        provider="oci", region="us-chicago-1", credentials={"user": USER}, options={"compartment_id": COMPARTMENT}
    )

    with pytest.raises(ProviderError) as error:
        OCIAdapter(config)

    assert error.value.kind is ErrorKind.AUTH
    assert "fingerprint" in error.value.message


def test_a_malformed_fingerprint_is_an_auth_error(signing_key):
    credentials = {
        "user": USER,
        "tenancy": TENANCY,
        "fingerprint": "not-a-fingerprint",
        "key_content": pem(signing_key),
    }
    config = AccountConfig(
        provider="oci", region="us-chicago-1", credentials=credentials, options={"compartment_id": COMPARTMENT}
    )

    with pytest.raises(ProviderError) as error:
        OCIAdapter(config)

    assert error.value.kind is ErrorKind.AUTH


def test_a_key_content_that_is_not_a_private_key_is_an_auth_error(signing_key):
    public_pem = (
        signing_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    credentials = {
        "user": USER,
        "tenancy": TENANCY,
        "fingerprint": fingerprint_of(signing_key.public_key()),
        "key_content": public_pem,
    }
    config = AccountConfig(
        provider="oci", region="us-chicago-1", credentials=credentials, options={"compartment_id": COMPARTMENT}
    )

    with pytest.raises(ProviderError) as error:
        OCIAdapter(config)

    assert error.value.kind is ErrorKind.AUTH


def test_a_pem_with_escaped_newlines_from_an_environment_variable_still_signs(fake, signing_key):
    credentials = {
        "user": USER,
        "tenancy": TENANCY,
        "fingerprint": fingerprint_of(signing_key.public_key()),
        "key_content": pem(signing_key).replace("\n", "\\n"),
    }
    adapter = OCIAdapter(
        AccountConfig(
            provider="oci",
            region="us-chicago-1",
            endpoint=fake.url,
            credentials=credentials,
            options={"compartment_id": COMPARTMENT},
        )
    )

    assert adapter.chat(ask("hello")).content == "You said: hello"


# ---- GENERIC chat ----


def test_chat_quotes_the_user_and_reports_the_service_usage(adapter):
    response = adapter.chat(ask("Hello there"))

    assert response.content == "You said: Hello there"
    assert response.finish_reason == "stop"
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens == 5  # "You", "said", ":", "Hello", "there"
    assert not response.usage.estimated
    assert response.provider_response_id


def test_system_messages_are_merged_and_lifted_to_the_front_of_a_generic_chat(adapter, fake):
    request = ChatRequest(
        model=LLAMA,
        messages=(
            Message("user", "Hi"),
            Message("system", "Be brief."),
            Message("assistant", "Hello!"),
            Message("system", "Answer in English."),
            Message("user", "How are you?"),
        ),
    )

    adapter.chat(request)

    sent = fake.last_chat_request()
    assert sent["apiFormat"] == "GENERIC"
    assert [m["role"] for m in sent["messages"]] == ["SYSTEM", "USER", "ASSISTANT", "USER"]
    assert sent["messages"][0]["content"] == [{"type": "TEXT", "text": "Be brief.\n\nAnswer in English."}]
    assert sent["messages"][3]["content"] == [{"type": "TEXT", "text": "How are you?"}]


def test_a_base_model_is_served_on_demand_in_the_account_compartment(adapter, fake):
    adapter.chat(ask("hi"))

    body = fake.accepted[-1]
    assert body["compartmentId"] == COMPARTMENT
    assert body["servingMode"] == {"servingType": "ON_DEMAND", "modelId": LLAMA}


def test_a_dedicated_endpoint_ocid_is_served_in_dedicated_mode(adapter, fake):
    response = adapter.chat(ask("hi", model=DEDICATED))

    assert response.content == "You said: hi"
    assert fake.accepted[-1]["servingMode"] == {"servingType": "DEDICATED", "endpointId": DEDICATED}
    assert fake.last_chat_request()["apiFormat"] == "GENERIC"


def test_sampling_parameters_reach_the_wire(adapter, fake):
    adapter.chat(ask("hi", temperature=0.2, top_p=0.9, max_tokens=50, stop=("END",)))

    sent = fake.last_chat_request()
    assert (sent["temperature"], sent["topP"], sent["maxTokens"], sent["stop"]) == (0.2, 0.9, 50, ["END"])


def test_a_reply_cut_by_max_tokens_finishes_with_length(adapter):
    response = adapter.chat(ask("one two three four five", max_tokens=3))

    assert response.content == "You said: one"
    assert response.finish_reason == "length"


def test_a_generic_model_asked_to_use_a_tool_returns_the_call(adapter, fake):
    response = adapter.chat(ask("Weather in Paris?", tools=(WEATHER,), tool_choice="required"))

    assert response.finish_reason == "tool_calls"
    assert response.content == ""
    [call] = response.tool_calls
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Weather in Paris?"}
    sent = fake.last_chat_request()
    assert sent["toolChoice"] == {"type": "REQUIRED"}
    assert sent["tools"] == [
        {
            "type": "FUNCTION",
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameters": WEATHER.parameters,
        }
    ]


def test_a_generic_tool_result_goes_back_and_the_model_answers_with_it(adapter, fake):
    first = adapter.chat(ask("Weather in Paris?", tools=(WEATHER,), tool_choice="required"))
    [call] = first.tool_calls
    follow_up = ChatRequest(
        model=LLAMA,
        messages=(
            Message("system", "Be brief."),
            Message("user", "Weather in Paris?"),
            Message("assistant", "", tool_calls=(call,)),
            Message("tool", '{"temperature_c": 21}', tool_call_id=call.id),
        ),
        tools=(WEATHER,),
    )

    answer = adapter.chat(follow_up)

    assert answer.content == 'The tool returned: {"temperature_c": 21}'
    assert answer.finish_reason == "stop"
    assistant, tool = fake.last_chat_request()["messages"][2:]
    assert "content" not in assistant
    assert assistant["toolCalls"] == [
        {"type": "FUNCTION", "id": call.id, "name": "get_weather", "arguments": call.arguments}
    ]
    assert tool == {
        "role": "TOOL",
        "content": [{"type": "TEXT", "text": '{"temperature_c": 21}'}],
        "toolCallId": call.id,
    }


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        ("auto", {"type": "AUTO"}),
        ("none", {"type": "NONE"}),
        ("required", {"type": "REQUIRED"}),
        ("get_weather", {"type": "FUNCTION", "name": "get_weather"}),
    ],
)
def test_tool_choice_is_translated_for_generic_models(adapter, fake, choice, wire):
    adapter.chat(ask("hello", tools=(WEATHER,), tool_choice=choice))

    assert fake.last_chat_request()["toolChoice"] == wire


def test_a_moderated_generic_reply_finishes_with_content_filter(adapter):
    assert adapter.chat(ask("something FORBIDDEN")).finish_reason == "content_filter"


# ---- COHERE chat ----


def test_a_cohere_model_gets_the_cohere_format_with_preamble_history_and_message(adapter, fake):
    request = ChatRequest(
        model=COMMAND,
        messages=(
            Message("system", "Be brief."),
            Message("user", "Hi"),
            Message("assistant", "Hello!"),
            Message("user", "Tell me a joke"),
        ),
    )

    response = adapter.chat(request)

    assert response.content == "You said: Tell me a joke"
    assert response.finish_reason == "stop"
    assert not response.usage.estimated
    sent = fake.last_chat_request()
    assert sent["apiFormat"] == "COHERE"
    assert sent["preambleOverride"] == "Be brief."
    assert sent["message"] == "Tell me a joke"
    assert sent["chatHistory"] == [{"role": "USER", "message": "Hi"}, {"role": "CHATBOT", "message": "Hello!"}]


def test_cohere_sampling_parameters_use_cohere_names(adapter, fake):
    adapter.chat(ask("hi", model=COMMAND, temperature=0.3, top_p=0.5, max_tokens=20, stop=("END",)))

    sent = fake.last_chat_request()
    assert (sent["temperature"], sent["topP"], sent["maxTokens"], sent["stopSequences"]) == (0.3, 0.5, 20, ["END"])


def test_a_cohere_reply_cut_by_max_tokens_finishes_with_length(adapter):
    response = adapter.chat(ask("one two three four", model=COMMAND, max_tokens=2))

    assert response.finish_reason == "length"


def test_cohere_tools_are_sent_as_parameter_definitions(adapter, fake):
    adapter.chat(ask("hello", model=COMMAND, tools=(WEATHER,)))

    assert fake.last_chat_request()["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "parameterDefinitions": {
                "city": {"description": "City name", "type": "str", "isRequired": True},
                "days": {"description": "", "type": "int", "isRequired": False},
            },
        }
    ]


def test_a_cohere_tool_call_round_trip_sends_tool_results_and_gets_the_answer(adapter, fake):
    first = adapter.chat(ask("Use get_weather for Paris", model=COMMAND, tools=(WEATHER,)))
    [call] = first.tool_calls
    assert first.finish_reason == "tool_calls"
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Use get_weather for Paris"}

    answer = adapter.chat(
        ChatRequest(
            model=COMMAND,
            messages=(
                Message("system", "Be brief."),
                Message("user", "Use get_weather for Paris"),
                Message("assistant", "", tool_calls=(call,)),
                Message("tool", "sunny, 21C", tool_call_id=call.id),
            ),
            tools=(WEATHER,),
        )
    )

    assert answer.content == "The tool returned: sunny, 21C"
    assert answer.finish_reason == "stop"
    sent = fake.last_chat_request()
    assert sent["message"] == ""
    assert sent["chatHistory"] == [
        {"role": "USER", "message": "Use get_weather for Paris"},
        {
            "role": "CHATBOT",
            "message": " ",
            "toolCalls": [{"name": "get_weather", "parameters": {"city": "Use get_weather for Paris"}}],
        },
    ]
    assert sent["toolResults"] == [
        {
            "call": {"name": "get_weather", "parameters": {"city": "Use get_weather for Paris"}},
            "outputs": [{"output": "sunny, 21C"}],
        }
    ]


def test_cohere_tool_call_ids_are_stable_across_calls(adapter):
    request = ask("Use get_weather for Paris", model=COMMAND, tools=(WEATHER,))

    assert adapter.chat(request).tool_calls == adapter.chat(request).tool_calls


def test_tool_choice_none_withholds_tools_from_a_cohere_model(adapter, fake):
    response = adapter.chat(ask("Use get_weather for Paris", model=COMMAND, tools=(WEATHER,), tool_choice="none"))

    assert response.tool_calls == ()
    assert "tools" not in fake.last_chat_request()


def test_the_api_format_option_overrides_the_model_prefix(make_adapter, fake):
    adapter = make_adapter(api_format="COHERE")

    response = adapter.chat(ask("hi", model=DEDICATED))

    assert response.content == "You said: hi"
    assert fake.last_chat_request()["apiFormat"] == "COHERE"
    assert fake.accepted[-1]["servingMode"] == {"servingType": "DEDICATED", "endpointId": DEDICATED}


def test_a_toxic_cohere_reply_finishes_with_content_filter(adapter):
    assert adapter.chat(ask("something FORBIDDEN", model=COMMAND)).finish_reason == "content_filter"


def test_a_cohere_generation_error_is_unavailable(adapter, fake):
    fake.fail_next(
        FakeResponse.json(
            {
                "modelId": COMMAND,
                "modelVersion": "1.0",
                "chatResponse": {"apiFormat": "COHERE", "text": "", "finishReason": "ERROR", "errorMessage": "boom"},
            }
        )
    )

    with pytest.raises(ProviderError) as error:
        adapter.chat(ask("hi", model=COMMAND))

    assert error.value.kind is ErrorKind.UNAVAILABLE
    assert "boom" in error.value.message


def test_a_cohere_conversation_must_end_with_the_user_or_tool_results(adapter):
    request = ChatRequest(model=COMMAND, messages=(Message("user", "hi"), Message("assistant", "hello")))

    with pytest.raises(ProviderError) as error:
        adapter.chat(request)

    assert error.value.kind is ErrorKind.BAD_REQUEST


# ---- streaming ----


def test_a_generic_stream_yields_text_pieces_then_one_end_with_usage(adapter, fake):
    events = list(adapter.chat_stream(ask("stream this please")))

    *pieces, end = events
    assert all(isinstance(e, TextDelta) for e in pieces)
    assert len(pieces) == 5
    assert "".join(e.text for e in pieces) == "You said: stream this please"
    assert isinstance(end, StreamEnd)
    assert end.finish_reason == "stop"
    assert end.usage.output_tokens == 6
    assert not end.usage.estimated
    sent = fake.last_chat_request()
    assert sent["isStream"] is True
    assert sent["streamOptions"] == {"isIncludeUsage": True}


def test_a_call_made_while_a_stream_is_open_succeeds_on_its_own_client(adapter, fake):
    # The SDK's clients are not thread-safe; a worker thread's call must not share one mid-stream.
    stream = adapter.chat_stream(ask("stream this please"))
    first = next(stream)

    answer = adapter.chat(ask("hello"))
    rest = list(stream)

    assert answer.content == "You said: hello"
    assert isinstance(first, TextDelta) and isinstance(rest[-1], StreamEnd)
    assert first.text + "".join(e.text for e in rest[:-1]) == "You said: stream this please"


def test_a_generic_stream_reassembles_tool_call_fragments(adapter):
    events = list(adapter.chat_stream(ask("Weather in Paris?", tools=(WEATHER,), tool_choice="get_weather")))

    *deltas, end = events
    assert all(isinstance(e, ToolCallDelta) and e.index == 0 for e in deltas)
    assert deltas[0].id and deltas[0].name == "get_weather"
    assert len(deltas) == 2
    assert all(e.id is None and e.name is None for e in deltas[1:])
    assert json.loads("".join(e.arguments for e in deltas)) == {"city": "Weather in Paris?"}
    assert end.finish_reason == "tool_calls"


def test_a_generic_stream_cut_by_max_tokens_ends_with_length(adapter):
    *_, end = adapter.chat_stream(ask("one two three four", max_tokens=2))

    assert end.finish_reason == "length"


def test_a_cohere_stream_does_not_repeat_the_final_full_text(adapter):
    events = list(adapter.chat_stream(ask("stream this please", model=COMMAND)))

    *pieces, end = events
    assert all(isinstance(e, TextDelta) for e in pieces)
    assert "".join(e.text for e in pieces) == "You said: stream this please"
    assert end.finish_reason == "stop"
    assert not end.usage.estimated


def test_a_cohere_stream_yields_each_tool_call_once_with_the_same_id_as_chat(adapter):
    request = ask("Use get_weather for Paris", model=COMMAND, tools=(WEATHER,))

    *deltas, end = adapter.chat_stream(request)

    [delta] = deltas
    [call] = adapter.chat(request).tool_calls
    assert (delta.id, delta.name, delta.arguments) == (call.id, call.name, call.arguments)
    assert end.finish_reason == "tool_calls"


def test_a_toxic_cohere_stream_ends_with_content_filter(adapter):
    *_, end = adapter.chat_stream(ask("FORBIDDEN words", model=COMMAND))

    assert end.finish_reason == "content_filter"


def test_a_stream_without_reported_usage_is_estimated(adapter, fake):
    fake.fail_next(
        sse(
            {"index": 0, "message": {"role": "ASSISTANT", "content": [{"type": "TEXT", "text": "hi"}]}},
            {"finishReason": "stop"},
        )
    )

    *_, end = adapter.chat_stream(ask("hi"))

    assert end.usage.estimated
    assert end.usage.input_tokens > 0
    assert end.usage.output_tokens == 1


def test_a_generic_stream_separates_parallel_calls_that_share_a_position(adapter, fake):
    # Grok sends each parallel call complete, at position 0 of its own event.
    fake.fail_next(
        sse(
            {"message": {"toolCalls": [{"type": "FUNCTION", "id": "a", "name": "f", "arguments": '{"x": 1}'}]}},
            {"message": {"toolCalls": [{"type": "FUNCTION", "id": "b", "name": "g", "arguments": '{"y": 2}'}]}},
            {"finishReason": "tool_calls"},
        )
    )

    *deltas, end = adapter.chat_stream(ask("hi"))

    assert [(d.index, d.id, d.name, d.arguments) for d in deltas] == [
        (0, "a", "f", '{"x": 1}'),
        (1, "b", "g", '{"y": 2}'),
    ]
    assert end.finish_reason == "tool_calls"


def test_a_generic_stream_gives_an_id_to_tool_calls_that_arrive_without_one(adapter, fake):
    # Gemini on OCI omits tool call ids; OpenAI-style models nest name and arguments under "function".
    fake.fail_next(
        sse(
            {"message": {"toolCalls": [{"type": "FUNCTION", "function": {"name": "f", "arguments": "{}"}}]}},
            {"finishReason": "stop"},
        )
    )

    [delta, end] = list(adapter.chat_stream(ask("hi")))

    assert delta.id.startswith("call_")
    assert (delta.name, delta.arguments) == ("f", "{}")
    assert end.finish_reason == "tool_calls"


def test_a_stream_request_answered_with_one_json_document_is_replayed_as_events(adapter, fake):
    fake.fail_next(
        FakeResponse.json(
            {
                "modelId": LLAMA,
                "modelVersion": "1.0",
                "chatResponse": {
                    "apiFormat": "GENERIC",
                    "timeCreated": "2026-01-01T00:00:00Z",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "ASSISTANT", "content": [{"type": "TEXT", "text": "whole"}]},
                            "finishReason": "stop",
                        }
                    ],
                    "usage": {"promptTokens": 3, "completionTokens": 1, "totalTokens": 4},
                },
            },
            headers={"opc-request-id": "R2"},
        )
    )

    events = list(adapter.chat_stream(ask("hi")))

    assert events == [TextDelta("whole"), StreamEnd("stop", Usage(3, 1))]


def test_a_malformed_stream_event_is_unavailable(adapter, fake):
    fake.fail_next(FakeResponse(headers={"Content-Type": "text/event-stream"}, chunks=[b"data: {not json\n\n"]))

    with pytest.raises(ProviderError) as error:
        list(adapter.chat_stream(ask("hi")))

    assert error.value.kind is ErrorKind.UNAVAILABLE


def test_a_stream_refused_by_the_service_raises_a_provider_error(adapter, fake):
    fake.fail_next(throttled(retry_after=3))

    with pytest.raises(ProviderError) as error:
        list(adapter.chat_stream(ask("hi")))

    assert error.value.kind is ErrorKind.THROTTLED
    assert error.value.retry_after == 3


def test_a_stream_that_stalls_midway_times_out_as_a_provider_error(make_adapter, fake):
    adapter = make_adapter(timeout=0.3)
    fake.stall_stream_after_first_event = 1.0
    stream = adapter.chat_stream(ask("stream this please"))

    assert isinstance(next(stream), TextDelta)
    with pytest.raises(ProviderError) as error:
        list(stream)

    assert error.value.kind is ErrorKind.TIMEOUT


# ---- embeddings ----


def test_embed_returns_one_vector_per_input_and_the_service_usage(adapter, fake):
    response = adapter.embed(EmbeddingRequest(model=EMBED, inputs=("first text", "second text")))

    assert len(response.vectors) == 2
    assert {len(v) for v in response.vectors} == {1024}
    assert response.vectors[0] != response.vectors[1]
    assert response.usage.input_tokens == 4
    assert not response.usage.estimated
    body = fake.accepted[-1]
    assert body["inputs"] == ["first text", "second text"]
    assert (body["inputType"], body["truncate"]) == ("SEARCH_DOCUMENT", "NONE")
    assert body["servingMode"] == {"servingType": "ON_DEMAND", "modelId": EMBED}


def test_embed_sends_the_query_input_type(adapter, fake):
    adapter.embed(EmbeddingRequest(model=EMBED, inputs=("where is it?",), input_type="search_query"))

    assert fake.accepted[-1]["inputType"] == "SEARCH_QUERY"


def test_embed_asks_for_shorter_vectors_when_dimensions_are_given(adapter, fake):
    response = adapter.embed(EmbeddingRequest(model="cohere.embed-v4.0", inputs=("text",), dimensions=256))

    assert len(response.vectors[0]) == 256
    assert fake.accepted[-1]["outputDimensions"] == 256


def test_embed_splits_more_than_96_inputs_into_batches(adapter, fake):
    inputs = tuple(f"text number {i}" for i in range(100))

    response = adapter.embed(EmbeddingRequest(model=EMBED, inputs=inputs))

    assert len(response.vectors) == 100
    assert [len(body["inputs"]) for body in fake.accepted] == [96, 4]


def test_unsupported_embedding_dimensions_are_a_bad_request(adapter):
    with pytest.raises(ProviderError) as error:
        adapter.embed(EmbeddingRequest(model=EMBED, inputs=("text",), dimensions=256))

    assert error.value.kind is ErrorKind.BAD_REQUEST
    assert error.value.status_code == 400


# ---- what the fake rejects, and how the adapter maps it ----


def test_a_request_signed_with_an_unregistered_key_is_an_auth_error(make_adapter, fake):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    adapter = make_adapter(key=stranger)

    with pytest.raises(ProviderError) as error:
        adapter.chat(ask("hi"))

    assert error.value.kind is ErrorKind.AUTH
    assert error.value.status_code == 401
    assert fake.accepted == []


def test_the_fake_rejects_an_unsigned_request(fake):
    request = urllib.request.Request(
        fake.url + CHAT_PATH, data=b"{}", headers={"Content-Type": "application/json"}, method="POST"
    )

    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=5)

    assert error.value.code == 401
    assert json.loads(error.value.read())["code"] == "NotAuthenticated"
    assert error.value.headers["opc-request-id"]


def test_a_tool_result_for_an_unknown_call_is_rejected_as_a_bad_request(adapter):
    request = ChatRequest(
        model=LLAMA,
        messages=(
            Message("user", "Weather?"),
            Message("assistant", "", tool_calls=(ToolCall("call_1", "get_weather", '{"city": "Paris"}'),)),
            Message("tool", "sunny", tool_call_id="call_2"),
        ),
        tools=(WEATHER,),
    )

    with pytest.raises(ProviderError) as error:
        adapter.chat(request)

    assert error.value.kind is ErrorKind.BAD_REQUEST
    assert error.value.status_code == 400
    assert "call_2" in error.value.message


def test_an_out_of_range_temperature_is_rejected_as_a_bad_request(adapter):
    with pytest.raises(ProviderError) as error:
        adapter.chat(ask("hi", temperature=5.0))

    assert error.value.kind is ErrorKind.BAD_REQUEST


def test_a_prompt_longer_than_the_context_window_is_context_length_exceeded(adapter, fake):
    fake.context_window = 20

    with pytest.raises(ProviderError) as error:
        adapter.chat(ask("word " * 50))

    assert error.value.kind is ErrorKind.CONTEXT_LENGTH_EXCEEDED
    assert error.value.status_code == 400


def test_an_unknown_model_is_not_found(adapter):
    with pytest.raises(ProviderError) as error:
        adapter.chat(ask("hi", model="meta.llama-9-imaginary"))

    assert error.value.kind is ErrorKind.NOT_FOUND
    assert error.value.status_code == 404


def test_a_compartment_the_caller_cannot_see_is_not_found(make_adapter):
    adapter = make_adapter(compartment_id="ocid1.compartment.oc1..aaaaaaaaelsewhere")

    with pytest.raises(ProviderError) as error:
        adapter.chat(ask("hi"))

    assert error.value.kind is ErrorKind.NOT_FOUND


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (oci_error(400, "InvalidParameter", "Invalid parameter: maxTokens."), ErrorKind.BAD_REQUEST),
        (
            oci_error(400, "InvalidParameter", "Inappropriate content detected by content moderation."),
            ErrorKind.CONTENT_FILTERED,
        ),
        (
            oci_error(401, "NotAuthenticated", "The required information to complete authentication was not provided."),
            ErrorKind.AUTH,
        ),
        (oci_error(403, "NotAllowed", "You are not authorized to use this model."), ErrorKind.AUTH),
        (
            oci_error(404, "NotAuthorizedOrNotFound", "Authorization failed or requested resource not found."),
            ErrorKind.NOT_FOUND,
        ),
        (throttled(), ErrorKind.THROTTLED),
        (oci_error(500, "InternalServerError", "Internal error."), ErrorKind.UNAVAILABLE),
        (oci_error(502, "BadGateway", "Bad gateway."), ErrorKind.UNAVAILABLE),
        (oci_error(503, "ServiceUnavailable", "The service is unavailable."), ErrorKind.UNAVAILABLE),
        (oci_error(504, "GatewayTimeout", "Gateway timeout."), ErrorKind.UNAVAILABLE),
    ],
)
def test_service_errors_map_onto_error_kinds_keeping_the_status(adapter, fake, response, kind):
    fake.fail_next(response)

    with pytest.raises(ProviderError) as error:
        adapter.chat(ask("hi"))

    assert error.value.kind is kind
    assert error.value.status_code == response.status


def test_throttling_carries_the_retry_after_seconds(adapter, fake):
    fake.fail_next(throttled(retry_after=7))

    with pytest.raises(ProviderError) as error:
        adapter.chat(ask("hi"))

    assert error.value.kind is ErrorKind.THROTTLED
    assert error.value.retry_after == 7.0


def test_throttling_without_retry_after_leaves_it_unset(adapter, fake):
    fake.fail_next(throttled())

    with pytest.raises(ProviderError) as error:
        adapter.chat(ask("hi"))

    assert error.value.retry_after is None


def test_embedding_errors_are_mapped_too(adapter, fake):
    fake.fail_next(oci_error(503, "ServiceUnavailable", "The service is unavailable."))

    with pytest.raises(ProviderError) as error:
        adapter.embed(EmbeddingRequest(model=EMBED, inputs=("text",)))

    assert error.value.kind is ErrorKind.UNAVAILABLE


def test_the_sdk_does_not_retry_on_its_own(adapter, fake):
    fake.fail_next(oci_error(503, "ServiceUnavailable", "The service is unavailable."))

    with pytest.raises(ProviderError):
        adapter.chat(ask("hi"))

    assert len(fake.requests) == 1


def test_the_sdk_circuit_breaker_never_opens_on_repeated_failures(adapter, fake):
    fake.fail_next(oci_error(503, "ServiceUnavailable", "The service is unavailable."), times=12)
    for _ in range(12):
        with pytest.raises(ProviderError):
            adapter.chat(ask("hi"))

    assert adapter.chat(ask("hi")).content == "You said: hi"


def test_a_slow_answer_is_a_client_timeout(make_adapter, fake):
    adapter = make_adapter(timeout=0.3)
    fake.fail_next(FakeResponse(delay=1.0))

    with pytest.raises(ProviderError) as error:
        adapter.chat(ask("hi"))

    assert error.value.kind is ErrorKind.TIMEOUT


def test_an_unreachable_endpoint_is_unavailable(signing_key):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    credentials = {
        "user": USER,
        "tenancy": TENANCY,
        "fingerprint": fingerprint_of(signing_key.public_key()),
        "key_content": pem(signing_key),
    }
    adapter = OCIAdapter(
        AccountConfig(
            provider="oci",
            region="us-chicago-1",
            endpoint=f"http://127.0.0.1:{closed_port}",
            credentials=credentials,
            options={"compartment_id": COMPARTMENT},
            timeout_seconds=2,
        )
    )

    with pytest.raises(ProviderError) as error:
        adapter.chat(ask("hi"))

    assert error.value.kind is ErrorKind.UNAVAILABLE


# ---- ambient identity ----


def resource_principal_environment(monkeypatch, identity_key: rsa.RSAPrivateKey, issuer_trusted: bool = True) -> None:
    session_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    issuer = identity_key if issuer_trusted else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = issue_session_token(issuer, session_key.public_key(), tenancy=TENANCY, compartment=COMPARTMENT)
    monkeypatch.setenv("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2")
    monkeypatch.setenv("OCI_RESOURCE_PRINCIPAL_RPST", token)
    monkeypatch.setenv("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM", pem(session_key))
    monkeypatch.setenv("OCI_RESOURCE_PRINCIPAL_REGION", "us-chicago-1")


def test_empty_credentials_with_resource_principal_sign_with_the_session_token(monkeypatch, fake, identity_key):
    resource_principal_environment(monkeypatch, identity_key)
    adapter = OCIAdapter(
        AccountConfig(
            provider="oci", endpoint=fake.url, options={"compartment_id": COMPARTMENT, "auth": "resource_principal"}
        )
    )

    assert adapter.chat(ask("hi")).content == "You said: hi"
    assert fake.requests[-1].headers["authorization"].count('keyId="ST$') == 1


def test_a_session_token_from_an_untrusted_issuer_is_an_auth_error(monkeypatch, fake, identity_key):
    resource_principal_environment(monkeypatch, identity_key, issuer_trusted=False)
    adapter = OCIAdapter(
        AccountConfig(
            provider="oci", endpoint=fake.url, options={"compartment_id": COMPARTMENT, "auth": "resource_principal"}
        )
    )

    with pytest.raises(ProviderError) as error:
        adapter.chat(ask("hi"))

    assert error.value.kind is ErrorKind.AUTH


def test_a_missing_resource_principal_environment_is_an_auth_error(monkeypatch):
    monkeypatch.delenv("OCI_RESOURCE_PRINCIPAL_VERSION", raising=False)

    with pytest.raises(ProviderError) as error:
        OCIAdapter(
            AccountConfig(
                provider="oci",
                region="us-chicago-1",
                options={"compartment_id": COMPARTMENT, "auth": "resource_principal"},
            )
        )

    assert error.value.kind is ErrorKind.AUTH


def test_an_unknown_ambient_auth_mode_is_refused():
    with pytest.raises(ProviderError) as error:
        OCIAdapter(
            AccountConfig(
                provider="oci", region="us-chicago-1", options={"compartment_id": COMPARTMENT, "auth": "password"}
            )
        )

    assert error.value.kind is ErrorKind.BAD_REQUEST


# ---- structured outputs (GENERIC models: responseFormat) ----

PERSON = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


def test_a_json_schema_response_format_is_forwarded_as_generic_response_format(adapter, fake):
    response_format = ResponseFormat(type="json_schema", name="Person", schema=PERSON, strict=True)

    response = adapter.chat(ask("Ada", response_format=response_format))

    assert fake.accepted[-1]["chatRequest"]["responseFormat"] == {
        "type": "JSON_SCHEMA",
        "jsonSchema": {"name": "Person", "schema": PERSON, "isStrict": True},
    }
    assert json.loads(response.content) == {"name": None}


def test_a_json_object_response_format_is_forwarded_as_json_object(adapter, fake):
    response = adapter.chat(ask("json please", response_format=ResponseFormat(type="json_object")))

    assert fake.accepted[-1]["chatRequest"]["responseFormat"] == {"type": "JSON_OBJECT"}
    assert json.loads(response.content) == {"fake": True}


# ---- structured outputs (COHERE models: CohereResponseJsonFormat) ----


def test_a_json_schema_reaches_a_cohere_model_as_its_json_format_with_the_schema(adapter, fake):
    response_format = ResponseFormat(type="json_schema", name="Person", schema=PERSON, strict=True)

    response = adapter.chat(ask("Ada", model=COMMAND, response_format=response_format))

    assert fake.accepted[-1]["chatRequest"]["responseFormat"] == {"type": "JSON_OBJECT", "schema": PERSON}
    assert json.loads(response.content) == {"name": None}


def test_json_object_reaches_a_cohere_model_as_its_json_format_without_a_schema(adapter, fake):
    response = adapter.chat(ask("json please", model=COMMAND, response_format=ResponseFormat(type="json_object")))

    assert fake.accepted[-1]["chatRequest"]["responseFormat"] == {"type": "JSON_OBJECT"}
    assert json.loads(response.content) == {"fake": True}
