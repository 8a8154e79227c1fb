"""Shadow-rollout tallies: how each check acted under the enforced policy and how it would have
acted under the shadow candidate, counted per shadow version.

A version is named by its scope, its owner and its number (`version_key`), so two LOBs' policies
of the same name are never merged. When several shadow versions apply to one call at once, the
call counts for each of them. The tallies live where every process of the deployment can add to
them and every reader sees the same numbers: the shared Redis when `REDIS_URL` is set, otherwise
the database (`GuardrailShadowCount`, one upsert per checked text), so `make run`'s gateway
threads, `manage.py guardrails shadow-report` and the portal's diff page agree on every setup.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection

from .models import GuardrailPolicyRecord, GuardrailPolicyVersion, GuardrailShadowCount

#: Joins the keys of the shadow versions that apply to one call (keys are slugs and `:`, `/`, `@`).
KEY_SEPARATOR = "+"
REDIS_PREFIX = "genai:guardrail-shadow:"


def version_key(version: GuardrailPolicyVersion) -> str:
    """`<scope>:<owner>:<name>@v<number>`; the owner is `central`, the LOB's slug, or `<lob>/<use case>`."""
    policy = version.policy
    if policy.scope == GuardrailPolicyRecord.Scope.LOB:
        owner = policy.lob.slug
    elif policy.scope == GuardrailPolicyRecord.Scope.USE_CASE:
        owner = f"{policy.use_case.lob.slug}/{policy.use_case.slug}"
    else:
        owner = "central"
    return f"{policy.scope}:{owner}:{policy.name}@v{version.number}"


def shadow_label(versions: list[GuardrailPolicyVersion]) -> str:
    """The label an effective policy carries for its shadow versions: their keys, joined."""
    return KEY_SEPARATOR.join(version_key(v) for v in versions)


def _fields(comparison: Any) -> dict[str, int]:
    fields = {"texts": 1}
    for check in comparison.checks:
        prefix = f"{check.direction.value}:{check.check.value}"
        fields[f"{prefix}:enforced:{check.enforced.value if check.enforced else 'none'}"] = 1
        fields[f"{prefix}:shadow:{check.candidate.value if check.candidate else 'none'}"] = 1
    return fields


class ShadowTally:
    """Adds to and reads the tallies of shadow versions, in Redis or in the database."""

    def __init__(self, redis_url: str = "") -> None:
        self._redis = None
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url, decode_responses=True)

    def record(self, label: str, comparison: Any) -> None:
        """Counts one checked text for every shadow version in `label`."""
        keys = [key for key in label.split(KEY_SEPARATOR) if key]
        if not keys:
            return
        fields = _fields(comparison)
        if self._redis is not None:
            pipe = self._redis.pipeline(transaction=False)
            for key in keys:
                for name, amount in fields.items():
                    pipe.hincrby(REDIS_PREFIX + key, name, amount)
            pipe.execute()
            return
        self._add_in_database([(key, name, amount) for key in keys for name, amount in fields.items()])

    def _add_in_database(self, rows: list[tuple[str, str, int]]) -> None:
        # One statement, atomic per row, safe against concurrent writers (SQLite and PostgreSQL
        # both have INSERT ... ON CONFLICT DO UPDATE); the ORM has no increment-on-conflict.
        table = connection.ops.quote_name(GuardrailShadowCount._meta.db_table)
        values = ", ".join(["(%s, %s, %s)"] * len(rows))
        params = [value for row in rows for value in row]
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (version_key, name, count) VALUES {values} "  # noqa: S608 - our table name
                f"ON CONFLICT (version_key, name) DO UPDATE SET count = {table}.count + excluded.count",
                params,
            )

    def counts(self, key: str) -> dict[str, int]:
        if self._redis is not None:
            return {name: int(value) for name, value in self._redis.hgetall(REDIS_PREFIX + key).items()}
        return dict(GuardrailShadowCount.objects.filter(version_key=key).values_list("name", "count"))


@cache
def shadow_tally() -> ShadowTally:
    """This process's tally client for the deployment's shared store."""
    return ShadowTally(settings.REDIS_URL)


def shadow_report(version: GuardrailPolicyVersion | str) -> dict[str, Any]:
    """Per check and direction: how often the enforced policy and the shadow candidate blocked or
    masked, for one shadow version (or its key)."""
    key = version if isinstance(version, str) else version_key(version)
    counts = shadow_tally().counts(key)
    rows: dict[str, dict[str, int]] = {}
    for name, amount in counts.items():
        if name == "texts":
            continue
        direction, check, side, action = name.split(":")
        row = rows.setdefault(f"{direction}:{check}", {})
        row[f"{side}_{action}"] = row.get(f"{side}_{action}", 0) + amount
    return {
        "shadow": key,
        "texts": counts.get("texts", 0),
        "checks": {
            name: {
                "enforced_block": row.get("enforced_block", 0),
                "shadow_block": row.get("shadow_block", 0),
                "enforced_mask": row.get("enforced_mask", 0),
                "shadow_mask": row.get("shadow_mask", 0),
            }
            for name, row in sorted(rows.items())
        },
    }


def shadow_versions() -> list[GuardrailPolicyVersion]:
    """Every version published in shadow, with what `version_key` needs."""
    return list(
        GuardrailPolicyVersion.objects.filter(
            status=GuardrailPolicyVersion.Status.PUBLISHED, mode=GuardrailPolicyVersion.Mode.SHADOW
        )
        .select_related("policy__lob", "policy__use_case__lob")
        .order_by("policy__scope", "policy__name", "number")
    )
