"""One log line per request and per task, carrying the request id and the trace id, as JSON when
`LOG_FORMAT=json` (production: a log pipeline parses fields, not prose) or plain text otherwise.

Every record gets `request_id` and `trace_id` from the context it was logged in, so a line written
deep in a service is joined to its request without passing ids around."""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from celery.signals import task_postrun, task_prerun
from django.http import HttpRequest, HttpResponse

from .telemetry import current_trace_id

access_logger = logging.getLogger("genai_platform.access")
task_logger = logging.getLogger("genai_platform.task")

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
#: task id -> (start time, the token that restores the request id the task ran under).
_running_tasks: dict[str, tuple[float, contextvars.Token[str]]] = {}


class ContextFilter(logging.Filter):
    """Adds `request_id` and `trace_id` to every record (empty outside a request or a task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = getattr(record, "request_id", "") or _request_id.get()
        record.trace_id = getattr(record, "trace_id", "") or current_trace_id()
        return True


class AccessLogMiddleware:
    """Logs each finished request once: method, path, status, duration, request id, trace id."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if iscoroutinefunction(self):
            return self._acall(request)
        started = time.perf_counter()
        token = _request_id.set(getattr(request, "request_id", ""))
        try:
            response = self.get_response(request)
            _log_request(request, response, started)
            return response
        finally:
            _request_id.reset(token)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        token = _request_id.set(getattr(request, "request_id", ""))
        try:
            response = await self.get_response(request)
            _log_request(request, response, started)
            return response
        finally:
            _request_id.reset(token)


def _log_request(request: HttpRequest, response: HttpResponse, started: float) -> None:
    # A stream's line is written when its headers go out; its length is in the usage ledger.
    access_logger.info(
        "%s %s %s",
        request.method,
        request.path,
        response.status_code,
        extra={
            "event": "request",
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )


@task_prerun.connect
def _task_started_at(task_id: str | None = None, args: tuple = (), **_: Any) -> None:
    request_id = args[0].get("request_id", "") if args and isinstance(args[0], dict) else ""
    # An eager task runs inside its request: its id stays that request's, and is restored after.
    _running_tasks[task_id or ""] = (time.perf_counter(), _request_id.set(request_id or _request_id.get()))


@task_postrun.connect
def _task_finished(task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any) -> None:
    started, token = _running_tasks.pop(task_id or "", (None, None))
    task_logger.info(
        "%s %s",
        getattr(task, "name", "task"),
        state,
        extra={
            "event": "task",
            "task": getattr(task, "name", ""),
            "task_id": task_id,
            "state": state,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started is not None else None,
        },
    )
    if token is not None:
        _request_id.reset(token)
