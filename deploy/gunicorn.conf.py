"""Gunicorn settings for the gateway, from the environment.

Threads, not processes, carry concurrency: a gateway thread spends its time waiting on Redis for
a worker's reply, which releases the GIL.
"""

import os

# One process serves the embedded default, whose cache lives in process memory; with Redis shared,
# two processes per pod use both cores of a 2-core node (one process tops out on the GIL).
workers = int(os.environ.get("GUNICORN_WORKERS", "2" if os.environ.get("REDIS_URL") else "1"))
# Interim, until the async gateway: a call holds a thread for its whole wait (a real one lasts
# seconds), so 64 per process (was 16). Idle threads cost nothing; each may keep a PostgreSQL
# connection for DATABASE_CONN_MAX_AGE (docs/configuration.md).
threads = int(os.environ.get("GUNICORN_THREADS", "64" if os.environ.get("REDIS_URL") else "32"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = 20
keepalive = 5
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", None)
errorlog = "-"
