"""Celery tasks: thin, taking plain JSON and handing it to a service."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from .channel import reply_channel
from .health import worker_health_store
from .liveness import INVOCATION_TASK, liveness
from .services import AdapterPool, invocation_execute

#: Adapters of this worker process (created after the fork, so never shared between processes).
_adapters = AdapterPool()


@shared_task(name=INVOCATION_TASK, acks_late=True, ignore_result=True)
def invoke_provider(invocation: dict[str, Any]) -> None:
    invocation_execute(
        invocation, channel=reply_channel(), adapters=_adapters, health=worker_health_store(), liveness=liveness()
    )
