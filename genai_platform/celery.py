"""The Celery app. Queues are declared with kombu, one per provider, so each provider's workers
can be scaled and credentialed on their own (`celery -A genai_platform worker -Q provider.bedrock`)."""

import os
import threading
from typing import Any

from celery import Celery
from celery.app.defaults import DEFAULTS as CELERY_SETTINGS
from celery.signals import (
    beat_init,
    celeryd_init,
    worker_init,
    worker_process_shutdown,
    worker_ready,
    worker_shutdown,
)
from kombu import Exchange, Queue

from genai_platform import broker_transport, runtime
from genai_platform.providers.registry import PROVIDERS, adapters_import, queue_name

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genai_platform.settings")
# Before Django and the guardrails are imported: every process of the project imports this module first.
runtime.configure_process()
# Django's system checks (URL confs, the admin, every model) are what `manage.py check` and the test
# suite run; a worker running them again at each start spent ~0.3 s of CPU and 16 MB of RSS on them
# before consuming. `CELERY_SKIP_CHECKS=` (empty) in the environment runs them again.
os.environ.setdefault("CELERY_SKIP_CHECKS", "true")

app = Celery("genai_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Celery looks a setting up through layers on every read (what was set here, Django's settings
# object, its own defaults), 15-40 us for one found past the first layer, and each enqueue and each
# received task read several (`timezone` for `expires`, `enable_utc`, `task_send_sent_event`...)
# (docs/performance.md, "Fourth pass"). Every setting Celery knows is copied,
# resolved, into the first layer once; an assignment to `app.conf` later still wins.
app.conf.update({setting: app.conf[setting] for setting in CELERY_SETTINGS})
# One Redis client per channel instead of one per publish and per ack (genai_platform/broker_transport.py).
app.conf.broker_transport = app.conf.broker_transport or broker_transport.transport_for(app.conf.broker_url or "")

# On RabbitMQ the queues are quorum queues: replicated across the cluster's nodes, so a broker node
# lost does not lose queued invocations, and a message whose consumer died is redelivered at once
# (Celery >= 5.5 notices quorum queues and drops the global QoS they do not support). Redis ignores
# queue arguments.
_queue_arguments = {"x-queue-type": "quorum"} if app.conf.broker_url.startswith(("amqp", "pyamqp")) else {}
_invocations = Exchange("invocations", type="direct")
app.conf.task_queues = [
    *(
        Queue(queue_name(provider), _invocations, routing_key=queue_name(provider), queue_arguments=_queue_arguments)
        for provider in PROVIDERS
    ),
    Queue("platform", Exchange("platform", type="direct"), routing_key="platform", queue_arguments=_queue_arguments),
]
app.conf.task_default_queue = "platform"
app.conf.task_default_exchange = "platform"
app.conf.task_default_routing_key = "platform"
app.autodiscover_tasks()


# Workers report their busy slots for /metrics (signal handlers connected on import).
from genai_platform import worker_load  # noqa: E402, F401
from genai_platform.router.liveness import hold_received_invocations  # noqa: E402

hold_received_invocations()  # a call prefetched by a worker killed later is noticed, not waited out


@celeryd_init.connect
def _worker_frameworks(options: dict[str, Any] | None = None, **_: Any) -> None:
    """A worker learns its queues here, before it consumes: only the local provider's worker gets
    torch and transformers back (imported when its first embedding call loads the model)."""
    if runtime.worker_wants_ml_frameworks(os.environ, (options or {}).get("queues")):
        runtime.let_ml_frameworks_in()


@worker_init.connect
def _telemetry_for_worker(**_: object) -> None:
    """Traces from the worker's side of each call, when OTEL_* asks (the SDK re-creates its export
    thread in forked pool processes)."""
    from genai_platform import telemetry

    telemetry.configure("worker")


@beat_init.connect
def _telemetry_for_beat(**_: object) -> None:
    from genai_platform import telemetry

    telemetry.configure("beat")


@worker_ready.connect
def _provider_sdks_imported_early(sender: Any = None, **_: Any) -> None:
    """A provider worker imports its providers' SDKs while it waits for its first invocation, on a
    thread (the worker consumes meanwhile), so that a first call arriving after start-up (a new pod
    before traffic reaches it) skips 0.1 to 0.6 s of imports. A worker on every provider queue
    (`make up`) thus imports every installed SDK, used or not. The `local` provider is left to its
    first call (torch and a model are not worth loading early)."""
    queues = (getattr(sender, "app", None) or app).amqp.queues.consume_from or {}
    providers = [
        name.removeprefix("provider.")
        for name in queues
        if name.startswith("provider.") and name != runtime.LOCAL_PROVIDER_QUEUE
    ]
    if providers:
        threading.Thread(target=_import_then_settle, args=(providers,), name="sdk-import", daemon=True).start()
    else:
        runtime.heap_settled()


def _import_then_settle(providers: list[str]) -> None:
    adapters_import(providers)
    runtime.heap_settled()  # the SDKs are part of what the worker serves with


@worker_shutdown.connect
@worker_process_shutdown.connect
def _captures_before_exit(**_: object) -> None:
    """A worker stopping gracefully first buffers the prompt captures its calls are still redacting
    (briefly: genai_platform.ledger.capturing). Pool processes end without atexit, hence the signal."""
    from genai_platform.ledger.capturing import captures_wait

    captures_wait()
