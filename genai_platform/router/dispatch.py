"""Gateway side of the router: pick deployments for an alias, enqueue each attempt on its
provider's queue, and wait for the worker's reply under the request's deadline.

The attempts are `Steps` (router/waiting.py): the same code waits by blocking (`chat_dispatch`,
`embedding_dispatch`: agent runs, ingestion) or on the gateway's event loop (`adrive`). A stream's
relay only ever runs in the gateway, so it is an async iterator.

Attempts and fallback run here rather than in a worker so that each task touches exactly one
provider: a worker only ever needs the credentials of the queue it consumes.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from genai_platform.broker_transport import TRANSPORT as BROKER_TRANSPORT
from genai_platform.providers.registry import queue_name
from genai_platform.providers.types import (
    ChatRequest,
    ChatResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    ErrorKind,
    ProviderError,
    StreamEvent,
    chat_request_to_dict,
    chat_response_from_dict,
    embedding_request_to_dict,
    embedding_response_from_dict,
    stream_event_from_dict,
)
from model_catalog.selectors import DeploymentTarget

from .channel import RECEIVE_BATCH, reply_channel
from .liveness import areceive_many_alive
from .tasks import invoke_provider
from .waiting import Pause, Receive, Steps, drive


@dataclass(frozen=True)
class Served:
    """Which deployment answered, after how many attempts, and how long the provider took."""

    target: DeploymentTarget
    attempts: int
    provider_latency_ms: float


@dataclass(frozen=True)
class ChatOutcome:
    response: ChatResponse
    served: Served


@dataclass(frozen=True)
class EmbeddingOutcome:
    response: EmbeddingResponse
    served: Served


class DispatchError(Exception):
    """Every attempt failed; `error` is the last provider error, `attempts` how many were made."""

    def __init__(self, error: ProviderError, attempts: int) -> None:
        super().__init__(error.message)
        self.error = error
        self.attempts = attempts


def chat_dispatch_steps(
    *, request: ChatRequest, targets: Sequence[DeploymentTarget], deadline: float, request_id: str
) -> Steps[ChatOutcome]:
    invocation_id, reply, served = yield from _first_reply(
        kind="chat",
        targets=targets,
        deadline=deadline,
        request_id=request_id,
        payload_for=lambda t: chat_request_to_dict(dataclasses.replace(request, model=t.provider_model_id)),
    )
    reply_channel().discard(invocation_id, drained=True)
    return ChatOutcome(response=chat_response_from_dict(reply["response"]), served=served)


def embedding_dispatch_steps(
    *, request: EmbeddingRequest, targets: Sequence[DeploymentTarget], deadline: float, request_id: str
) -> Steps[EmbeddingOutcome]:
    invocation_id, reply, served = yield from _first_reply(
        kind="embed",
        targets=targets,
        deadline=deadline,
        request_id=request_id,
        payload_for=lambda t: embedding_request_to_dict(dataclasses.replace(request, model=t.provider_model_id)),
    )
    reply_channel().discard(invocation_id, drained=True)
    return EmbeddingOutcome(response=embedding_response_from_dict(reply["response"]), served=served)


def chat_dispatch(
    *, request: ChatRequest, targets: Sequence[DeploymentTarget], deadline: float, request_id: str
) -> ChatOutcome:
    """`chat_dispatch_steps`, blocking this thread while it waits."""
    return drive(chat_dispatch_steps(request=request, targets=targets, deadline=deadline, request_id=request_id))


def embedding_dispatch(
    *, request: EmbeddingRequest, targets: Sequence[DeploymentTarget], deadline: float, request_id: str
) -> EmbeddingOutcome:
    """`embedding_dispatch_steps`, blocking this thread while it waits."""
    return drive(embedding_dispatch_steps(request=request, targets=targets, deadline=deadline, request_id=request_id))


@dataclass
class ChatStream:
    """A stream being relayed: `served` is known once the first event arrived; `events` (an async
    iterator) relays the rest as the worker sends it."""

    served: Served
    invocation_id: str
    first: dict[str, Any]
    deadline: float

    async def events(self) -> AsyncIterator[StreamEvent]:
        channel = reply_channel()
        message: dict[str, Any] | None = self.first
        waiting: collections.deque[dict[str, Any]] = collections.deque()  # taken, not relayed yet
        finished = False
        try:
            while (event := _relayed(message)) is not None:
                yield event
                if not waiting:
                    # A worker lost mid-stream is answered as its error: the stream ends at once.
                    waiting.extend(
                        await areceive_many_alive(
                            channel, self.invocation_id, self.deadline - time.time(), count=RECEIVE_BATCH
                        )
                    )
                message = waiting.popleft() if waiting else None
            finished = True
        except ProviderError as error:
            finished = message is not None  # a worker's error ends its stream; a stall does not
            raise error from None
        finally:
            if not finished:
                # The client went away or the deadline passed: stop the worker paying for tokens nobody reads.
                channel.cancel(self.invocation_id)
            channel.discard(self.invocation_id)


def chat_stream_dispatch_steps(
    *, request: ChatRequest, targets: Sequence[DeploymentTarget], deadline: float, request_id: str
) -> Steps[ChatStream]:
    """Starts a stream. Fallback happens only before the first event: once text reached the
    client, switching deployments would splice two different answers."""
    invocation_id, first, served = yield from _first_reply(
        kind="chat_stream",
        targets=targets,
        deadline=deadline,
        request_id=request_id,
        payload_for=lambda t: chat_request_to_dict(dataclasses.replace(request, model=t.provider_model_id)),
    )
    return ChatStream(served=served, invocation_id=invocation_id, first=first, deadline=deadline)


def _relayed(message: dict[str, Any] | None) -> StreamEvent | None:
    """The event a stream's message carries; None once the stream is done. Raises the worker's
    error, or a timeout for a stream that stalled past the deadline (`message` None)."""
    if message is None:
        raise ProviderError(ErrorKind.TIMEOUT, "the stream stalled past the request deadline")
    if message["type"] == "event":
        return stream_event_from_dict(message["event"])
    if message["type"] == "error":
        raise ProviderError.from_dict(message["error"])
    return None  # "done"


def _first_reply(
    *,
    kind: str,
    targets: Sequence[DeploymentTarget],
    deadline: float,
    request_id: str,
    payload_for: Callable[[DeploymentTarget], dict[str, Any]],
) -> Steps[tuple[str, dict[str, Any], Served]]:
    """Tries `targets` in order until one answers; a retryable failure moves on to the next one.

    When every deployment failed retryably, another round starts after an exponential backoff
    with jitter (at least the Retry-After a provider asked for), until `ROUTER_MAX_ATTEMPTS`
    attempts, a wait longer than `ROUTER_MAX_RETRY_WAIT_SECONDS`, or the deadline.
    """
    if not targets:
        raise DispatchError(
            ProviderError(ErrorKind.UNAVAILABLE, "Every deployment of this model is failing; retry later."), 0
        )
    channel = reply_channel()
    attempts, rounds = 0, 0
    last_error = _deadline_error()
    while attempts < settings.ROUTER_MAX_ATTEMPTS:
        retry_after: float | None = None
        for target in targets:
            if attempts >= settings.ROUTER_MAX_ATTEMPTS:
                break
            if time.time() >= deadline:
                raise DispatchError(_deadline_error(), attempts)
            attempts += 1
            invocation_id = _enqueue(
                kind=kind, target=target, deadline=deadline, request_id=request_id, request=payload_for(target)
            )
            try:
                message = yield Receive(invocation_id, timeout=deadline - time.time())
            except GeneratorExit:  # the caller went away while waiting: the worker need not answer
                channel.cancel(invocation_id)
                raise
            if message is None:
                channel.cancel(invocation_id)
                raise DispatchError(_deadline_error(), attempts)
            if message["type"] != "error":
                return invocation_id, message, Served(target, attempts, message.get("latency_ms", 0.0))
            channel.discard(invocation_id, drained=True)  # an error is the invocation's only message
            last_error = ProviderError.from_dict(message["error"])
            if not last_error.kind.retryable:
                raise DispatchError(last_error, attempts)
            if last_error.retry_after is not None:
                retry_after = min(retry_after or last_error.retry_after, last_error.retry_after)
        rounds += 1
        delay = _backoff(rounds, retry_after)
        if attempts >= settings.ROUTER_MAX_ATTEMPTS or delay > settings.ROUTER_MAX_RETRY_WAIT_SECONDS:
            break
        if time.time() + delay >= deadline:
            break
        yield Pause(delay)  # backing off from an overloaded provider
    raise DispatchError(last_error, attempts)


def _backoff(rounds: int, retry_after: float | None) -> float:
    ceiling = settings.ROUTER_BACKOFF_BASE_SECONDS * 2 ** (rounds - 1)
    jittered = random.uniform(ceiling / 2, ceiling)
    return max(jittered, retry_after or 0.0)


def invocation_build(
    *, kind: str, target: DeploymentTarget, deadline: float, request_id: str, request: dict[str, Any]
) -> dict[str, Any]:
    """The message a worker runs (router/services.py `invocation_execute`): one attempt at one deployment."""
    return {
        "id": uuid.uuid4().hex,
        "request_id": request_id,
        "kind": kind,
        "deadline": deadline,
        "target": {
            "deployment": target.deployment,
            "provider": target.provider,
            "region": target.region,
            "endpoint": target.endpoint,
            "credentials_ref": target.credentials_ref,
            "options": target.options,
            "timeout_seconds": target.timeout_seconds,
        },
        "request": request,
    }


def _enqueue(*, kind: str, target: DeploymentTarget, deadline: float, request_id: str, request: dict[str, Any]) -> str:
    invocation = invocation_build(kind=kind, target=target, deadline=deadline, request_id=request_id, request=request)
    invocation_id = invocation["id"]
    invoke_provider.apply_async(
        args=[invocation],
        queue=queue_name(target.provider),
        # The task id is the invocation's: a worker holds it from receipt (router/liveness.py).
        task_id=invocation_id,
        # A copy the broker redelivers after the deadline (its worker was lost) is dropped unrun.
        expires=max(deadline - time.time(), 0.1),
        # Celery would otherwise render the whole request (prompts included) into the message headers.
        argsrepr=f"[invocation {invocation_id}]",
        kwargsrepr="{}",
        declare=_publish_declare(),
    )
    return invocation_id


@functools.cache
def _publish_declare() -> list[Any] | None:
    """What an enqueue declares: nothing on the project's Redis transport, else Celery's default
    (the queue). On Redis a message to the default exchange is an LPUSH onto the list named by the
    queue, whether or not it was declared (the workers declare what they consume), so declaring
    only copied and re-bound the queue's entity on every call (~10 % of the enqueue's CPU). RabbitMQ
    drops a message sent to a queue nobody declared yet: there the declaration stays."""
    return [] if invoke_provider.app.conf.broker_transport == BROKER_TRANSPORT else None


def _deadline_error() -> ProviderError:
    return ProviderError(ErrorKind.TIMEOUT, "no provider answered before the request deadline")
