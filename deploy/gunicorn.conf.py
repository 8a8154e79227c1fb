"""Gunicorn settings for the gateway, from the environment.

Threads, not processes, carry concurrency: a gateway thread spends its time waiting on Redis for
a worker's reply, which releases the GIL.
"""

import os
import signal

# One process serves the embedded default, whose cache lives in process memory; with Redis shared,
# two processes per pod use both cores of a 2-core node (one process tops out on the GIL).
workers = int(os.environ.get("GUNICORN_WORKERS", "2" if os.environ.get("REDIS_URL") else "1"))
threads = int(os.environ.get("GUNICORN_THREADS", "16" if os.environ.get("REDIS_URL") else "32"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
# How long a stopping worker lets in-flight requests (streams above all) finish. It must match the
# manifests: terminationGracePeriodSeconds (90) = preStop sleep (10) + this (75) + a margin.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "75"))
#: Streams still open this many seconds before the worker exits are ended with an error event.
DRAIN_MARGIN_SECONDS = float(os.environ.get("GATEWAY_DRAIN_MARGIN_SECONDS", "3"))
keepalive = 5
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", None)
errorlog = "-"


def post_worker_init(worker):
    """Chains the worker's SIGTERM handler with the stream drain (genai_platform/gateway/draining.py)."""
    from genai_platform.gateway import draining

    stop = signal.getsignal(signal.SIGTERM)

    def drain_then_stop(signum, frame):
        draining.begin(worker.cfg.graceful_timeout - DRAIN_MARGIN_SECONDS)
        if callable(stop):
            stop(signum, frame)

    signal.signal(signal.SIGTERM, drain_then_stop)
