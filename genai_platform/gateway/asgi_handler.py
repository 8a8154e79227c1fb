"""Django's ASGI handler, without the thread hops an async view does not need.

Django's handler runs the `request_started` signal and `response.close()` (which sends
`request_finished`) through `sync_to_async(thread_sensitive=True)`: a thread started for the
request and two hops to it, for every request, even one served entirely by an async view on the
event loop. Their receivers (closing the thread's old database connections, the caches, the URL
conf) act on the thread they run on, and a request that never used a thread has nothing there.

So here they run inline unless the request already ran something on its thread (a sync view or
hook): then they run there, as Django would, so that thread's database connection is recycled.
Everything else is Django's `ASGIHandler.handle` as of Django 5.2 (tests/gateway/test_asgi_handler.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from asgiref.sync import AsyncToSync, SyncToAsync, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.urls import set_script_prefix


def request_used_a_thread() -> bool:
    """True once this request ran sync code on its thread-sensitive executor (Django's per-request
    thread), or when such code goes to the thread of a caller above (`async_to_sync`: tests)."""
    if getattr(AsyncToSync.executors, "current", None) is not None:
        return True
    context = SyncToAsync.thread_sensitive_context.get(None)
    return context is not None and context in SyncToAsync.context_to_thread_executor


async def _on_request_thread(function: Callable[[], Any]) -> None:
    if request_used_a_thread():
        await sync_to_async(function, thread_sensitive=True)()
    else:
        function()


class GatewayASGIHandler(ASGIHandler):
    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        # Nothing ran on this request's thread yet: the receivers would find nothing to do there.
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            body_file.close()
            await self.send_response(error_response, send)
            await _on_request_thread(error_response.close)
            return

        async def process_request(request: Any, send: Any) -> Any:
            response = await self.run_get_response(request)
            with contextlib.suppress(asyncio.CancelledError):  # the client disconnected during send_response
                await self.send_response(response, send)
            return response

        tasks = [
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(process_request(request, send)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        try:
            response = tasks[1].result()
        except asyncio.CancelledError:
            await _on_request_thread(lambda: signals.request_finished.send(sender=self.__class__))
        else:
            await _on_request_thread(response.close)
        body_file.close()
