"""Worker side: execute one invocation against one deployment and publish what happens."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import OrderedDict
from typing import Any

from genai_platform import telemetry
from genai_platform.providers.credentials import resolve_credentials
from genai_platform.providers.registry import build_adapter
from genai_platform.providers.types import (
    AccountConfig,
    ErrorKind,
    ProviderAdapter,
    ProviderError,
    chat_request_from_dict,
    chat_response_to_dict,
    embedding_request_from_dict,
    embedding_response_to_dict,
    stream_event_to_dict,
)

from .channel import ReplyChannel
from .health import HealthStore
from .liveness import Liveness

logger = logging.getLogger(__name__)


class AdapterPool:
    """This worker process's adapters, one per distinct account configuration, shared by every task
    thread so SDK clients keep their connections. Bounded, least recently used out.

    Each adapter is built once even when many threads ask for it at once (an OCI instance-principal
    signer or an Entra ID credential fetches tokens when built); threads asking for other accounts
    are not held up meanwhile."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._adapters: OrderedDict[str, ProviderAdapter] = OrderedDict()
        self._building: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, target: dict[str, Any]) -> ProviderAdapter:
        key = json.dumps(
            [
                target["provider"],
                target["region"],
                target["endpoint"],
                target["credentials_ref"],
                target["options"],
                target["timeout_seconds"],
            ],
            sort_keys=True,
        )
        adapter = self._cached(key)
        if adapter is not None:
            return adapter
        with self._lock:
            building = self._building.setdefault(key, threading.Lock())
        with building:
            adapter = self._cached(key)  # built by the thread this one waited for
            if adapter is not None:
                return adapter
            config = AccountConfig(
                provider=target["provider"],
                region=target["region"],
                endpoint=target["endpoint"],
                credentials=resolve_credentials(target["credentials_ref"], os.environ),
                options=target["options"],
                timeout_seconds=target["timeout_seconds"],
            )
            adapter = build_adapter(config)
            with self._lock:
                self._adapters[key] = adapter
                self._building.pop(key, None)
                while len(self._adapters) > self._size:
                    self._adapters.popitem(last=False)
        return adapter

    def _cached(self, key: str) -> ProviderAdapter | None:
        with self._lock:
            adapter = self._adapters.get(key)
            if adapter is not None:
                self._adapters.move_to_end(key)
            return adapter


#: How often a streaming worker checks whether the client went away.
CANCEL_CHECK_SECONDS = 0.25


def invocation_execute(
    invocation: dict[str, Any],
    *,
    channel: ReplyChannel,
    adapters: AdapterPool,
    health: HealthStore,
    liveness: Liveness,
) -> None:
    """Runs `invocation` (kind, target, normalized request, deadline) and publishes its reply.

    Never raises for provider trouble: every outcome, including an unexpected bug, reaches the
    waiting gateway as a message, so no caller waits out its deadline for nothing. The outcome
    also feeds the deployment's circuit breaker and latency average. While it runs, `liveness`
    beats for it, so a gateway notices within seconds if this worker dies (router/liveness.py).
    """
    invocation_id = invocation["id"]
    if time.time() >= invocation["deadline"]:
        # The gateway has already answered 504; calling the provider now would only cost money.
        logger.info("invocation %s skipped: its deadline passed while queued", invocation_id)
        liveness.invocation_released(invocation_id)  # held since its receipt: stop beating for it
        return
    if not liveness.invocation_started(invocation_id):
        # Its caller gave it up (a copy redelivered after its worker was lost, while the call was
        # dispatched again): running it would pay the provider twice.
        logger.info("invocation %s skipped: cancelled by its caller", invocation_id)
        return
    try:
        if invocation["kind"] == "chat_stream" and not channel.claim(invocation_id):
            # A redelivery after a worker died mid-stream: part of the answer already reached the
            # client, so replaying it from the start would splice two answers together.
            error = ProviderError(ErrorKind.UNAVAILABLE, "the worker serving this stream was lost")
            channel.publish(invocation_id, {"type": "error", "error": error.to_dict()})
            return
        _execute(invocation, channel=channel, adapters=adapters, health=health)
    finally:
        liveness.invocation_finished(invocation_id)


def _execute(invocation: dict[str, Any], *, channel: ReplyChannel, adapters: AdapterPool, health: HealthStore) -> None:
    invocation_id, kind = invocation["id"], invocation["kind"]
    deployment = invocation["target"]["deployment"]
    started = time.monotonic()
    target = invocation["target"]
    with telemetry.model_call(
        operation=_OPERATION_NAMES.get(kind, kind),
        provider=target["provider"],
        request_model=str(invocation["request"].get("model", "")),
        attributes={"genai_platform.deployment": deployment, "genai_platform.invocation": invocation_id},
        record_metrics=False,  # the gateway's span records the call's metrics, fallback included
    ) as traced:
        reply = _invoke(adapters, invocation, channel, traced)
    latency_ms = round((time.monotonic() - started) * 1000, 3)
    reply["latency_ms"] = latency_ms
    channel.publish(invocation_id, reply)
    _record_health(health, deployment, reply, latency_ms)


#: Invocation kinds -> `gen_ai.operation.name`.
_OPERATION_NAMES = {"chat": "chat", "chat_stream": "chat", "embed": "embeddings"}


def _invoke(
    adapters: AdapterPool, invocation: dict[str, Any], channel: ReplyChannel, traced: telemetry.ModelCall
) -> dict[str, Any]:
    """Calls the provider once; the reply to publish, whatever happened."""
    kind, invocation_id = invocation["kind"], invocation["id"]
    try:
        adapter = adapters.get(invocation["target"])
        if kind == "chat":
            response = adapter.chat(chat_request_from_dict(invocation["request"]))
            traced.usage(input_tokens=response.usage.input_tokens, output_tokens=response.usage.output_tokens)
            traced.finish_reasons = (str(response.finish_reason),)
            traced.response_id = response.provider_response_id or ""
            return {"type": "result", "response": chat_response_to_dict(response)}
        if kind == "chat_stream":
            return _relay_stream(adapter, invocation, channel)
        if kind == "embed":
            embedded = adapter.embed(embedding_request_from_dict(invocation["request"]))
            return {"type": "result", "response": embedding_response_to_dict(embedded)}
        raise ProviderError(ErrorKind.BAD_REQUEST, f"unknown invocation kind {kind!r}")
    except ProviderError as exc:
        traced.failed(exc.kind.value)
        return {"type": "error", "error": exc.to_dict()}
    except Exception:
        logger.exception("invocation %s failed unexpectedly", invocation_id)
        traced.failed("internal_error")
        return {"type": "error", "error": ProviderError(ErrorKind.UNAVAILABLE, "the provider worker failed").to_dict()}


def _relay_stream(adapter: Any, invocation: dict[str, Any], channel: ReplyChannel) -> dict[str, Any]:
    invocation_id = invocation["id"]
    events = adapter.chat_stream(chat_request_from_dict(invocation["request"]))
    next_check = time.monotonic() + CANCEL_CHECK_SECONDS
    try:
        with channel.stream_publisher(invocation_id) as publish:
            for event in events:
                publish({"type": "event", "event": stream_event_to_dict(event)})
                if time.monotonic() >= next_check:
                    if channel.is_cancelled(invocation_id):
                        logger.info("invocation %s cancelled by its client", invocation_id)
                        return {"type": "cancelled"}
                    next_check = time.monotonic() + CANCEL_CHECK_SECONDS
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()  # closes the provider's HTTP stream, which stops generation upstream
    return {"type": "done"}


def _record_health(health: HealthStore, deployment: str, reply: dict[str, Any], latency_ms: float) -> None:
    try:
        if reply["type"] in ("result", "done"):
            health.record_success(deployment, latency_ms)
        elif reply["type"] == "error" and ErrorKind(reply["error"]["kind"]).retryable:
            health.record_failure(deployment)
    except Exception:
        # Health is advisory: losing one sample must never fail the call it describes.
        logger.warning("could not record the health of %s", deployment, exc_info=True)
