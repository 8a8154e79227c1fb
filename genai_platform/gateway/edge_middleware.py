"""Django's stock middleware, run on the event loop under ASGI instead of on a thread.

Django adapts a `MiddlewareMixin` to an async chain by running each hook through
`sync_to_async(thread_sensitive=True)`: under ASGI that is a thread (started per request) and a
hop to it and back for every `process_request`, `process_view` and `process_response`, about a
dozen per call with the stack in `settings.MIDDLEWARE`. Under load the hops, not the hooks,
were most of the gateway's CPU (docs/performance.md, "Where the async gateway's time went").

The hooks of these classes only read the request and set headers or cookies, so here they run
inline. The two that can touch the database do so only when a view used them (a modified
session is saved, queued messages are stored in the session): only then do they hop to a thread,
as Django would. Synchronous (WSGI, the test client) behaviour is Django's own, unchanged.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.http import HttpRequest, HttpResponse
from django.middleware import clickjacking, common, csrf, security


class _InlineHooks:
    """Runs a MiddlewareMixin's hooks in the calling coroutine (they must do no I/O)."""

    get_response: Any
    async_mode: bool

    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)  # type: ignore[call-arg]
        view_hook = getattr(self, "process_view", None)
        if self.async_mode and view_hook is not None and not iscoroutinefunction(view_hook):
            # The handler wraps a sync process_view in sync_to_async; a coroutine it awaits as is.
            async def process_view(request: HttpRequest, view: Any, args: Any, kwargs: Any) -> HttpResponse | None:
                return view_hook(request, view, args, kwargs)  # type: ignore[no-any-return]

            self.process_view = process_view

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        response = self.process_request(request) if hasattr(self, "process_request") else None
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            response = self.process_response(request, response)
        return response  # type: ignore[no-any-return]


class SecurityMiddleware(_InlineHooks, security.SecurityMiddleware):
    pass


class CommonMiddleware(_InlineHooks, common.CommonMiddleware):
    pass


class CsrfViewMiddleware(_InlineHooks, csrf.CsrfViewMiddleware):
    """Inline while the CSRF secret lives in a cookie (the default); with `CSRF_USE_SESSIONS` its
    hooks read the session, so they hop to a thread as Django's own would."""

    def __init__(self, get_response: Any) -> None:
        if settings.CSRF_USE_SESSIONS:
            csrf.CsrfViewMiddleware.__init__(self, get_response)
        else:
            super().__init__(get_response)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        if settings.CSRF_USE_SESSIONS:
            return await csrf.CsrfViewMiddleware.__acall__(self, request)  # type: ignore[no-any-return]
        return await super().__acall__(request)


class AuthenticationMiddleware(_InlineHooks, auth.AuthenticationMiddleware):
    """Its only hook puts a lazy `request.user` on the request: the lookup happens where it is read."""


class SessionMiddleware(_InlineHooks, sessions.SessionMiddleware):
    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        self.process_request(request)
        response = await self.get_response(request)
        if request.session.modified or settings.SESSION_SAVE_EVERY_REQUEST:
            # Saving the session is a database write: on a thread, as Django would.
            return await sync_to_async(self.process_response, thread_sensitive=True)(request, response)
        return self.process_response(request, response)


class MessageMiddleware(_InlineHooks, messages.MessageMiddleware):
    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        self.process_request(request)
        response = await self.get_response(request)
        storage = getattr(request, "_messages", None)
        if storage is not None and (storage.used or storage.added_new):
            # Storing messages may load the session from the database: on a thread.
            return await sync_to_async(self.process_response, thread_sensitive=True)(request, response)
        return self.process_response(request, response)


class XFrameOptionsMiddleware(_InlineHooks, clickjacking.XFrameOptionsMiddleware):
    pass
