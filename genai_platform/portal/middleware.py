"""Shows every date in the viewer's own time zone: the browser reports it once (a cookie set by the
portal's base template from `Intl.DateTimeFormat`), and each request activates it."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

#: The cookie the portal's pages set from the browser's time zone.
TIME_ZONE_COOKIE = "tz"


class ViewerTimeZoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        name = request.COOKIES.get(TIME_ZONE_COOKIE, "")
        try:
            zone = zoneinfo.ZoneInfo(name) if name else None
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = None
        if zone is not None:
            timezone.activate(zone)
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


#: Below this prefix every answer is JSON, whatever went wrong (the gateway's `/v1/` has its own).
MANAGEMENT_API_PREFIX = "/api/v1"


class ManagementApiJsonErrorsMiddleware:
    """Turns Django's HTML 404 and 500 pages under `/api/v1` into JSON. A 404 stays a 404, so the
    common middleware still redirects a path that only lacks its trailing slash."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
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
