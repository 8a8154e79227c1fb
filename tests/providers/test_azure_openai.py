"""The Azure OpenAI adapter driving the real `openai` SDK (`AzureOpenAI`) against a strict fake of
`/openai/deployments/{deployment}/...?api-version=...`, with API keys and Entra ID tokens."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError

from genai_platform.providers.azure_openai import DEFAULT_API_VERSION, AzureOpenAIAdapter
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
    ToolCallDelta,
    ToolDefinition,
)
from tests.fakes.openai_wire import BLOCKED_COMPLETION, BLOCKED_PROMPT, FakeModel, OpenAIWireFake
from tests.fakes.server import FakeResponse

API_KEY = "azure-resource-key"
ENTRA_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.fake-entra-token"
WEATHER = ToolDefinition(
    name="get_weather",
    description="Current weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


class StaticTokenCredential:
    """Stands in for DefaultAzureCredential offline: the azure-core TokenCredential protocol."""

    def __init__(self, token: str = ENTRA_TOKEN) -> None:
        self.token = token
        self.requested_scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs) -> AccessToken:
        self.requested_scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


class NoIdentityCredential:
    """What DefaultAzureCredential does on a machine with no managed or workload identity."""

    def get_token(self, *scopes: str, **kwargs) -> AccessToken:
        raise ClientAuthenticationError(
            "DefaultAzureCredential failed to retrieve a token from the included credentials."
        )


@pytest.fixture(scope="module")
def shared_fake():
    with OpenAIWireFake(style="azure", api_key=API_KEY, bearer_tokens={ENTRA_TOKEN}) as server:
        yield server


@pytest.fixture
def fake(shared_fake):
    shared_fake.reset()
    return shared_fake


def adapter(
    fake: OpenAIWireFake, *, api_key: str | None = API_KEY, timeout: float = 5.0, token_credential=None, **options
) -> AzureOpenAIAdapter:
    return AzureOpenAIAdapter(
        AccountConfig(
            provider="azure_openai",
            endpoint=fake.url,
            credentials={"api_key": api_key} if api_key else {},
            options=options,
            timeout_seconds=timeout,
        ),
        token_credential=token_credential,
    )


def ask(text: str, deployment: str = "gpt-4o-mini", **fields) -> ChatRequest:
    return ChatRequest(model=deployment, messages=(Message("system", "Be brief."), Message("user", text)), **fields)


def raised_by(call) -> ProviderError:
    with pytest.raises(ProviderError) as raised:
        call()
    return raised.value


# ---- addressing and authentication ----


def test_chat_goes_to_the_deployment_with_the_api_version_and_api_key(fake):
    response = adapter(fake).chat(ask("hello"))

    request = fake.requests[-1]
    assert request.path == "/openai/deployments/gpt-4o-mini/chat/completions"
    assert request.query["api-version"] == [DEFAULT_API_VERSION]
    assert request.headers["api-key"] == API_KEY
    assert "authorization" not in request.headers
    assert response.content == 'You said: "hello"'


def test_the_api_version_is_an_account_option(fake):
    adapter(fake, api_version="2025-01-01-preview").chat(ask("hello"))

    assert fake.requests[-1].query["api-version"] == ["2025-01-01-preview"]


def test_without_an_api_key_the_worker_authenticates_with_an_entra_id_token(fake):
    credential = StaticTokenCredential()

    adapter(fake, api_key=None, token_credential=credential).chat(ask("hello"))

    request = fake.requests[-1]
    assert request.headers["authorization"] == f"Bearer {ENTRA_TOKEN}"
    assert "api-key" not in request.headers
    assert credential.requested_scopes == [("https://cognitiveservices.azure.com/.default",)]


def test_the_entra_id_token_is_reused_until_it_nears_expiry(fake):
    credential = StaticTokenCredential()
    llm = adapter(fake, api_key=None, token_credential=credential)

    llm.chat(ask("one"))
    llm.chat(ask("two"))

    assert len(credential.requested_scopes) == 1


def test_a_worker_without_an_identity_gets_an_auth_error_and_sends_nothing(fake):
    llm = adapter(fake, api_key=None, token_credential=NoIdentityCredential())

    error = raised_by(lambda: llm.chat(ask("hello")))

    assert error.kind == ErrorKind.AUTH
    assert fake.requests == []


def test_a_token_the_service_rejects_is_an_auth_error(fake):
    llm = adapter(fake, api_key=None, token_credential=StaticTokenCredential("expired-token"))

    error = raised_by(lambda: llm.chat(ask("hello")))

    assert (error.kind, error.status_code) == (ErrorKind.AUTH, 401)


def test_a_wrong_api_key_is_an_auth_error(fake):
    error = raised_by(lambda: adapter(fake, api_key="not-the-key").chat(ask("hello")))

    assert (error.kind, error.status_code) == (ErrorKind.AUTH, 401)


def test_an_unknown_deployment_is_not_found(fake):
    error = raised_by(lambda: adapter(fake).chat(ask("hello", deployment="gpt-5-prod")))

    assert (error.kind, error.status_code) == (ErrorKind.NOT_FOUND, 404)
    assert "DeploymentNotFound" in error.message


def test_an_account_without_endpoint_is_refused_at_construction():
    error = raised_by(lambda: AzureOpenAIAdapter(AccountConfig(provider="azure_openai", credentials={"api_key": "k"})))

    assert error.kind == ErrorKind.BAD_REQUEST


# ---- chat ----


def test_the_system_prompt_travels_as_the_first_message(fake):
    adapter(fake).chat(ask("hello"))

    assert fake.last_body()["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello"},
    ]


def test_chat_reports_the_services_usage(fake):
    response = adapter(fake).chat(ask("hello"))

    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens > 0
    assert not response.usage.estimated


def test_max_tokens_is_sent_as_max_completion_tokens_which_reasoning_deployments_require(fake):
    response = adapter(fake).chat(ask("a rather long question for the model", max_tokens=2))

    body = fake.last_body()
    assert body["max_completion_tokens"] == 2
    assert "max_tokens" not in body
    assert response.finish_reason == "length"


def test_older_api_versions_refuse_max_completion_tokens_and_stream_options(fake):
    llm = adapter(fake, api_version="2024-06-01")

    error = raised_by(lambda: llm.chat(ask("hello", max_tokens=10)))

    assert error.kind == ErrorKind.BAD_REQUEST
    assert "max_completion_tokens" in error.message


def test_an_older_api_version_works_with_max_tokens_and_estimated_stream_usage(fake):
    llm = adapter(fake, api_version="2024-06-01", max_tokens_parameter="max_tokens", stream_include_usage=False)

    end = list(llm.chat_stream(ask("hello", max_tokens=10)))[-1]

    assert fake.last_body()["max_tokens"] == 10
    assert end.finish_reason == "stop"
    assert end.usage.estimated


def test_an_embedding_deployment_cannot_chat(fake):
    error = raised_by(lambda: adapter(fake).chat(ask("hello", deployment="text-embedding-3-small")))

    assert (error.kind, error.status_code) == (ErrorKind.BAD_REQUEST, 400)


def test_a_malformed_request_is_a_bad_request(fake):
    error = raised_by(lambda: adapter(fake).chat(ask("hello", top_p=1.5)))

    assert (error.kind, error.status_code) == (ErrorKind.BAD_REQUEST, 400)
    assert "top_p" in error.message


def test_tool_call_round_trip(fake):
    llm = adapter(fake)
    question = ask("weather in Lisbon", tools=(WEATHER,), tool_choice="required")

    first = llm.chat(question)

    assert first.finish_reason == "tool_calls"
    [call] = first.tool_calls
    assert (call.name, json.loads(call.arguments)) == ("get_weather", {"city": "weather in Lisbon"})

    second = llm.chat(
        ChatRequest(
            model="gpt-4o-mini",
            messages=(
                *question.messages,
                Message("assistant", tool_calls=first.tool_calls),
                Message("tool", "sunny, 24C", tool_call_id=call.id),
            ),
            tools=(WEATHER,),
        )
    )

    assert second.content == 'The tool returned: "sunny, 24C"'
    assert fake.last_body()["messages"][-1] == {"role": "tool", "content": "sunny, 24C", "tool_call_id": call.id}


# ---- content filter and context window ----


def test_a_prompt_refused_by_the_content_filter_is_content_filtered(fake):
    error = raised_by(lambda: adapter(fake).chat(ask(f"please {BLOCKED_PROMPT}")))

    assert (error.kind, error.status_code) == (ErrorKind.CONTENT_FILTERED, 400)


def test_an_answer_cut_by_the_content_filter_finishes_with_content_filter(fake):
    response = adapter(fake).chat(ask(f"repeat {BLOCKED_COMPLETION}"))

    assert response.finish_reason == "content_filter"
    assert BLOCKED_COMPLETION not in response.content


def test_a_streamed_answer_cut_by_the_content_filter_ends_with_content_filter(fake):
    end = list(adapter(fake).chat_stream(ask(f"repeat {BLOCKED_COMPLETION}")))[-1]

    assert end.finish_reason == "content_filter"


def test_a_prompt_beyond_the_context_window_is_context_length_exceeded(fake):
    fake.models["gpt-35-small"] = FakeModel("gpt-35-turbo", context_window=30)

    error = raised_by(lambda: adapter(fake).chat(ask("word " * 50, deployment="gpt-35-small")))

    assert (error.kind, error.status_code) == (ErrorKind.CONTEXT_LENGTH_EXCEEDED, 400)


# ---- streaming ----


def test_streaming_skips_azures_filter_preamble_and_ends_with_usage(fake):
    events = list(adapter(fake).chat_stream(ask("stream this answer")))

    *deltas, end = events
    assert all(isinstance(e, TextDelta) for e in deltas)
    assert "".join(e.text for e in deltas) == 'You said: "stream this answer"'
    assert isinstance(end, StreamEnd)
    assert (end.finish_reason, end.usage.estimated) == ("stop", False)
    assert end.usage.output_tokens > 0
    assert fake.last_body()["stream_options"] == {"include_usage": True}


def test_a_streamed_tool_call_arrives_in_fragments(fake):
    events = list(adapter(fake).chat_stream(ask("weather in Rome", tools=(WEATHER,), tool_choice="get_weather")))

    *fragments, end = events
    assert all(isinstance(f, ToolCallDelta) for f in fragments)
    assert (fragments[0].name, fragments[0].id is not None) == ("get_weather", True)
    assert json.loads("".join(f.arguments for f in fragments)) == {"city": "weather in Rome"}
    assert end.finish_reason == "tool_calls"


# ---- embeddings ----


def test_embeddings_go_to_the_deployment_as_base64_and_come_back_as_floats(fake):
    response = adapter(fake).embed(
        EmbeddingRequest(model="text-embedding-3-small", inputs=("invoice", "refund"), dimensions=256)
    )

    request = fake.requests[-1]
    assert request.path == "/openai/deployments/text-embedding-3-small/embeddings"
    assert request.query["api-version"] == [DEFAULT_API_VERSION]
    assert fake.last_body()["encoding_format"] == "base64"
    assert [len(v) for v in response.vectors] == [256, 256]
    assert all(isinstance(x, float) for x in response.vectors[0])
    assert response.usage.input_tokens == 2


def test_embeddings_with_an_entra_id_token(fake):
    llm = adapter(fake, api_key=None, token_credential=StaticTokenCredential())

    response = llm.embed(EmbeddingRequest(model="text-embedding-3-small", inputs=("hello",)))

    assert len(response.vectors[0]) == 1536
    assert fake.requests[-1].headers["authorization"] == f"Bearer {ENTRA_TOKEN}"


def test_a_chat_deployment_cannot_embed(fake):
    error = raised_by(lambda: adapter(fake).embed(EmbeddingRequest(model="gpt-4o-mini", inputs=("hello",))))

    assert error.kind == ErrorKind.BAD_REQUEST


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
        (503, ErrorKind.UNAVAILABLE),
    ],
)
def test_http_statuses_map_onto_error_kinds(fake, status, kind):
    fake.fail_next(fake.error_response(status, "scripted failure", code=str(status)))

    error = raised_by(lambda: adapter(fake).chat(ask("hello")))

    assert (error.kind, error.status_code) == (kind, status)


def test_a_role_assignment_missing_on_the_identity_is_an_auth_error(fake):
    fake.fail_next(
        fake.error_response(
            403,
            "The principal `5f2c` lacks the required data action "
            "`Microsoft.CognitiveServices/accounts/OpenAI/deployments/chat/completions/action`.",
            code="PermissionDenied",
        )
    )

    error = raised_by(lambda: adapter(fake, api_key=None, token_credential=StaticTokenCredential()).chat(ask("hi")))

    assert (error.kind, error.status_code) == (ErrorKind.AUTH, 403)


def test_a_rate_limit_prefers_the_precise_retry_after_ms(fake):
    fake.fail_next(fake.rate_limited(retry_after=7, retry_after_ms=6500))

    error = raised_by(lambda: adapter(fake).chat(ask("hello")))

    assert (error.kind, error.retry_after) == (ErrorKind.THROTTLED, 6.5)


def test_a_rate_limit_with_only_retry_after_uses_its_seconds(fake):
    fake.fail_next(fake.rate_limited(retry_after=12))

    error = raised_by(lambda: adapter(fake).chat(ask("hello")))

    assert (error.kind, error.retry_after, error.status_code) == (ErrorKind.THROTTLED, 12.0, 429)


def test_a_rate_limited_stream_is_throttled(fake):
    fake.fail_next(fake.rate_limited(retry_after=3))

    error = raised_by(lambda: list(adapter(fake).chat_stream(ask("hello"))))

    assert (error.kind, error.retry_after) == (ErrorKind.THROTTLED, 3.0)


def test_a_slow_deployment_is_a_timeout(fake):
    fake.fail_next(FakeResponse(delay=0.6))

    error = raised_by(lambda: adapter(fake, timeout=0.2).chat(ask("hello")))

    assert error.kind == ErrorKind.TIMEOUT


def test_a_content_filter_error_event_mid_stream_is_content_filtered(fake):
    fake.interrupt_next_stream(after_chunks=3, error={"message": "Output filtered", "code": "content_filter"})

    error = raised_by(lambda: list(adapter(fake).chat_stream(ask("a long enough answer"))))

    assert error.kind == ErrorKind.CONTENT_FILTERED


# ---- the fake is as strict as the service ----


def post(url: str, body: dict, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **headers}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_fake_answers_a_request_without_api_version_with_resource_not_found(fake):
    status, body = post(
        f"{fake.url}/openai/deployments/gpt-4o-mini/chat/completions",
        {"messages": [{"role": "user", "content": "hi"}]},
        {"api-key": API_KEY},
    )

    assert (status, body["error"]["code"], body["error"]["message"]) == (404, "404", "Resource not found")


def test_the_fake_refuses_unknown_roles_and_arguments(fake):
    url = f"{fake.url}/openai/deployments/gpt-4o-mini/chat/completions?api-version={DEFAULT_API_VERSION}"

    role_status, role_body = post(url, {"messages": [{"role": "bot", "content": "hi"}]}, {"api-key": API_KEY})
    extra_status, extra_body = post(
        url, {"messages": [{"role": "user", "content": "hi"}], "temprature": 1}, {"api-key": API_KEY}
    )

    assert (role_status, role_body["error"]["param"]) == (400, "messages[0].role")
    assert (extra_status, extra_body["error"]["message"]) == (400, "Unrecognized request argument supplied: temprature")


def test_the_fake_requires_credentials(fake):
    url = f"{fake.url}/openai/deployments/gpt-4o-mini/chat/completions?api-version={DEFAULT_API_VERSION}"

    status, body = post(url, {"messages": [{"role": "user", "content": "hi"}]}, {})

    assert status == 401
    assert set(body["error"]) >= {"message", "type", "param", "code"}


# ---- structured outputs ----


def test_a_strict_json_schema_response_format_is_forwarded_to_the_deployment(fake):
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    }
    response_format = ResponseFormat(type="json_schema", name="Place", schema=schema, strict=True)

    response = adapter(fake).chat(ask("Paris", response_format=response_format))

    assert fake.last_body()["response_format"]["json_schema"] == {"name": "Place", "schema": schema, "strict": True}
    assert json.loads(response.content) == {"city": None}
