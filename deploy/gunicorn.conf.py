"""Gunicorn settings for the gateway, from the environment.

Threads, not processes, carry concurrency: a gateway thread spends its time waiting on Redis for
a worker's reply, which releases the GIL.
"""

import os

# One process serves the embedded default, whose cache lives in process memory; with Redis shared,
# two processes per pod use both cores of a 2-core node (one process tops out on the GIL).
workers = int(os.environ.get("GUNICORN_WORKERS", "2" if os.environ.get("REDIS_URL") else "1"))
threads = int(os.environ.get("GUNICORN_THREADS", "16" if os.environ.get("REDIS_URL") else "32"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = 20
keepalive = 5
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", None)
errorlog = "-"
