"""Gateway side of the router: pick deployments for an alias, enqueue each attempt on its
provider's queue, and wait for the worker's reply under the request's deadline.

Attempts and fallback run here rather than in a worker so that each task touches exactly one
provider: a worker only ever needs the credentials of the queue it consumes.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

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

from .channel import reply_channel
from .tasks import invoke_provider


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


def chat_dispatch(
    *, request: ChatRequest, targets: tuple[DeploymentTarget, ...], deadline: float, request_id: str
) -> ChatOutcome:
    reply, served = _attempt_in_order(
        kind="chat",
        targets=targets,
        deadline=deadline,
        request_id=request_id,
        payload_for=lambda t: chat_request_to_dict(dataclasses.replace(request, model=t.provider_model_id)),
    )
    return ChatOutcome(response=chat_response_from_dict(reply["response"]), served=served)


def embedding_dispatch(
    *, request: EmbeddingRequest, targets: tuple[DeploymentTarget, ...], deadline: float, request_id: str
) -> EmbeddingOutcome:
    reply, served = _attempt_in_order(
        kind="embed",
        targets=targets,
        deadline=deadline,
        request_id=request_id,
        payload_for=lambda t: embedding_request_to_dict(dataclasses.replace(request, model=t.provider_model_id)),
    )
    return EmbeddingOutcome(response=embedding_response_from_dict(reply["response"]), served=served)


@dataclass
class ChatStream:
    """A stream being relayed: `served` is known once the first event arrived."""

    served: Served
    events: Iterator[StreamEvent]


def chat_stream_dispatch(
    *, request: ChatRequest, targets: tuple[DeploymentTarget, ...], deadline: float, request_id: str
) -> ChatStream:
    """Starts a stream; falls back to the next deployment only while nothing has been relayed yet."""
    channel = reply_channel()
    last_error = ProviderError(ErrorKind.UNAVAILABLE, "no deployment could serve this request")
    attempts = 0
    for target in targets:
        if time.time() >= deadline:
            break
        attempts += 1
        invocation_id = _enqueue(
            kind="chat_stream",
            target=target,
            deadline=deadline,
            request_id=request_id,
            request=chat_request_to_dict(dataclasses.replace(request, model=target.provider_model_id)),
        )
        first = channel.receive(invocation_id, timeout=deadline - time.time())
        if first is None:
            channel.discard(invocation_id)
            last_error = _deadline_error()
            break
        if first["type"] == "error":
            last_error = ProviderError.from_dict(first["error"])
            if last_error.kind.retryable:
                continue
            raise DispatchError(last_error, attempts)
        served = Served(target=target, attempts=attempts, provider_latency_ms=0.0)
        return ChatStream(served=served, events=_relay(invocation_id, first, deadline))
    raise DispatchError(last_error, attempts)


def _relay(invocation_id: str, first: dict[str, Any], deadline: float) -> Iterator[StreamEvent]:
    channel = reply_channel()
    message: dict[str, Any] | None = first
    try:
        while True:
            if message is None:
                raise ProviderError(ErrorKind.TIMEOUT, "the stream stalled past the request deadline")
            if message["type"] == "event":
                yield stream_event_from_dict(message["event"])
            elif message["type"] == "error":
                raise ProviderError.from_dict(message["error"])
            else:  # "done"
                return
            message = channel.receive(invocation_id, timeout=deadline - time.time())
    finally:
        channel.discard(invocation_id)


def _attempt_in_order(
    *,
    kind: str,
    targets: tuple[DeploymentTarget, ...],
    deadline: float,
    request_id: str,
    payload_for: Callable[[DeploymentTarget], dict[str, Any]],
) -> tuple[dict[str, Any], Served]:
    channel = reply_channel()
    last_error = ProviderError(ErrorKind.UNAVAILABLE, "no deployment could serve this request")
    attempts = 0
    for target in targets:
        if time.time() >= deadline:
            last_error = _deadline_error()
            break
        attempts += 1
        invocation_id = _enqueue(
            kind=kind, target=target, deadline=deadline, request_id=request_id, request=payload_for(target)
        )
        reply = channel.receive(invocation_id, timeout=deadline - time.time())
        channel.discard(invocation_id)
        if reply is None:
            last_error = _deadline_error()
            break
        if reply["type"] == "result":
            return reply, Served(target=target, attempts=attempts, provider_latency_ms=reply["latency_ms"])
        last_error = ProviderError.from_dict(reply["error"])
        if not last_error.kind.retryable:
            break
    raise DispatchError(last_error, attempts)


def _enqueue(*, kind: str, target: DeploymentTarget, deadline: float, request_id: str, request: dict[str, Any]) -> str:
    invocation_id = uuid.uuid4().hex
    invocation = {
        "id": invocation_id,
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
    invoke_provider.apply_async(
        args=[invocation], queue=queue_name(target.provider), expires=max(deadline - time.time(), 0.1)
    )
    return invocation_id


def _deadline_error() -> ProviderError:
    return ProviderError(ErrorKind.TIMEOUT, "no provider answered before the request deadline")
