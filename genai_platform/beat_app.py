"""The Celery app `celery beat` runs: `celery -A genai_platform.beat_app beat`.

Beat only sends periodic tasks by name to their queues; it never runs a task, renders a page or
touches the database. The project's app (`genai_platform.celery`) sets Django up when a process
starts (Celery's Django fix-up), which loads every app's models and the admin and imports every
`tasks.py`, with their services: about 1,900 modules and ~130 MB of RSS in a process that uses none
of them. This app reads the same settings (broker, queues, schedule, redbeat's lock) without
setting Django up: ~67 MB (docs/performance.md, "Memory and start-up").

The scheduled tasks are not registered here, so beat sends them with `send_task` by name; their
options (queue, expiry) come from the schedule entries and the queue settings, which this app
shares with the project's, never from the task decorators (none of the scheduled tasks sets any).
"""

from __future__ import annotations

import os

from celery import Celery
from django.conf import settings
from django.utils.log import configure_logging

from genai_platform import celery as project

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genai_platform.settings")

# No fix-ups: Celery's Django fix-up is what would call `django.setup()` in this process.
app = Celery("genai_platform", fixups=[])
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.broker_transport = project.app.conf.broker_transport
app.conf.task_queues = project.app.conf.task_queues
app.conf.task_default_queue = project.app.conf.task_default_queue
app.conf.task_default_exchange = project.app.conf.task_default_exchange
app.conf.task_default_routing_key = project.app.conf.task_default_routing_key

# The one part of `django.setup()` beat needs: the same log lines and format (`LOG_FORMAT`) as every
# other process. Telemetry is configured by the project's `beat_init` handler, connected on import.
configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)
