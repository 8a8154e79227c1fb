"""One log line per request and per task, as JSON with LOG_FORMAT=json, joined to its request id."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import Client

from genai_platform.logs import ContextFilter
from tests.factories import AliasFactory, UseCaseFactory, issue_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """The access and task loggers written through the JSON formatter the LOGGING setting declares."""
    formatter_config = dict(settings.LOGGING["formatters"]["json"])
    formatter_class = formatter_config.pop("()")
    module, name = formatter_class.rsplit(".", 1)
    formatter = getattr(__import__(module, fromlist=[name]), name)(**formatter_config)
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    handler.addFilter(ContextFilter())
    loggers = [logging.getLogger("genai_platform.access"), logging.getLogger("genai_platform.task")]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    yield out
    for logger in loggers:
        logger.removeHandler(handler)


def records(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_each_request_writes_one_json_line_with_its_request_id(json_lines):
    response = Client().get("/healthz")

    [line] = [r for r in records(json_lines) if r.get("event") == "request"]
    assert line["request_id"] == response["x-request-id"]
    assert (line["method"], line["path"], line["status"]) == ("GET", "/healthz", 200)
    assert line["duration_ms"] >= 0
    assert {"time", "level", "logger", "message", "trace_id"} <= set(line)


def test_a_model_call_writes_its_request_line_and_its_task_line_under_one_request_id(json_lines):
    key = issue_key(UseCaseFactory(aliases=[AliasFactory(name="chat-model")]))[1]

    response = Client().post(
        "/v1/chat/completions",
        data=json.dumps({"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )

    assert response.status_code == 200
    lines = records(json_lines)
    task = next(r for r in lines if r.get("event") == "task")
    request = next(r for r in lines if r.get("event") == "request")
    assert task["task"] == "router.invoke_provider"
    assert task["state"] == "SUCCESS"
    assert task["request_id"] == request["request_id"] == response["x-request-id"]
