"""The casbin enforcer: RBAC with domains, where a domain is a LOB (`lob:<slug>`) or `central`.

Policy lines (`p, role, domain, object, action`) live in `access.PolicyRule`; role assignments
(`g, user:<id>, role, domain`) are read from LOB memberships and central role assignments, so
there is one source of truth for who holds which role. Each process loads the policy once and
reloads it when any process publishes a change (Redis pub/sub), and at least every
`ACCESS_POLICY_RELOAD_SECONDS` as a backstop against a missed message.

The enforcer is built lazily on first use, never in `AppConfig.ready()`: on a fresh database the
tables do not exist until migrations ran.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

import casbin
from casbin import persist
from django.conf import settings

from genai_platform.tenancy.models import Membership

from .models import CENTRAL, CentralRoleAssignment, PolicyRule

logger = logging.getLogger(__name__)

CHANNEL = "genai:access:changed"

MODEL_TEXT = """
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub, r.dom) && (p.dom == "*" || p.dom == r.dom) && (p.obj == "*" || p.obj == r.obj) \
&& (p.act == "*" || p.act == r.act)
"""


def lob_domain(lob_slug: str) -> str:
    return f"lob:{lob_slug}"


def user_subject(user_id: int) -> str:
    return f"user:{user_id}"


class DatabaseAdapter(persist.Adapter):
    """Reads policy and role lines from the project's own tables (read-only: services write them)."""

    def load_policy(self, model: casbin.Model) -> None:
        for line in policy_lines():
            persist.load_policy_line(line, model)

    def save_policy(self, model: casbin.Model) -> bool:
        raise NotImplementedError("policies are changed through genai_platform.access.services")


def policy_lines() -> Iterable[str]:
    for rule in PolicyRule.objects.all():
        yield f"p, {rule.role}, {rule.domain}, {rule.obj}, {rule.act}"
    for membership in Membership.objects.select_related("lob"):
        yield f"g, {user_subject(membership.user_id)}, {membership.role}, {lob_domain(membership.lob.slug)}"
    for assignment in CentralRoleAssignment.objects.all():
        yield f"g, {user_subject(assignment.user_id)}, {assignment.role}, {CENTRAL}"


class PolicyEnforcer:
    """One per process. `enforce` is thread-safe; reloading swaps in a fully built enforcer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._enforcer: casbin.Enforcer | None = None
        self._loaded_at = 0.0
        self._listener: threading.Thread | None = None
        #: Set once the listener's subscription is confirmed (tests wait on it instead of sleeping).
        self.subscribed = threading.Event()

    def enforce(self, subject: str, domain: str, obj: str, act: str) -> bool:
        return self._current().enforce(subject, domain, obj, act)

    def reload(self) -> None:
        """Rebuilds from the database now."""
        model = casbin.Model()
        model.load_model_from_text(MODEL_TEXT)
        enforcer = casbin.Enforcer(model, DatabaseAdapter())
        with self._lock:
            self._enforcer = enforcer
            self._loaded_at = time.monotonic()

    def _current(self) -> casbin.Enforcer:
        stale = time.monotonic() - self._loaded_at > settings.ACCESS_POLICY_RELOAD_SECONDS
        if self._enforcer is None or stale:
            self.reload()
            self._listen()
        assert self._enforcer is not None
        return self._enforcer

    def _listen(self) -> None:
        """Starts (once) a daemon thread that reloads when another process announces a change."""
        if self._listener is not None or not settings.REDIS_URL:
            return
        self._listener = threading.Thread(target=self._listen_forever, name="access-policy-listener", daemon=True)
        self._listener.start()

    def _listen_forever(self) -> None:
        import redis

        while True:
            try:
                client = redis.Redis.from_url(settings.REDIS_URL)
                pubsub = client.pubsub()
                pubsub.subscribe(CHANNEL)
                for message in pubsub.listen():
                    # Every message marks the policy stale, the subscription's confirmation too: a
                    # change announced after this process loaded the policy but before it was
                    # listening (the thread starts after the first load; a reconnect leaves a gap)
                    # would otherwise wait for the periodic backstop, an hour by default.
                    self._mark_stale()
                    if message["type"] == "subscribe":
                        self.subscribed.set()
            except Exception:
                self.subscribed.clear()
                logger.warning("access policy listener lost Redis; relying on periodic reload", exc_info=True)
                time.sleep(1)  # reconnect back-off, not synchronisation

    def _mark_stale(self) -> None:
        # The next enforce() reloads in the request's own thread, where the database connection is handled.
        with self._lock:
            self._loaded_at = 0.0


_enforcer = PolicyEnforcer()


def policy_enforcer() -> PolicyEnforcer:
    return _enforcer


def announce_policy_change() -> None:
    """Tells every process (this one included) to reload the policy; call after the change commits."""
    _enforcer._mark_stale()
    if settings.REDIS_URL:
        import redis

        redis.Redis.from_url(settings.REDIS_URL).publish(CHANNEL, "1")
