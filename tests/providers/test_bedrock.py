"""The Bedrock adapter, driving the real boto3 client against a strict, SigV4-verifying fake of Bedrock Runtime."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from genai_platform.providers.bedrock import BedrockAdapter
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
)
from tests.fakes.bedrock import (
    ACCESS_KEY_ID,
    APPLICATION_PROFILE_ARN,
    CLAUDE,
    CLAUDE_US_PROFILE,
    COHERE_EMBED_V3,
    COHERE_EMBED_V4,
    REGION,
    SECRET_ACCESS_KEY,
    SESSION_TOKEN,
    TEMPORARY_ACCESS_KEY_ID,
    TEMPORARY_SECRET_ACCESS_KEY,
    TITAN_EMBED_V2,
    FakeBedrock,
    StreamError,
    bedrock_error,
)
from tests.fakes.server import FakeResponse

KEYS = {"aws_access_key_id": ACCESS_KEY_ID, "aws_secret_access_key": SECRET_ACCESS_KEY}
WEATHER = ToolDefinition(
    name="get_weather",
    description="Current weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


@pytest.fixture(scope="module")
def bedrock_service() -> Iterator[FakeBedrock]:
    with FakeBedrock() as service:
        yield service


@pytest.fixture
def fake(bedrock_service: FakeBedrock) -> Iterator[FakeBedrock]:
    bedrock_service.reset()
    yield bedrock_service
    assert bedrock_service.handler_errors == []


def account(fake: FakeBedrock, **fields) -> AccountConfig:
    return AccountConfig(
        provider="bedrock",
        **{"region": REGION, "endpoint": fake.url, "credentials": KEYS, "timeout_seconds": 5.0, **fields},
    )


@pytest.fixture(scope="module")
def shared_adapter(bedrock_service: FakeBedrock) -> BedrockAdapter:
    # One adapter serves many calls in a worker; building a boto3 client costs ~0.2s, so tests share it too.
    return BedrockAdapter(account(bedrock_service))


@pytest.fixture
def adapter(shared_adapter: BedrockAdapter, fake: FakeBedrock) -> BedrockAdapter:
    return shared_adapter


def ask(text: str, model: str = CLAUDE, **fields) -> ChatRequest:
    return ChatRequest(model=model, messages=(Message("system", "Be brief."), Message("user", text)), **fields)


def error_of(call) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        call()
    return caught.value


# ---- chat ----


def test_system_prompts_are_lifted_into_the_converse_system_field(adapter, fake):
    adapter.chat(ask("Hello"))

    body = fake.last_call("converse").body
    assert body["system"] == [{"text": "Be brief."}]
    assert body["messages"] == [{"role": "user", "content": [{"text": "Hello"}]}]


def test_chat_returns_the_model_text_with_reported_usage_and_request_id(adapter):
    response = adapter.chat(ask("What is Bedrock?"))

    assert response.content == 'You said: "What is Bedrock?"'
    assert response.finish_reason == "stop"
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens > 0
    assert not response.usage.estimated
    assert response.provider_response_id


def test_sampling_parameters_travel_in_inference_config(adapter, fake):
    adapter.chat(ask("Hi", temperature=0.2, top_p=0.9, max_tokens=100, stop=("END",)))

    assert fake.last_call().body["inferenceConfig"] == {
        "maxTokens": 100,
        "temperature": 0.2,
        "topP": 0.9,
        "stopSequences": ["END"],
    }


def test_an_answer_cut_by_max_tokens_finishes_with_length(adapter):
    response = adapter.chat(ask("tell me a rather long story please", max_tokens=3))

    assert response.finish_reason == "length"
    assert response.usage.output_tokens <= 3


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
    ],
)
def test_stop_reasons_map_onto_finish_reasons(adapter, fake, stop_reason, finish_reason):
    fake.stop_reason_override = stop_reason

    assert adapter.chat(ask("Hi")).finish_reason == finish_reason


def test_malformed_model_output_is_a_retryable_failure(adapter, fake):
    fake.stop_reason_override = "malformed_model_output"

    assert error_of(lambda: adapter.chat(ask("Hi"))).kind is ErrorKind.UNAVAILABLE


def test_an_application_inference_profile_arn_reaches_the_service_intact(adapter, fake):
    adapter.chat(ask("Hi", model=APPLICATION_PROFILE_ARN))

    assert fake.requests[-1].path == f"/model/{quote(APPLICATION_PROFILE_ARN, safe='')}/converse"
    assert fake.last_call().model_id == APPLICATION_PROFILE_ARN


def test_a_cross_region_inference_profile_id_is_accepted(adapter, fake):
    response = adapter.chat(ask("Hi", model=CLAUDE_US_PROFILE))

    assert response.content == 'You said: "Hi"'
    assert fake.last_call().model_id == CLAUDE_US_PROFILE


def test_consecutive_user_messages_are_merged_into_one_turn(adapter, fake):
    adapter.chat(ChatRequest(model=CLAUDE, messages=(Message("user", "First."), Message("user", "Second."))))

    assert fake.last_call().body["messages"] == [{"role": "user", "content": [{"text": "First."}, {"text": "Second."}]}]


# ---- tools ----


def test_tools_are_sent_as_tool_specs_with_their_json_schema(adapter, fake):
    adapter.chat(ask("Hi", tools=(WEATHER,)))

    assert fake.last_call().body["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_weather",
                    "description": "Current weather for a city",
                    "inputSchema": {"json": dict(WEATHER.parameters)},
                }
            }
        ]
    }


@pytest.mark.parametrize(
    ("tool_choice", "converse_choice"),
    [("auto", None), ("required", {"any": {}}), ("get_weather", {"tool": {"name": "get_weather"}})],
)
def test_tool_choice_maps_onto_converse_tool_choice(adapter, fake, tool_choice, converse_choice):
    adapter.chat(ask("Hi", tools=(WEATHER,), tool_choice=tool_choice))

    assert fake.last_call().body["toolConfig"].get("toolChoice") == converse_choice


def test_tool_choice_none_withholds_the_tools(adapter, fake):
    response = adapter.chat(ask("get_weather for Paris", tools=(WEATHER,), tool_choice="none"))

    assert "toolConfig" not in fake.last_call().body
    assert response.tool_calls == ()


def test_a_tool_choice_naming_an_undefined_tool_is_a_bad_request(adapter, fake):
    error = error_of(lambda: adapter.chat(ask("Hi", tools=(WEATHER,), tool_choice="get_time")))

    assert error.kind is ErrorKind.BAD_REQUEST
    assert fake.calls == []


def test_tool_call_round_trip(adapter, fake):
    first = adapter.chat(ask("Paris", tools=(WEATHER,), tool_choice="required"))

    assert first.finish_reason == "tool_calls"
    [call] = first.tool_calls
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}

    history = (
        *ask("Paris").messages,
        Message("assistant", first.content, tool_calls=first.tool_calls),
        Message("tool", "18°C and sunny", tool_call_id=call.id),
    )
    second = adapter.chat(ChatRequest(model=CLAUDE, messages=history, tools=(WEATHER,)))

    assert second.finish_reason == "stop"
    assert second.content == 'The tool returned: "18°C and sunny"'
    assistant, result = fake.last_call().body["messages"][1:]
    assert assistant["content"][-1] == {
        "toolUse": {"toolUseId": call.id, "name": "get_weather", "input": {"city": "Paris"}}
    }
    assert result == {
        "role": "user",
        "content": [{"toolResult": {"toolUseId": call.id, "content": [{"text": "18°C and sunny"}]}}],
    }


def test_results_of_parallel_tool_calls_share_one_user_turn(adapter, fake):
    calls = (
        ToolCall("tooluse_a", "get_weather", '{"city": "Paris"}'),
        ToolCall("tooluse_b", "get_weather", '{"city": "Rome"}'),
    )
    history = (
        Message("user", "Paris and Rome?"),
        Message("assistant", "", tool_calls=calls),
        Message("tool", "18°C", tool_call_id="tooluse_a"),
        Message("tool", "24°C", tool_call_id="tooluse_b"),
    )

    response = adapter.chat(ChatRequest(model=CLAUDE, messages=history, tools=(WEATHER,)))

    assert response.content == 'The tool returned: "18°C 24°C"'
    assert [list(block) for block in fake.last_call().body["messages"][2]["content"]] == [
        ["toolResult"],
        ["toolResult"],
    ]


def test_tool_history_without_tool_definitions_still_carries_a_tool_config(adapter, fake):
    call = ToolCall("tooluse_a", "get_weather", '{"city": "Paris"}')
    history = (
        Message("user", "Paris?"),
        Message("assistant", "", tool_calls=(call,)),
        Message("tool", "18°C", tool_call_id="tooluse_a"),
    )

    adapter.chat(ChatRequest(model=CLAUDE, messages=history))

    assert [t["toolSpec"]["name"] for t in fake.last_call().body["toolConfig"]["tools"]] == ["get_weather"]


# ---- streaming ----


def test_stream_yields_text_pieces_then_one_end_with_usage(adapter):
    events = list(adapter.chat_stream(ask("stream this answer please")))

    *deltas, end = events
    assert len(deltas) > 1
    assert all(isinstance(e, TextDelta) for e in deltas)
    assert "".join(e.text for e in deltas) == adapter.chat(ask("stream this answer please")).content
    assert isinstance(end, StreamEnd)
    assert end.finish_reason == "stop"
    assert end.usage.input_tokens > 0
    assert end.usage.output_tokens > 0
    assert not end.usage.estimated


def test_stream_uses_the_converse_stream_operation(adapter, fake):
    list(adapter.chat_stream(ask("Hi")))

    assert fake.requests[-1].path == f"/model/{quote(CLAUDE, safe='')}/converse-stream"


def test_streamed_tool_call_arrives_as_id_and_name_then_argument_fragments(adapter):
    events = list(adapter.chat_stream(ask("Paris", tools=(WEATHER,), tool_choice="required")))

    tool_events = [e for e in events if isinstance(e, ToolCallDelta)]
    assert tool_events[0].index == 0
    assert tool_events[0].name == "get_weather"
    assert tool_events[0].id.startswith("tooluse_")
    assert all(e.index == 0 and e.id is None for e in tool_events[1:])
    assert json.loads("".join(e.arguments for e in tool_events)) == {"city": "Paris"}
    assert events[-1] == StreamEnd("tool_calls", events[-1].usage)


def test_an_exception_event_mid_stream_becomes_a_provider_error(adapter, fake):
    fake.stream_error = StreamError("throttlingException", "Too many tokens, please wait before trying again.")
    stream = adapter.chat_stream(ask("stream this answer please"))

    assert isinstance(next(stream), TextDelta)
    error = error_of(lambda: list(stream))
    assert error.kind is ErrorKind.THROTTLED
    assert error.status_code == 429


def test_a_model_stream_error_mid_stream_is_unavailable(adapter, fake):
    fake.stream_error = StreamError("modelStreamErrorException", "The model failed mid-stream.")

    assert error_of(lambda: list(adapter.chat_stream(ask("Hi there")))).kind is ErrorKind.UNAVAILABLE


def test_a_stream_that_stalls_past_the_timeout_times_out(fake):
    adapter = BedrockAdapter(account(fake, timeout_seconds=0.3))
    fake.stream_stall = (2, 1.0)
    stream = adapter.chat_stream(ask("stream this answer please"))

    assert isinstance(next(stream), TextDelta)
    assert error_of(lambda: list(stream)).kind is ErrorKind.TIMEOUT


def test_a_stream_refused_before_its_first_event_raises_a_provider_error(adapter, fake):
    fake.fail_next(bedrock_error(429, "ThrottlingException", "Too many requests, please wait before trying again."))

    assert error_of(lambda: next(adapter.chat_stream(ask("Hi")))).kind is ErrorKind.THROTTLED


# ---- embeddings ----


def test_titan_embeds_one_text_per_call_with_dimensions_and_normalize(adapter, fake):
    response = adapter.embed(EmbeddingRequest(model=TITAN_EMBED_V2, inputs=("first text", "second"), dimensions=256))

    assert [c.body for c in fake.calls] == [
        {"inputText": "first text", "dimensions": 256, "normalize": True},
        {"inputText": "second", "dimensions": 256, "normalize": True},
    ]
    assert [len(v) for v in response.vectors] == [256, 256]
    assert response.usage.input_tokens == 3
    assert not response.usage.estimated


def test_cohere_embeds_a_batch_per_call_with_the_input_type(adapter, fake):
    response = adapter.embed(
        EmbeddingRequest(model=COHERE_EMBED_V3, inputs=("a query", "b"), input_type="search_query")
    )

    assert [c.body for c in fake.calls] == [{"texts": ["a query", "b"], "input_type": "search_query"}]
    assert [len(v) for v in response.vectors] == [1024, 1024]
    assert response.usage.input_tokens == 3


def test_cohere_defaults_to_embedding_documents(adapter, fake):
    adapter.embed(EmbeddingRequest(model=COHERE_EMBED_V3, inputs=("a",)))

    assert fake.last_call().body["input_type"] == "search_document"


def test_cohere_batches_are_split_at_96_texts(adapter, fake):
    response = adapter.embed(EmbeddingRequest(model=COHERE_EMBED_V3, inputs=tuple(f"text {i}" for i in range(100))))

    assert [len(c.body["texts"]) for c in fake.calls] == [96, 4]
    assert len(response.vectors) == 100


def test_cohere_v4_vectors_returned_by_type_are_read_with_the_requested_size(adapter, fake):
    response = adapter.embed(EmbeddingRequest(model=f"us.{COHERE_EMBED_V4}", inputs=("a", "b"), dimensions=512))

    assert fake.last_call().body["output_dimension"] == 512
    assert [len(v) for v in response.vectors] == [512, 512]


def test_embedding_vectors_are_deterministic(adapter):
    request = EmbeddingRequest(model=TITAN_EMBED_V2, inputs=("same text",))

    assert adapter.embed(request).vectors == adapter.embed(request).vectors


def test_an_unsupported_titan_dimension_is_refused_by_the_model(adapter):
    error = error_of(lambda: adapter.embed(EmbeddingRequest(model=TITAN_EMBED_V2, inputs=("a",), dimensions=300)))

    assert error.kind is ErrorKind.BAD_REQUEST
    assert "dimensions" in error.message


def test_an_embedding_model_of_unknown_family_is_a_bad_request(adapter, fake):
    error = error_of(lambda: adapter.embed(EmbeddingRequest(model=APPLICATION_PROFILE_ARN, inputs=("a",))))

    assert error.kind is ErrorKind.BAD_REQUEST
    assert fake.calls == []


def test_embedding_formats_option_names_the_family_behind_an_application_profile(fake):
    profile = APPLICATION_PROFILE_ARN.replace("abc123", "embed01")
    fake.application_profiles[profile] = COHERE_EMBED_V3
    adapter = BedrockAdapter(account(fake, options={"embedding_formats": {profile: "cohere"}}))

    response = adapter.embed(EmbeddingRequest(model=profile, inputs=("a", "b")))

    assert len(response.vectors) == 2
    assert fake.last_call().model_id == profile


def test_an_embedding_answer_without_vectors_is_unavailable(adapter, fake):
    fake.fail_next(FakeResponse.json({"message": "not an embedding"}, headers={"x-amzn-RequestId": "odd"}))

    error = error_of(lambda: adapter.embed(EmbeddingRequest(model=TITAN_EMBED_V2, inputs=("a",))))

    assert error.kind is ErrorKind.UNAVAILABLE


def test_embedding_failures_are_mapped_like_chat_failures(adapter, fake):
    fake.fail_next(bedrock_error(429, "ThrottlingException", "Too many requests, please wait before trying again."))

    error = error_of(lambda: adapter.embed(EmbeddingRequest(model=TITAN_EMBED_V2, inputs=("a",))))

    assert error.kind is ErrorKind.THROTTLED


# ---- credentials and signatures ----


def test_a_wrong_secret_key_is_refused_as_an_invalid_signature(fake):
    adapter = BedrockAdapter(account(fake, credentials={**KEYS, "aws_secret_access_key": "not-the-secret"}))

    error = error_of(lambda: adapter.chat(ask("Hi")))

    assert error.kind is ErrorKind.AUTH
    assert error.status_code == 403
    assert "InvalidSignatureException" in error.message


def test_an_unknown_access_key_is_refused(fake):
    adapter = BedrockAdapter(account(fake, credentials={**KEYS, "aws_access_key_id": "AKIAUNKNOWNKEY000000"}))

    error = error_of(lambda: adapter.chat(ask("Hi")))

    assert error.kind is ErrorKind.AUTH
    assert "UnrecognizedClientException" in error.message


def test_temporary_credentials_sign_their_session_token(fake):
    credentials = {
        "aws_access_key_id": TEMPORARY_ACCESS_KEY_ID,
        "aws_secret_access_key": TEMPORARY_SECRET_ACCESS_KEY,
        "aws_session_token": SESSION_TOKEN,
    }

    BedrockAdapter(account(fake, credentials=credentials)).chat(ask("Hi"))

    assert fake.requests[-1].headers["x-amz-security-token"] == SESSION_TOKEN


def test_temporary_credentials_without_their_session_token_are_refused(fake):
    credentials = {"aws_access_key_id": TEMPORARY_ACCESS_KEY_ID, "aws_secret_access_key": TEMPORARY_SECRET_ACCESS_KEY}

    assert (
        error_of(lambda: BedrockAdapter(account(fake, credentials=credentials)).chat(ask("Hi"))).kind is ErrorKind.AUTH
    )


def test_empty_credentials_use_the_sdk_default_chain(fake, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)

    BedrockAdapter(account(fake, credentials={})).chat(ask("Hi"))

    assert f"Credential={ACCESS_KEY_ID}/" in fake.requests[-1].headers["authorization"]


@pytest.mark.parametrize("credentials", [KEYS, {}], ids=["explicit keys", "default chain"])
def test_a_bedrock_api_key_in_the_environment_never_replaces_sigv4(fake, monkeypatch, credentials):
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "ABSKQmVkcm9ja0FQSUtleS1leGFtcGxl")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)

    BedrockAdapter(account(fake, credentials=credentials)).chat(ask("Hi"))

    assert fake.requests[-1].headers["authorization"].startswith("AWS4-HMAC-SHA256 ")


def test_the_profile_option_signs_with_a_named_profile_of_the_aws_config(fake, monkeypatch, tmp_path):
    config_file = tmp_path / "config"
    config_file.write_text(
        f"[profile bedrock-prod]\naws_access_key_id = {ACCESS_KEY_ID}\naws_secret_access_key = {SECRET_ACCESS_KEY}\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config_file))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))

    BedrockAdapter(account(fake, credentials={}, options={"profile": "bedrock-prod"})).chat(ask("Hi"))

    assert f"Credential={ACCESS_KEY_ID}/" in fake.requests[-1].headers["authorization"]


def test_an_account_without_a_region_is_refused(fake):
    assert error_of(lambda: BedrockAdapter(account(fake, region=""))).kind is ErrorKind.BAD_REQUEST


def test_an_invalid_pool_size_option_is_refused(fake):
    options = {"max_pool_connections": "many"}

    assert error_of(lambda: BedrockAdapter(account(fake, options=options))).kind is ErrorKind.BAD_REQUEST


def test_half_a_key_pair_is_refused(fake):
    credentials = {"aws_access_key_id": ACCESS_KEY_ID}

    assert error_of(lambda: BedrockAdapter(account(fake, credentials=credentials))).kind is ErrorKind.AUTH


def test_the_registry_builds_the_bedrock_adapter(fake):
    assert isinstance(build_adapter(account(fake)), BedrockAdapter)


def _signed_request(fake: FakeBedrock, body: bytes) -> AWSRequest:
    request = AWSRequest(
        method="POST",
        url=f"{fake.url}/model/{quote(CLAUDE, safe='')}/converse",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    SigV4Auth(Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY), "bedrock", REGION).add_auth(request)
    return request


def _send(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, dict]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers.get("x-amzn-ErrorType", ""), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("x-amzn-ErrorType", ""), json.loads(exc.read())


HELLO = json.dumps({"messages": [{"role": "user", "content": [{"text": "Hello"}]}]}).encode()


def test_the_fake_accepts_a_request_signed_by_hand(fake):
    signed = _signed_request(fake, HELLO)

    status, _, body = _send(signed.url, HELLO, dict(signed.headers))

    assert status == 200
    assert body["output"]["message"]["content"] == [{"text": 'You said: "Hello"'}]


def test_the_fake_refuses_a_body_changed_after_signing(fake):
    signed = _signed_request(fake, HELLO)
    tampered = HELLO.replace(b"Hello", b"Howdy")

    status, error_type, body = _send(signed.url, tampered, dict(signed.headers))

    assert status == 403
    assert error_type.startswith("InvalidSignatureException")
    assert "signature we calculated does not match" in body["message"]


def test_the_fake_refuses_an_unsigned_request(fake):
    url = f"{fake.url}/model/{quote(CLAUDE, safe='')}/converse"

    status, error_type, body = _send(url, HELLO, {"Content-Type": "application/json"})

    assert status == 403
    assert error_type.startswith("MissingAuthenticationTokenException")
    assert body == {"message": "Missing Authentication Token"}


# ---- requests the service refuses ----


def test_a_conversation_starting_with_the_assistant_is_refused(adapter):
    error = error_of(lambda: adapter.chat(ChatRequest(model=CLAUDE, messages=(Message("assistant", "Hi"),))))

    assert error.kind is ErrorKind.BAD_REQUEST
    assert error.status_code == 400
    assert "must start with a user message" in error.message


def test_an_out_of_range_temperature_is_refused(adapter):
    error = error_of(lambda: adapter.chat(ask("Hi", temperature=1.5)))

    assert error.kind is ErrorKind.BAD_REQUEST
    assert "inferenceConfig.temperature" in error.message


def test_a_request_the_sdk_refuses_before_sending_is_a_bad_request(adapter, fake):
    error = error_of(lambda: adapter.chat(ask("Hi", max_tokens=0)))

    assert error.kind is ErrorKind.BAD_REQUEST
    assert fake.requests == []


def test_an_unknown_model_id_is_refused(adapter):
    error = error_of(lambda: adapter.chat(ask("Hi", model="anthropic.claude-99")))

    assert error.kind is ErrorKind.BAD_REQUEST
    assert "model identifier is invalid" in error.message


def test_an_unknown_application_profile_is_not_found(adapter):
    missing = APPLICATION_PROFILE_ARN.replace("abc123", "gone99")

    assert error_of(lambda: adapter.chat(ask("Hi", model=missing))).kind is ErrorKind.NOT_FOUND


def test_chatting_with_an_embedding_model_is_refused(adapter):
    assert error_of(lambda: adapter.chat(ask("Hi", model=TITAN_EMBED_V2))).kind is ErrorKind.BAD_REQUEST


def test_a_prompt_longer_than_the_context_window_is_context_length_exceeded(adapter, fake):
    fake.context_window = 10

    error = error_of(lambda: adapter.chat(ask("a prompt that is clearly longer than ten tokens in total")))

    assert error.kind is ErrorKind.CONTEXT_LENGTH_EXCEEDED
    assert error.status_code == 400


def test_a_content_filter_refusal_is_content_filtered(adapter, fake):
    fake.fail_next(bedrock_error(400, "ValidationException", "This request has been blocked by our content filters."))

    assert error_of(lambda: adapter.chat(ask("Hi"))).kind is ErrorKind.CONTENT_FILTERED


# ---- error mapping ----


@pytest.mark.parametrize(
    ("status", "error_type", "kind"),
    [
        (400, "ValidationException", ErrorKind.BAD_REQUEST),
        (400, "ServiceQuotaExceededException", ErrorKind.THROTTLED),
        (401, "UnauthorizedException", ErrorKind.AUTH),
        (403, "AccessDeniedException", ErrorKind.AUTH),
        (404, "ResourceNotFoundException", ErrorKind.NOT_FOUND),
        (408, "ModelTimeoutException", ErrorKind.TIMEOUT),
        (424, "ModelErrorException", ErrorKind.UNAVAILABLE),
        (429, "ThrottlingException", ErrorKind.THROTTLED),
        (429, "ModelNotReadyException", ErrorKind.UNAVAILABLE),
        (500, "InternalServerException", ErrorKind.UNAVAILABLE),
        (502, "BadGatewayException", ErrorKind.UNAVAILABLE),
        (503, "ServiceUnavailableException", ErrorKind.UNAVAILABLE),
        (504, "GatewayTimeoutException", ErrorKind.UNAVAILABLE),
    ],
)
def test_service_errors_map_onto_error_kinds(adapter, fake, status, error_type, kind):
    fake.fail_next(bedrock_error(status, error_type, f"{error_type} from the fake"))

    error = error_of(lambda: adapter.chat(ask("Hi")))

    assert error.kind is kind
    assert error.status_code == status
    assert f"{error_type} from the fake" in error.message


def test_retry_after_on_a_throttle_becomes_retry_after(adapter, fake):
    fake.fail_next(bedrock_error(429, "ThrottlingException", "Too many requests", headers={"Retry-After": "7"}))

    error = error_of(lambda: adapter.chat(ask("Hi")))

    assert error.kind is ErrorKind.THROTTLED
    assert error.retry_after == 7.0


def test_a_throttle_without_retry_after_leaves_it_unset(adapter, fake):
    fake.fail_next(bedrock_error(429, "ThrottlingException", "Too many requests"))

    assert error_of(lambda: adapter.chat(ask("Hi"))).retry_after is None


def test_the_sdk_does_not_retry_on_its_own(adapter, fake):
    fake.fail_next(bedrock_error(503, "ServiceUnavailableException", "Service unavailable"), times=3)

    error_of(lambda: adapter.chat(ask("Hi")))

    assert len(fake.requests) == 1


def test_a_slow_answer_is_a_client_timeout(fake):
    adapter = BedrockAdapter(account(fake, timeout_seconds=0.3))
    fake.stall_next(1.0)

    assert error_of(lambda: adapter.chat(ask("Hi"))).kind is ErrorKind.TIMEOUT


def test_an_unreachable_endpoint_is_unavailable(fake):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    adapter = BedrockAdapter(account(fake, endpoint=f"http://127.0.0.1:{closed_port}"))

    assert error_of(lambda: adapter.chat(ask("Hi"))).kind is ErrorKind.UNAVAILABLE


# ---- structured outputs: forced tool use ----

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


def test_a_json_schema_response_format_is_a_forced_tool_whose_input_is_the_answer(adapter, fake):
    response_format = ResponseFormat(type="json_schema", name="Person", schema=PERSON, strict=True)

    response = adapter.chat(ask("Ada", response_format=response_format))

    tool_config = fake.last_call().body["toolConfig"]
    assert tool_config["toolChoice"] == {"tool": {"name": "Person"}}
    assert tool_config["tools"][0]["toolSpec"]["inputSchema"] == {"json": PERSON}
    assert json.loads(response.content) == {"name": "Ada"}
    assert (response.finish_reason, response.tool_calls) == ("stop", ())


def test_a_streamed_structured_answer_arrives_as_text(adapter, fake):
    response_format = ResponseFormat(type="json_schema", name="Person", schema=PERSON)

    events = list(adapter.chat_stream(ask("Ada", response_format=response_format)))

    assert json.loads("".join(e.text for e in events if isinstance(e, TextDelta))) == {"name": "Ada"}
    assert events[-1].finish_reason == "stop"


def test_next_to_the_callers_tools_the_model_must_call_one_of_them_or_answer(adapter, fake):
    adapter.chat(ask("Hi", tools=(WEATHER,), response_format=ResponseFormat(type="json_object")))

    tool_config = fake.last_call().body["toolConfig"]
    assert [t["toolSpec"]["name"] for t in tool_config["tools"]] == ["get_weather", "json_response"]
    assert tool_config["toolChoice"] == {"any": {}}
