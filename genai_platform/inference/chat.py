"""Chat calls, whole and streamed: plan -> guard input -> (ground) -> admit -> dispatch -> guard
output -> meter, for every caller (the gateway's `/v1/chat/completions`, agent runs' model steps).

The steps are separate functions over one `ChatCall`, all inside the call's metering scope
(`with call.meter:`), so that the wait for the worker's reply (`chat_wait_steps`, `chat_stream_wait`)
stays a step of its own between the synchronous work before it (guard, ground, cache, admit) and
after it (`chat_finish`: guard output, what the meter records).
`chat_complete_steps` and `chat_stream_steps` run the steps in order as `Steps` (router/waiting.py):
they yield their waits, so the gateway awaits them on its event loop (`adrive`) and a blocking
caller runs them with `drive` (`chat_complete`, `chat_wait`); a caller that needs something between
them (an agent run's token budget) runs them itself.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings

from genai_platform import telemetry
from genai_platform.metering.models import UsageRecord
from genai_platform.providers.tokens import estimate_tokens
from genai_platform.providers.types import (
    ChatRequest,
    ChatResponse,
    ProviderError,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Usage,
    chat_response_from_dict,
    chat_response_to_dict,
)
from genai_platform.router.dispatch import (
    ChatOutcome,
    DispatchError,
    Served,
    chat_dispatch_steps,
    chat_stream_dispatch_steps,
)
from genai_platform.router.dispatch import ChatStream as DispatchedStream
from genai_platform.router.waiting import Steps, drive, run_sync

from .errors import InferenceError, ProviderFailed
from .guarding import CallGuard, call_guard
from .metering import CallMeter
from .planning import ChatPlan, chat_plan
from .principal import KeyPrincipal
from .prompting import with_pinned_prompt
from .response_cache import cached_response, remember_response, response_cache_key
from .structured import schema_refusal, schema_violation

#: Adds retrieved context to a request: the request with it, and the sources it cites. The gateway
#: passes the vector stores' grounding; the core knows no store.
#: Its fourth argument screens the retrieved chunks before the model reads them (`CallGuard.screen_retrieved`).
Grounder = Callable[
    [KeyPrincipal, ChatRequest, str, Callable[[list[str]], list[str | None]]],
    tuple[ChatRequest, list[dict[str, Any]]],
]


@dataclass
class ChatCall:
    """One chat call between its plan and its usage record: what each step needs from the last."""

    principal: KeyPrincipal
    request: ChatRequest
    plan: ChatPlan
    request_id: str
    guard: CallGuard
    meter: CallMeter
    stream: bool = False
    #: When the call gives up waiting (epoch seconds); `chat_admit` sets the default.
    deadline: float | None = None
    sources: list[dict[str, Any]] = field(default_factory=list)
    cache_key: str | None = None
    rate_headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ChatResult:
    """A whole answer: the response (its content checked by the output guardrails), where it came
    from (`served` is None for a cached answer), and what it cost."""

    response: ChatResponse
    alias: str
    served: Served | None
    cost: Decimal
    cached: bool
    sources: list[dict[str, Any]]
    rate_headers: dict[str, str]
    guard: CallGuard


@dataclass(frozen=True)
class StreamStopped:
    """The last event of a stream that ended early: its answer blocked by the output guardrails
    (`blocked_event` is the error event the policy prescribes) or failed at the provider."""

    error: InferenceError
    blocked_event: dict[str, Any] | None = None


@dataclass
class ChatStreamed:
    """A stream under way: its events (checked by the output guardrails) and where it came from.
    Iterating `events` to the end, or closing it, ends the call's metering scope."""

    events: AsyncIterator[StreamEvent | StreamStopped]
    alias: str
    served: Served
    sources: list[dict[str, Any]]
    rate_headers: dict[str, str]
    guard: CallGuard


# ---- the steps ----


def chat_call(
    principal: KeyPrincipal,
    request: ChatRequest,
    *,
    request_id: str,
    endpoint: str = "chat",
    end_user: str = "",
    stream: bool = False,
    plan: ChatPlan | None = None,
    guard: CallGuard | None = None,
) -> ChatCall:
    """Plans the call (raising before anything is metered when it cannot go anywhere) and opens
    its meter; run the other steps inside `with call.meter:`."""
    plan = plan or chat_plan(principal, request)
    guard = guard or call_guard(principal)
    meter = CallMeter(principal, request_id, endpoint, plan.routes.alias, end_user=end_user, stream=stream)
    meter.guardrails = guard.summary()  # the same dict, so actions taken later are recorded too
    meter.redacted_texts = guard.redacted_texts  # the same set, filled by the checks to come
    return ChatCall(principal, request, plan, request_id, guard, meter, stream=stream)


def chat_guard_input(
    call: ChatCall, *, unpinned: ChatRequest | None = None, prompt_variables: dict[str, Any] | None = None
) -> None:
    """The input guardrails: the provider receives masked text, or nothing at all. Prompt variables
    are the caller's words too: checked, and the pinned prompt rendered again from `unpinned` with
    the masked values if any changed."""
    with telemetry.step("guardrails.input"):
        if prompt_variables and unpinned is not None:
            variables = call.guard.check_values(prompt_variables)
            if variables != prompt_variables:
                call.request = with_pinned_prompt(call.principal, unpinned, variables)
        call.request = call.guard.check_input(call.request)


def chat_ground(call: ChatCall, grounder: Grounder) -> None:
    """Adds retrieved context after the input guardrails (the search sees masked text); the longer
    prompt is planned again, for the context windows that still fit it."""
    with telemetry.step("retrieval") as span:
        screen = call.guard.screen_retrieved  # each chunk checked for instructions before the model reads it
        call.request, call.sources = grounder(call.principal, call.request, call.request_id, screen)
        span.set_attribute("genai_platform.sources", len(call.sources))
    if call.sources:
        call.plan = chat_plan(call.principal, call.request)


def chat_cached(call: ChatCall) -> ChatResponse | None:
    """The answer from the use case's exact-match response cache, if it opted in and has one."""
    if call.stream:
        return None
    call.cache_key = response_cache_key(call.principal, call.plan.routes.alias, call.request, call.guard.version)
    hit = cached_response(call.cache_key)
    if hit is None:
        return None
    response = chat_response_from_dict(hit)
    meter = call.meter
    meter.status, meter.usage = UsageRecord.Status.CACHE_HIT, response.usage
    meter.prompt, meter.output = transcript(call.request), response.content
    return response


def chat_admit(call: ChatCall) -> None:
    """Counts the call against every rate limit and reserves its worst-case cost on every budget."""
    with telemetry.step("admission"):
        call.rate_headers = call.meter.admit(
            call.plan.targets, input_tokens=call.plan.prompt_tokens, max_output_tokens=call.request.max_tokens
        )
    if call.deadline is None:
        call.deadline = time.time() + settings.GATEWAY_REQUEST_DEADLINE_SECONDS


def chat_wait_steps(call: ChatCall) -> Steps[ChatOutcome]:
    """Dispatches to the planned deployments in turn and waits for the first answer."""
    try:
        return (
            yield from chat_dispatch_steps(
                request=call.request, targets=call.plan.targets, deadline=_deadline(call), request_id=call.request_id
            )
        )
    except DispatchError as exc:
        raise ProviderFailed(exc.error, attempts=exc.attempts) from None


def chat_wait(call: ChatCall) -> ChatOutcome:
    """`chat_wait_steps`, blocking this thread while it waits (agent runs in a worker)."""
    return drive(chat_wait_steps(call))


def chat_wait_conforming(call: ChatCall) -> Steps[ChatOutcome]:
    """`chat_wait_steps`, and for a strict structured request the answer checked against its schema:
    a non-conforming answer is asked for once more (both attempts' tokens are metered), then
    refused with `response_schema_mismatch`."""
    outcome = yield from chat_wait_steps(call)
    if schema_violation(call.request, outcome.response) is None:
        return outcome
    retried = yield from chat_wait_steps(call)
    first, second = outcome.response.usage, retried.response.usage
    usage = Usage(first.input_tokens + second.input_tokens, first.output_tokens + second.output_tokens)
    retried = dataclasses.replace(retried, response=dataclasses.replace(retried.response, usage=usage))
    violation = schema_violation(call.request, retried.response)
    if violation is not None:
        call.meter.served, call.meter.usage = retried.served, usage
        raise schema_refusal(call.request, violation)
    return retried


def chat_finish(call: ChatCall, outcome: ChatOutcome) -> ChatResponse:
    """The output guardrails, then what the meter records: the answer as the caller may see it."""
    meter = call.meter
    meter.served, meter.usage = outcome.served, outcome.response.usage
    with telemetry.step("guardrails.output"):
        content = call.guard.check_output(outcome.response.content)
    meter.prompt, meter.output = transcript(call.request), content
    response = dataclasses.replace(outcome.response, content=content)
    if call.cache_key is not None:
        remember_response(call.cache_key, chat_response_to_dict(response), call.principal.response_cache_ttl_seconds)
    return response


def chat_stream_wait(call: ChatCall) -> Steps[DispatchedStream]:
    """Dispatches a stream and waits for its first event (fallback happens only before it)."""
    try:
        return (
            yield from chat_stream_dispatch_steps(
                request=call.request, targets=call.plan.targets, deadline=_deadline(call), request_id=call.request_id
            )
        )
    except DispatchError as exc:
        raise ProviderFailed(exc.error, attempts=exc.attempts) from None


async def chat_stream_relay(
    call: ChatCall, stream: DispatchedStream, context: contextvars.Context
) -> AsyncGenerator[StreamEvent | StreamStopped, None]:
    """The stream's events through the output guardrails (which hold back at most a window of text,
    so a split entity is still caught; their checks run off the event loop, in the call's
    `context`). Tells the meter what happened however the stream ends: completed, stopped, or
    abandoned by the caller (then with the tokens relayed so far, estimated)."""
    meter, guard = call.meter, call.guard
    meter.served, meter.prompt = stream.served, transcript(call.request)
    meter.status, meter.error_code = UsageRecord.Status.CANCELLED, "client_disconnected"
    relayed: list[str] = []
    screen = guard.stream()
    events = stream.events()
    try:
        async for event in events:
            if isinstance(event, TextDelta):
                text = await run_sync(context, screen.feed, event.text) if screen is not None else event.text
                if text:
                    if not relayed:
                        meter.first_chunk()
                    relayed.append(text)
                    yield TextDelta(text)
                if screen is not None and screen.blocked:
                    break
            elif isinstance(event, ToolCallDelta):
                if not relayed:
                    meter.first_chunk()
                relayed.append(event.arguments)
                yield event
            elif isinstance(event, StreamEnd):
                rest = await run_sync(context, screen.finish) if screen is not None else ""
                if rest:
                    relayed.append(rest)
                    yield TextDelta(rest)
                if screen is not None and screen.blocked:
                    break
                meter.status, meter.usage, meter.error_code = UsageRecord.Status.SUCCESS, event.usage, ""
                yield event
        if screen is not None and screen.blocked:
            guard.record_stream_outcome(screen)
            meter.status, meter.error_code = UsageRecord.Status.GUARDRAIL_BLOCKED, "guardrail_blocked"
            blocked = InferenceError("The response was stopped by the output guardrails.", code="guardrail_blocked")
            yield StreamStopped(blocked, blocked_event=screen.error_event)
    except ProviderError as exc:
        meter.status, meter.error_code = UsageRecord.Status.PROVIDER_ERROR, exc.kind.value
        yield StreamStopped(ProviderFailed(exc, attempts=stream.served.attempts))
    finally:
        await events.aclose()
        meter.output = "".join(relayed)
        if meter.usage is None:
            prompt_tokens = sum(estimate_tokens(m.content) for m in call.request.messages)
            meter.usage = Usage(prompt_tokens, estimate_tokens(meter.output), estimated=True)


def transcript(request: ChatRequest) -> str:
    """The conversation as the audit trail captures it: one `role: text` line per message."""
    return "\n".join(f"{m.role}: {m.content}" for m in request.messages)


# ---- the whole call ----


def chat_complete(
    principal: KeyPrincipal,
    request: ChatRequest,
    *,
    request_id: str,
    end_user: str = "",
    endpoint: str = "chat",
    prompt_variables: dict[str, Any] | None = None,
    grounder: Grounder | None = None,
) -> ChatResult:
    """`chat_complete_steps`, blocking this thread while it waits."""
    return drive(
        chat_complete_steps(
            principal,
            request,
            request_id=request_id,
            end_user=end_user,
            endpoint=endpoint,
            prompt_variables=prompt_variables,
            grounder=grounder,
        )
    )


def chat_complete_steps(
    principal: KeyPrincipal,
    request: ChatRequest,
    *,
    request_id: str,
    end_user: str = "",
    endpoint: str = "chat",
    prompt_variables: dict[str, Any] | None = None,
    grounder: Grounder | None = None,
) -> Steps[ChatResult]:
    """One whole chat completion on the principal's behalf, with the use case's pinned prompt.
    `endpoint` names the API it answers in the usage record (`chat`, `responses`)."""
    call = _opened(principal, request, request_id, end_user, prompt_variables, stream=False, endpoint=endpoint)
    with call.meter:
        response = _prepared(call, request, prompt_variables, grounder)
        served = None
        if response is None:
            chat_admit(call)
            outcome = yield from chat_wait_conforming(call)
            response, served = chat_finish(call, outcome), outcome.served
    return ChatResult(
        response=response,
        alias=call.plan.routes.alias,
        served=served,
        cost=call.meter.cost,
        cached=served is None,
        sources=call.sources,
        rate_headers=call.rate_headers,
        guard=call.guard,
    )


def chat_stream_steps(
    principal: KeyPrincipal,
    request: ChatRequest,
    *,
    request_id: str,
    context: contextvars.Context,
    end_user: str = "",
    endpoint: str = "chat",
    prompt_variables: dict[str, Any] | None = None,
    grounder: Grounder | None = None,
) -> Steps[ChatStreamed]:
    """A streamed chat completion: everything up to the first event happens before this returns
    (so a refusal is an exception, not an event); the returned events (an async iterator, for the
    gateway's event loop) carry the metering scope on, to be closed in the call's `context` (the
    one `adrive` runs these steps in)."""
    call = _opened(principal, request, request_id, end_user, prompt_variables, stream=True, endpoint=endpoint)
    with ExitStack() as scope:
        scope.enter_context(call.meter)
        _prepared(call, request, prompt_variables, grounder)
        chat_admit(call)
        stream = yield from chat_stream_wait(call)
        # The scope now ends with the stream.
        events = _scoped(chat_stream_relay(call, stream, context), scope.pop_all(), context)
    return ChatStreamed(
        events=events,
        alias=call.plan.routes.alias,
        served=stream.served,
        sources=call.sources,
        rate_headers=call.rate_headers,
        guard=call.guard,
    )


def _opened(
    principal: KeyPrincipal,
    unpinned: ChatRequest,
    request_id: str,
    end_user: str,
    prompt_variables: dict[str, Any] | None,
    *,
    stream: bool,
    endpoint: str,
) -> ChatCall:
    request = with_pinned_prompt(principal, unpinned, prompt_variables)  # the prompt catalog's system message
    return chat_call(principal, request, request_id=request_id, endpoint=endpoint, end_user=end_user, stream=stream)


def _prepared(
    call: ChatCall, unpinned: ChatRequest, prompt_variables: dict[str, Any] | None, grounder: Grounder | None
) -> ChatResponse | None:
    chat_guard_input(call, unpinned=unpinned, prompt_variables=prompt_variables)
    if grounder is not None:
        chat_ground(call, grounder)
    return chat_cached(call)


async def _scoped(
    events: AsyncGenerator[StreamEvent | StreamStopped, None], scope: ExitStack, context: contextvars.Context
) -> AsyncIterator[StreamEvent | StreamStopped]:
    try:
        async for event in events:
            yield event
    except BaseException as exc:  # the client went away (GeneratorExit, CancelledError) or a step failed
        await events.aclose()
        await asyncio.shield(run_sync(context, scope.__exit__, type(exc), exc, exc.__traceback__))
        raise
    await run_sync(context, scope.close)  # records the call (metering may write to the database)


def _deadline(call: ChatCall) -> float:
    return call.deadline if call.deadline is not None else time.time() + settings.GATEWAY_REQUEST_DEADLINE_SECONDS
