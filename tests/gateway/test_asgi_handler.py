"""The gateway's ASGI handler and middleware under a real event loop: an async model call is
answered with the edge's headers and without the per-request thread Django would start, while
sync views (the portal, the admin) keep a thread, their database connection and their session."""

from __future__ import annotations

import asyncio
import gc
import json
import re
import threading
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator
from django.contrib.sessions.models import Session
from django.core.signals import request_finished

from genai_platform.gateway.asgi_handler import GatewayASGIHandler
from tests.factories import AliasFactory, UseCaseFactory, UserFactory, issue_key

pytestmark = pytest.mark.django_db(transaction=True)  # the handler's threads must see the rows


@pytest.fixture(autouse=True)
def _steps_on_the_pool(settings):
    """As in production: the steps run on the loop's executor, not on a caller's thread."""
    settings.GATEWAY_STEPS_THREAD_SENSITIVE = False


@pytest.fixture(autouse=True)
def _close_dead_threads_connections():
    """A sync view's connection stays with its finished thread until collected (as under Django's
    own handler); collect it so the test database can be dropped at the end."""
    yield
    gc.collect()


@pytest.fixture
def finished_on() -> Any:
    """The threads `request_finished` was sent on, one per request."""
    threads: list[int] = []

    def record(**_: Any) -> None:
        threads.append(threading.get_ident())

    request_finished.connect(record, weak=False)
    yield threads
    request_finished.disconnect(record)


def serve(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request through a fresh GatewayASGIHandler on a new event loop on this thread (as
    uvicorn runs it: no `async_to_sync` caller above)."""

    async def run() -> tuple[int, dict[str, str], bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "scheme": "http",
            "server": ("testserver", 80),
            "client": ("127.0.0.1", 40000),
            "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        }
        communicator = ApplicationCommunicator(GatewayASGIHandler(), scope)
        await communicator.send_input({"type": "http.request", "body": body, "more_body": False})
        start = await communicator.receive_output(30)
        content = b""
        while True:
            message = await communicator.receive_output(30)
            content += message.get("body", b"")
            if not message.get("more_body"):
                break
        await communicator.wait(30)
        return start["status"], {k.decode().lower(): v.decode() for k, v in start["headers"]}, content

    return asyncio.run(run())


def test_a_chat_completion_keeps_the_edge_headers_and_finishes_on_the_event_loop(finished_on):
    alias = AliasFactory(name="chat-model")
    key = issue_key(UseCaseFactory(aliases=[alias]))[1]
    body = {"model": "chat-model", "messages": [{"role": "user", "content": "Hello there"}]}

    status, headers, content = serve(
        "POST",
        "/v1/chat/completions",
        json.dumps(body).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )

    assert status == 200, content
    assert json.loads(content)["object"] == "chat.completion"
    assert headers["x-request-id"].startswith("req_")
    assert headers["x-frame-options"] == "DENY"  # the stock middleware still ran, inline
    assert headers["x-content-type-options"] == "nosniff"
    # request_finished ran here, on the loop's thread: no per-request thread was started for it.
    assert finished_on == [threading.get_ident()]


def test_a_sync_view_finishes_on_the_thread_it_ran_on(finished_on):
    status, _, content = serve("GET", "/readyz")  # a sync view that queries the database

    assert status in (200, 503), content
    assert len(finished_on) == 1
    assert finished_on[0] != threading.get_ident()  # its own thread, where its connection lives


def test_an_admin_login_checks_csrf_and_saves_its_session():
    user = UserFactory(is_staff=True, is_superuser=True)
    user.set_password("a long enough password")
    user.save()

    status, headers, page = serve("GET", "/admin/login/")
    assert status == 200
    cookie = re.search(r"csrftoken=([^;]+)", headers["set-cookie"]).group(1)
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()
    form = f"csrfmiddlewaretoken={token}&username={user.username}&password=a+long+enough+password&next=/admin/"
    login = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={cookie}"}

    refused, _, _ = serve("POST", "/admin/login/", form.replace(token, "x" * len(token)).encode(), login)
    status, headers, _ = serve("POST", "/admin/login/", form.encode(), login)

    assert refused == 403  # CSRF still checked
    assert status == 302, headers
    session_key = re.search(r"sessionid=([^;]+)", headers["set-cookie"]).group(1)
    assert Session.objects.filter(session_key=session_key).exists()  # saved, on a thread
