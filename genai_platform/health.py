"""Probes for load balancers and Kubernetes: /healthz (the process answers) and /readyz (its
database and cache answer too)."""

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    problems = []
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        problems.append(f"database: {exc.__class__.__name__}")
    try:
        cache.set("readyz", "1", timeout=5)
    except Exception as exc:
        problems.append(f"cache: {exc.__class__.__name__}")
    if problems:
        return JsonResponse({"status": "unavailable", "problems": problems}, status=503)
    from genai_platform.metering.selectors import ledger_warnings

    # Degraded still serves (200): a ledger behind is the flushers' problem, not this gateway's.
    warnings = ledger_warnings()
    if warnings:
        return JsonResponse({"status": "degraded", "warnings": warnings})
    return JsonResponse({"status": "ok"})
