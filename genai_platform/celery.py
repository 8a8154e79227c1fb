"""The Celery app. Queues are declared with kombu, one per provider, so each provider's workers
can be scaled and credentialed on their own (`celery -A genai_platform worker -Q provider.bedrock`)."""

import os

from celery import Celery
from kombu import Exchange, Queue

from genai_platform.providers.registry import PROVIDERS, queue_name

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genai_platform.settings")

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
