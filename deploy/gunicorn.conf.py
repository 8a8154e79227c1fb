"""Gunicorn settings for the gateway, from the environment.

Threads, not processes, carry concurrency: a gateway thread spends its time waiting on Redis for
a worker's reply, which releases the GIL.
"""

import os

workers = int(os.environ.get("GUNICORN_WORKERS", "1"))
threads = int(os.environ.get("GUNICORN_THREADS", "32"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = 20
keepalive = 5
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", None)
errorlog = "-"
