"""The gateway's gunicorn worker: uvicorn (uvloop, httptools) serving `genai_platform.asgi`.

Gunicorn keeps what it is good at (several processes per pod, restarting a dead one, the graceful
timeout the Kubernetes manifests are matched to); each process is one event loop, so a call in
flight costs a coroutine and a Redis connection, not a thread (router/waiting.py).

On SIGTERM uvicorn stops accepting and waits for open connections until a second before gunicorn's
graceful timeout, then cancels what is left. The worker's handler of that signal also starts the
stream drain (genai_platform/gateway/draining.py) on its event loop: streams still open
`GATEWAY_DRAIN_MARGIN_SECONDS` before the graceful timeout are ended with an error event and
`[DONE]` and metered with what they delivered, instead of being cut by that cancellation.
"""

from __future__ import annotations

import asyncio
import os
import sys
import warnings
from types import FrameType
from typing import Any

from gunicorn.arbiter import Arbiter
from uvicorn.server import Server

with warnings.catch_warnings():  # the module moved to the `uvicorn-worker` distribution, same class
    warnings.simplefilter("ignore", DeprecationWarning)
    from uvicorn.workers import UvicornWorker


class GatewayWorker(UvicornWorker):
    CONFIG_KWARGS = {"loop": "uvloop", "http": "httptools", "lifespan": "off"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Uvicorn cancels what is left a second before gunicorn would kill the process.
        self.config.timeout_graceful_shutdown = max(self.cfg.graceful_timeout - 1, 1)

    async def _serve(self) -> None:
        self.config.app = self.wsgi
        margin = float(os.environ.get("GATEWAY_DRAIN_MARGIN_SECONDS", "3"))
        server = _DrainingServer(
            config=self.config, drain_after=self.cfg.graceful_timeout - margin, loop=asyncio.get_running_loop()
        )
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)


class _DrainingServer(Server):
    def __init__(self, *args: Any, drain_after: float, loop: asyncio.AbstractEventLoop, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._drain_after = drain_after
        self._loop = loop

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Imported here: the application (and Django's settings) is loaded after the worker class.
        from genai_platform.gateway import draining

        # Runs as a signal handler: `begin` only sets the deadline and hands the timer to the loop.
        draining.begin(self._drain_after, loop=self._loop)
        super().handle_exit(sig, frame)
