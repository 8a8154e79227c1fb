"""The inference core on its own, without HTTP: a call is metered once whatever ends it, refusals
are domain errors, and the gateway turns each kind of domain error into one HTTP status."""

from __future__ import annotations

import contextvars

import pytest
from asgiref.sync import async_to_sync

from genai_platform.gateway.errors import gateway_error_for
from genai_platform.inference.chat import chat_complete, chat_stream_steps
from genai_platform.inference.errors import (
    GuardrailBlocked,
    InferenceError,
    InvalidRequest,
    LimitRefused,
    ModelNotFound,
    NotPermitted,
    ProviderFailed,
    ProviderMisbehaved,
    Unavailable,
)
from genai_platform.inference.metering import CallMeter
from genai_platform.inference.principal import KeyPrincipal, key_principal
from genai_platform.ledger.services import usage_flush
from genai_platform.metering.models import UsageRecord
from genai_platform.providers.types import ChatRequest, ErrorKind, Message, ProviderError, TextDelta
from genai_platform.router.waiting import adrive
from lob_tenants.models import UseCase
from tests.factories import AliasFactory, DeploymentFactory, UseCaseFactory, issue_key

pytestmark = pytest.mark.django_db


def flush() -> list[UsageRecord]:
    usage_flush(consumer="test")
    return list(UsageRecord.objects.order_by("id"))


def principal_of(use_case: UseCase) -> KeyPrincipal:
    principal = key_principal(issue_key(use_case)[1])
    assert principal is not None
    return principal


@pytest.fixture
def principal() -> KeyPrincipal:
    return principal_of(UseCaseFactory(aliases=[AliasFactory(name="core-chat", deployments=[DeploymentFactory()])]))


def hello(text: str = "Hello there") -> ChatRequest:
    return ChatRequest(model="core-chat", messages=(Message(role="user", content=text),))


def test_a_whole_call_answers_and_is_metered_once(principal):
    result = chat_complete(principal, hello(), request_id="req_core_whole")

    assert result.response.content
    assert result.served is not None and not result.cached
    [record] = flush()
    assert (record.request_id, record.endpoint, record.status) == ("req_core_whole", "chat", "success")
    assert record.output_tokens == result.response.usage.output_tokens


def test_a_refused_call_raises_a_domain_error_and_meters_nothing():
    draft = UseCaseFactory(aliases=[AliasFactory(name="core-chat")], status=UseCase.Status.DRAFT)

    with pytest.raises(NotPermitted) as refused:
        chat_complete(principal_of(draft), hello(), request_id="req_core_refused")

    assert refused.value.code == "use_case_not_approved"
    assert flush() == []


def test_a_stream_the_caller_abandons_is_metered_as_cancelled_with_estimated_tokens(principal):
    async def first_text_then_leave():
        context = contextvars.copy_context()
        steps = chat_stream_steps(
            principal, hello("Tell me a long story"), request_id="req_core_stream", context=context
        )
        streamed = await adrive(steps, context)
        first = None
        async for event in streamed.events:
            if isinstance(event, TextDelta):
                first = event
                break
        await streamed.events.aclose()  # type: ignore[attr-defined]
        return first

    first = async_to_sync(first_text_then_leave)()

    [record] = flush()
    assert first.text
    assert (record.request_id, record.status, record.error_code) == (
        "req_core_stream",
        "cancelled",
        "client_disconnected",
    )
    assert record.tokens_estimated


@pytest.mark.parametrize(
    ("ended_by", "status", "error_code"),
    [
        (GuardrailBlocked("blocked", policy_version="v1"), "guardrail_blocked", "guardrail_blocked"),
        (LimitRefused("over budget", code="budget_exceeded"), "budget_exceeded", "budget_exceeded"),
        (LimitRefused("too fast", code="rate_limited"), "rate_limited", "rate_limited"),
        (ProviderFailed(ProviderError(ErrorKind.TIMEOUT, "late"), attempts=2), "provider_error", "timeout"),
        (
            Unavailable("the store is down", code="vector_store_unavailable"),
            "provider_error",
            "vector_store_unavailable",
        ),
    ],
)
def test_the_meter_scope_records_whatever_ends_the_call(principal, ended_by, status, error_code):
    with pytest.raises(InferenceError), CallMeter(principal, "req_core_scope", "chat", "core-chat"):
        raise ended_by

    [record] = flush()
    assert (record.status, record.error_code) == (status, error_code)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidRequest("too long", code="context_length_exceeded", param="messages"), 400),
        (GuardrailBlocked("blocked", policy_version="v1"), 400),
        (NotPermitted("not approved", code="use_case_not_approved"), 403),
        (ModelNotFound("no such model", code="model_not_found", param="model"), 404),
        (LimitRefused("too fast", code="rate_limited", retry_after=3), 429),
        (ProviderMisbehaved("wrong size", code="embedding_dimensions_mismatch"), 502),
        (Unavailable("no deployment", code="model_unavailable"), 503),
        (ProviderFailed(ProviderError(ErrorKind.TIMEOUT, "late"), attempts=2), 504),
        (ProviderFailed(ProviderError(ErrorKind.AUTH, "our credentials"), attempts=1), 502),
    ],
)
def test_the_gateway_maps_each_domain_error_to_one_status(error, status):
    mapped = gateway_error_for(error)

    assert mapped.status == status
    assert mapped.code == error.code
    assert mapped.param == error.param
