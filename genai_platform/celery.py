"""The Celery app. Queues are declared with kombu, one per provider, so each provider's workers
can be scaled and credentialed on their own (`celery -A genai_platform worker -Q provider.bedrock`)."""

import os
from typing import Any

from celery import Celery, signals
from kombu import Exchange, Queue

from genai_platform import runtime
from genai_platform.providers.registry import PROVIDERS, queue_name

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genai_platform.settings")
# Before Django and the guardrails are imported: every process of the project imports this module first.
runtime.configure_process()

app = Celery("genai_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")

_invocations = Exchange("invocations", type="direct")
app.conf.task_queues = [
    *(Queue(queue_name(provider), _invocations, routing_key=queue_name(provider)) for provider in PROVIDERS),
    Queue("platform", Exchange("platform", type="direct"), routing_key="platform"),
]
app.conf.task_default_queue = "platform"
app.conf.task_default_exchange = "platform"
app.conf.task_default_routing_key = "platform"
app.autodiscover_tasks()


@signals.celeryd_init.connect
def _worker_frameworks(options: dict[str, Any] | None = None, **_: Any) -> None:
    """A worker learns its queues here, before Django is set up: only the local provider's worker
    gets torch and transformers back."""
    if runtime.worker_wants_ml_frameworks(os.environ, (options or {}).get("queues")):
        runtime.let_ml_frameworks_in()
