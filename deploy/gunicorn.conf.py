"""Gunicorn settings for the gateway, from the environment.

Each worker process is one uvicorn event loop (genai_platform/asgi_worker.py) serving the ASGI
application: a call waiting for its worker's reply or streaming it holds a coroutine and a Redis
connection, not a thread, so in-flight calls are bounded by memory and file descriptors.
"""

import os
import resource

wsgi_app = "genai_platform.asgi:application"
worker_class = "genai_platform.asgi_worker.GatewayWorker"
# One process serves the embedded default, whose cache lives in process memory; with Redis shared,
# two processes per pod use both cores of a 2-core node (one process tops out on the GIL).
workers = int(os.environ.get("GUNICORN_WORKERS", "2" if os.environ.get("REDIS_URL") else "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
# How long a stopping worker lets in-flight requests (streams above all) finish. It must match the
# manifests: terminationGracePeriodSeconds (90) = preStop sleep (10) + this (75) + a margin.
# Streams still open GATEWAY_DRAIN_MARGIN_SECONDS (3) before it are ended with an error event.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "75"))
keepalive = 5
# With several workers, import the application once, in the arbiter, before forking them: start-up
# pays one import (~1 s of CPU with the dev install) instead of one per worker, on the cores the
# provider worker is starting on too (docs/performance.md, "Memory and start-up"). Nothing the
# import makes is per-process: database and Redis connections, the reply channel and the event
# loop are made on first use, in the worker. With one worker (a Kubernetes pod) it would save
# nothing and keep a second copy of the application in the arbiter.
preload_app = os.environ.get("GUNICORN_PRELOAD", "true" if workers > 1 else "false").lower() == "true"
backlog = int(os.environ.get("GUNICORN_BACKLOG", "4096"))
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", None)
errorlog = "-"

# Each call in flight holds a client socket and a Redis connection: raise the soft limit on open
# files to the hard one (often 1,024 -> 524,288), whatever started the server.
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if _soft < _hard:
    resource.setrlimit(resource.RLIMIT_NOFILE, (_hard, _hard))
