"""Shows every date in the viewer's own time zone: the browser reports it once (a cookie set by the
portal's base template from `Intl.DateTimeFormat`), and each request activates it."""

from __future__ import annotations

import zoneinfo
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

#: The cookie the portal's pages set from the browser's time zone.
TIME_ZONE_COOKIE = "tz"


class ViewerTimeZoneMiddleware:
    # Async-capable (like the next one): under ASGI a sync-only middleware would hold a thread for
    # each async view's whole wait for its model call.
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if iscoroutinefunction(self):
            return self._acall(request)
        self._activate(request)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        self._activate(request)
        try:
            return await self.get_response(request)
        finally:
            timezone.deactivate()

    @staticmethod
    def _activate(request: HttpRequest) -> None:
        name = request.COOKIES.get(TIME_ZONE_COOKIE, "")
        try:
            zone = zoneinfo.ZoneInfo(name) if name else None
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = None
        if zone is not None:
            timezone.activate(zone)
        else:
            timezone.deactivate()


#: Below this prefix every answer is JSON, whatever went wrong (the gateway's `/v1/` has its own).
MANAGEMENT_API_PREFIX = "/api/v1"


class ManagementApiJsonErrorsMiddleware:
    """Turns Django's HTML 404 and 500 pages under `/api/v1` into JSON. A 404 stays a 404, so the
    common middleware still redirects a path that only lacks its trailing slash."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if iscoroutinefunction(self):
            return self._acall(request)
        return self._answered(request, self.get_response(request))

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        return self._answered(request, await self.get_response(request))

    @staticmethod
    def _answered(request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if not request.path.startswith(MANAGEMENT_API_PREFIX) or response.status_code not in (404, 500):
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        from django.http import JsonResponse
        from django.urls import reverse

        detail = "Not found." if response.status_code == 404 else "Internal server error."
        return JsonResponse(
            {"detail": f"{detail} ({request.method} {request.path})", "documentation": reverse("api-docs")},
            status=response.status_code,
        )
