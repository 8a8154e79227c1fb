"""Access changes made in one process reach the others while they run.

The end-to-end tests start a real gunicorn (deploy/gunicorn.conf.py) on its own PostgreSQL
database with Redis, change roles, policy lines and keys from another process (`manage.py shell`,
as an operator or the portal would), and poll the running server until it enforces the change.
The time is measured from the moment the change committed (the shell prints it) to the first
answer that reflects it. The server's periodic policy reload is set to an hour, so only the
published change (Redis pub/sub) can explain a reload within seconds.

The stack uses the Redis database of the test run (`REDIS_URL`, else db 9 of `E2E_REDIS_BASE`);
no Celery worker is needed: tasks run eagerly inside the gateway.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
import redis

from genai_platform.access.enforcer import CHANNEL, PolicyEnforcer, lob_domain, user_subject
from genai_platform.access.models import CENTRAL, CentralRoleAssignment
from genai_platform.access.selectors import user_can, user_can_in_lob
from lob_tenants.models import Membership
from tests.e2e.conftest import PG_ADMIN_DSN, REDIS_BASE, LiveStack, clean_env, manage, start_stack
from tests.factories import LobFactory, UserFactory

#: What "within a few seconds" means for every process.
PROPAGATION_LIMIT_SECONDS = 5.0


# ---- the live stack ----


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[LiveStack]:
    logs = tmp_path_factory.mktemp("access-propagation")
    database = f"genai_e2e_access_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    env = clean_env(
        DATABASE_URL=PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{database}",
        REDIS_URL=os.environ.get("REDIS_URL") or f"{REDIS_BASE}/9",
        ACCESS_POLICY_RELOAD_SECONDS="3600",
    )
    try:
        yield from start_stack(env, logs)
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def in_stack(stack: LiveStack, code: str) -> Any:
    """Runs `code` in a separate process on the stack's database; it sets `result` (JSON)."""
    script = "import json, time\nresult = None\n" + code + "\nprint(json.dumps(result))\n"
    return json.loads(manage(stack.env, "shell", "-c", script).strip().splitlines()[-1])


SIGN_IN = """
from django.contrib.auth import get_user_model
from django.test import Client
user = get_user_model().objects.create_user(USERNAME)
client = Client()
client.force_login(user)
result = client.cookies["sessionid"].value
"""


def session_for(stack: LiveStack, username: str) -> httpx.Client:
    """An HTTP client signed in to the stack as a new user `username`."""
    session = in_stack(stack, f"USERNAME = {username!r}\n" + SIGN_IN)
    return httpx.Client(base_url=stack.base_url, cookies={"sessionid": session}, timeout=10)


def seconds_until(condition, *, since: float, limit: float = PROPAGATION_LIMIT_SECONDS * 3) -> float:
    """Polls `condition` until it holds; the seconds from `since` (wall clock, another process's) to then."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            seconds = time.time() - since
            print(f"enforced {seconds:.3f}s after the change")  # the measurement, shown with -rP
            return seconds
        time.sleep(0.05)  # polling interval, not synchronisation
    raise AssertionError(f"not enforced within {limit}s")


# ---- roles and policy lines ----

GRANT = """
from django.contrib.auth import get_user_model
from lob_tenants.models import Lob
from genai_platform.access.services import membership_set
membership_set(lob=Lob.objects.get(slug=LOB), user=get_user_model().objects.get(username=USERNAME), role=ROLE)
result = time.time()  # membership_set has committed and announced the change
"""

REMOVE_RULE = """
from genai_platform.access.models import PolicyRule
from genai_platform.access.services import policy_rule_remove
policy_rule_remove(rule=PolicyRule.objects.get(role="lob_viewer", domain="*", obj="use_case", act="read"))
result = time.time()
"""

RESTORE_RULE = """
from genai_platform.access.services import policy_rule_add
policy_rule_add(role="lob_viewer", domain="*", obj="use_case", act="read")
"""


@pytest.mark.e2e
def test_a_membership_granted_in_another_process_is_enforced_by_the_running_server(stack):
    lob = stack.demo["lob"]
    with session_for(stack, "grantee") as http:
        # A central check builds the server's policy and starts its listener before the change.
        assert http.get("/api/v1/break-glass/").status_code == 403
        assert http.get(f"/api/v1/lobs/{lob}/use-cases/").status_code == 404

        granted_at = in_stack(stack, f"LOB, USERNAME, ROLE = {lob!r}, 'grantee', 'lob_developer'\n" + GRANT)
        seconds = seconds_until(lambda: http.get(f"/api/v1/lobs/{lob}/use-cases/").status_code == 200, since=granted_at)

    assert seconds < PROPAGATION_LIMIT_SECONDS, f"took {seconds:.2f}s"


@pytest.mark.e2e
def test_a_policy_line_removed_in_another_process_is_enforced_by_the_running_server(stack):
    lob = stack.demo["lob"]
    with session_for(stack, "viewer") as http:
        in_stack(stack, f"LOB, USERNAME, ROLE = {lob!r}, 'viewer', 'lob_viewer'\n" + GRANT)
        seconds_until(lambda: http.get(f"/api/v1/lobs/{lob}/use-cases/").status_code == 200, since=time.time())

        removed_at = in_stack(stack, REMOVE_RULE)
        try:
            seconds = seconds_until(
                lambda: http.get(f"/api/v1/lobs/{lob}/use-cases/").status_code == 403, since=removed_at
            )
        finally:
            in_stack(stack, RESTORE_RULE)
        assert http.get(f"/api/v1/lobs/{lob}/members/").status_code == 200  # the rest of the role still holds

    assert seconds < PROPAGATION_LIMIT_SECONDS, f"took {seconds:.2f}s"


# ---- API keys ----

ISSUE = """
from lob_tenants.models import UseCase
from lob_tenants.services import api_key_issue
_, result = api_key_issue(use_case=UseCase.objects.get(slug=USE_CASE), name="to revoke", environment="production")
"""

REVOKE = """
from lob_tenants.keys import key_parse
from lob_tenants.models import ApiKey
from lob_tenants.services import api_key_revoke
api_key_revoke(api_key=ApiKey.objects.get(prefix=key_parse(KEY)[0]))
result = time.time()  # committed, and the shared cache entry deleted
"""


@pytest.mark.e2e
def test_a_key_revoked_in_another_process_stops_working_at_the_running_gateway(stack):
    key = in_stack(stack, f"USE_CASE = {stack.demo['use_case']!r}\n" + ISSUE)
    body = {"model": stack.demo["model"], "messages": [{"role": "user", "content": "still there?"}]}

    def chat() -> httpx.Response:
        return httpx.post(
            f"{stack.base_url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=10
        )

    for _ in range(2):  # the gateway now holds the key in its own memory and in the shared cache
        assert chat().status_code == 200

    revoked_at = in_stack(stack, f"KEY = {key!r}\n" + REVOKE)
    # Every gateway process (gunicorn runs two with a shared Redis) drops its copy within its local
    # cache's seconds: ten refusals in a row, not the first one, which one process may give alone.
    seconds = seconds_until(lambda: all(chat().status_code == 401 for _ in range(10)), since=revoked_at)

    assert seconds < PROPAGATION_LIMIT_SECONDS, f"took {seconds:.2f}s"
    assert chat().json()["error"]["code"] == "invalid_api_key"


# ---- within one process: the announcement and the periodic backstop ----


@pytest.mark.django_db
def test_a_published_change_makes_this_process_reload(settings):
    """What another process's announcement does here: the listener marks the policy stale."""
    assert settings.REDIS_URL, "make test runs against Redis (REDIS_URL)"
    lob, user = LobFactory(), UserFactory()
    assert not user_can_in_lob(user, lob, "use_case", "read")  # loads the policy and starts the listener
    Membership.objects.create(lob=lob, user=user, role="lob_viewer")  # a write nobody announced
    publisher = redis.Redis.from_url(settings.REDIS_URL)

    def announced_and_enforced() -> bool:
        publisher.publish(CHANNEL, "1")  # again each time: the listener may still be subscribing
        return user_can_in_lob(user, lob, "use_case", "read")

    seconds_until(announced_and_enforced, since=time.time())


@pytest.mark.django_db
def test_a_change_made_before_the_listener_subscribed_is_seen_once_it_listens(settings):
    """The listener starts after the first load; what was announced in between must not wait an hour."""
    assert settings.REDIS_URL, "make test runs against Redis (REDIS_URL)"
    settings.ACCESS_POLICY_RELOAD_SECONDS = 3600
    lob, user = LobFactory(), UserFactory()
    enforcer = PolicyEnforcer()
    enforcer.reload()  # loaded, not yet listening
    Membership.objects.create(lob=lob, user=user, role="lob_viewer")  # announced to nobody listening

    enforcer._listen()
    assert enforcer.subscribed.wait(timeout=10), "the listener never subscribed"

    assert enforcer.enforce(user_subject(user.pk), lob_domain(lob.slug), "use_case", "read")


@pytest.mark.django_db
def test_without_any_announcement_the_periodic_reload_catches_up(settings):
    settings.ACCESS_POLICY_RELOAD_SECONDS = 0  # every check is past the backstop period
    user = UserFactory()
    assert not user_can(user, CENTRAL, "catalog", "write")

    CentralRoleAssignment.objects.create(user=user, role="platform_admin")  # a write nobody announced

    assert user_can(user, CENTRAL, "catalog", "write")
