"""Metering writes: usage rows for the ledger's flusher (`genai_platform.ledger`), dead letters,
admission and settlement of limits, budget alerts."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from genai_platform.audit.models import CENTRAL_CHAIN
from genai_platform.audit.services import AuditEntry, audit_actor, audit_record
from genai_platform.dbcopy import bulk_insert
from genai_platform.notifications import notify

from .ledger import usage_buffer
from .limits import (
    Admission,
    BudgetScope,
    LimitPolicy,
    RedisLimitStore,
    SettleCall,
    Settlement,
    current_month,
    limit_store,
    to_nanos,
)
from .metrics import DEAD_LETTERS
from .models import Budget, BudgetAlert, DeadLetterUsage, RateLimit, UsageRecord
from .rollups import usage_rollups_add
from .selectors import limits_invalidate, spend_in_month

logger = logging.getLogger(__name__)

_MILLION = Decimal(1_000_000)


def usage_cost(
    *, input_tokens: int, output_tokens: int, input_price_per_million: Decimal, output_price_per_million: Decimal
) -> Decimal:
    return (input_tokens * input_price_per_million + output_tokens * output_price_per_million) / _MILLION


@dataclass(frozen=True)
class PreparedUsage:
    """One buffered usage event parsed for the ledger outside any transaction: its row and audit event."""

    request_id: str
    chain: str
    row: tuple[Any, ...]
    audit: AuditEntry


USAGE_COLUMNS = (
    "request_id",
    "occurred_at",
    "lob_id",
    "use_case_id",
    "api_key_id",
    "end_user",
    "endpoint",
    "alias",
    "deployment",
    "provider",
    "input_tokens",
    "output_tokens",
    "tokens_estimated",
    "input_price_per_million",
    "output_price_per_million",
    "cost",
    "latency_ms",
    "attempts",
    "stream",
    "status",
    "error_code",
)


def usage_prepare(event: dict[str, Any], *, capture_audit: dict[str, Any]) -> PreparedUsage:
    """The ledger row and `inference.*` audit event of one buffered usage event; `capture_audit` is
    what the audit event says of the call's prompt capture (level and digests, never text).

    Raises KeyError, TypeError, ValueError or ArithmeticError for an event that cannot be parsed."""
    occurred_at = dt.datetime.fromisoformat(event["occurred_at"])
    row = (
        str(event["request_id"]),
        occurred_at,
        int(event["lob_id"]),
        int(event["use_case_id"]),
        event["api_key_id"],
        event.get("end_user") or "",
        event["endpoint"],
        event["alias"],
        event.get("deployment") or "",
        event.get("provider") or "",
        int(event.get("input_tokens", 0)),
        int(event.get("output_tokens", 0)),
        bool(event.get("tokens_estimated", False)),
        Decimal(event.get("input_price_per_million", "0")),
        Decimal(event.get("output_price_per_million", "0")),
        Decimal(event.get("cost", "0")),
        float(event.get("latency_ms", 0.0)),
        int(event.get("attempts", 0)),
        bool(event.get("stream", False)),
        event["status"],
        event.get("error_code") or "",
    )
    audit = AuditEntry(
        actor=f"key:{event.get('key_prefix', '')}",
        action=f"inference.{event['endpoint']}",
        object_type="metering.usagerecord",
        object_id=event["request_id"],
        lob_slug=event.get("lob_slug", ""),
        request_id=event["request_id"],
        after={
            "status": event["status"],
            "alias": event["alias"],
            "deployment": event.get("deployment") or "",
            "input_tokens": event.get("input_tokens", 0),
            "output_tokens": event.get("output_tokens", 0),
            "cost": event.get("cost", "0"),
            "error_code": event.get("error_code") or "",
            "capture": capture_audit,
            "guardrails": event.get("guardrails") or {},
        },
    )
    return PreparedUsage(row[0], event.get("lob_slug") or CENTRAL_CHAIN, row, audit)


def usage_batch_insert(prepared: Sequence[PreparedUsage]) -> list[PreparedUsage]:
    """Inserts the records the ledger does not hold yet, with their days' rollups, in the caller's
    transaction; returns those inserted. The caller holds the audit chains' locks of `prepared`,
    which serializes two writers of one request id."""
    recorded = _already_recorded([p.request_id for p in prepared])
    fresh = [p for p in prepared if p.request_id not in recorded]
    bulk_insert(UsageRecord._meta.db_table, USAGE_COLUMNS, [p.row for p in fresh])
    usage_rollups_add([p.row for p in fresh])
    return fresh


def _already_recorded(request_ids: list[str]) -> set[str]:
    """Which of `request_ids` the ledger holds. On PostgreSQL one array parameter, not one per id:
    building and parsing a thousand placeholders cost the flusher more than the lookup itself."""
    if not request_ids:
        return set()
    if connection.vendor != "postgresql":
        return set(UsageRecord.objects.filter(request_id__in=request_ids).values_list("request_id", flat=True))
    table = connection.ops.quote_name(UsageRecord._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT request_id FROM {table} WHERE request_id = ANY(%s)", [request_ids])  # noqa: S608
        return {row[0] for row in cursor.fetchall()}


def usage_dead_letter(event: dict[str, Any], error: BaseException) -> DeadLetterUsage:
    """Sets aside one buffered event the ledger cannot store, counts it and alerts the operators.

    The entry is kept as escaped JSON text, which PostgreSQL accepts whatever the event contains."""
    request_id = json.dumps(event.get("request_id", ""))[1:-1][:64]
    letter = DeadLetterUsage.objects.create(
        request_id=request_id,
        lob_slug=json.dumps(event.get("lob_slug", ""))[1:-1][:64],
        event=json.dumps(event, sort_keys=True, default=str),
        error=f"{error.__class__.__name__}: {error}".replace("\x00", "\\x00")[:2000],
    )
    DEAD_LETTERS.inc()
    logger.error("usage record %s set aside as dead letter %s: %s", request_id, letter.pk, letter.error)
    transaction.on_commit(lambda: _dead_letter_alert(letter))
    return letter


def _dead_letter_alert(letter: DeadLetterUsage) -> None:
    if not (settings.LEDGER_ALERT_EMAILS or settings.LEDGER_ALERT_WEBHOOK_URL):
        return
    try:
        notify(
            subject=f"Ledger: usage record {letter.request_id} set aside",
            body=f"The ledger could not store usage record {letter.request_id} ({letter.error}). It is kept as "
            f"dead letter {letter.pk}; the other records were flushed.",
            recipients=[a.strip() for a in settings.LEDGER_ALERT_EMAILS.split(",")],
            webhook_url=settings.LEDGER_ALERT_WEBHOOK_URL,
            event={"event": "ledger.dead_letter", "dead_letter": letter.pk, "request_id": letter.request_id},
        )
    except OSError:
        logger.exception("could not send the dead-letter alert for %s", letter.pk)


def budget_spend_rebuild(budget: BudgetScope, month: str) -> int:
    """A budget counter's value (nano-USD) rebuilt after Redis lost it: the ledger's rollups plus the
    records still buffered, which a Redis loss puts back from the gateways' spools.

    A buffered record may already be in the ledger (flushed, not yet acknowledged) and then counts
    twice: the error is on the side of refusing, never of overspending. Before reading, this process
    checks the epoch marker, replaying its own spool if Redis lost its data."""
    buffer = usage_buffer()
    buffered = Decimal(0)
    if buffer is not None:
        buffer.epoch_check()
        field = "use_case_id" if budget.name == "use_case" else "lob_id"
        for event in buffer.entries():
            occurred_at = event.get("occurred_at")
            if event.get(field) != budget.id or not occurred_at:
                continue
            if current_month(dt.datetime.fromisoformat(occurred_at)) == month:
                buffered += Decimal(event.get("cost", "0"))
    return to_nanos(spend_in_month(scope=budget.name, scope_id=budget.id, month=month) + buffered)


def limits_admit(policy: LimitPolicy, *, tokens: int, reserve: Decimal) -> Admission:
    """Counts the request against every rate limit and reserves `reserve` USD on every budget, or raises
    `LimitExceeded` without counting anything."""
    return limit_store().admit(policy, tokens=tokens, reserve_nanos=to_nanos(reserve), rebuild=budget_spend_rebuild)


def limits_settle(policy: LimitPolicy, admission: Admission, *, actual_tokens: int, actual_cost: Decimal) -> None:
    """Replaces the call's reservation by its actual cost and tokens, alone (one round trip)."""
    settlement = limit_store().settle(
        policy, admission, actual_tokens=actual_tokens, actual_nanos=to_nanos(actual_cost)
    )
    _budget_alerts_send(settlement, admission.month)


@dataclass(frozen=True)
class PendingSettlement:
    """A call's settlement, handed to the ledger with the call's usage record (`usage_record`): when
    the limit store and the usage buffer share a Redis, it rides in the round trip of the record's
    XADD (`call_on`, then `finish` with its reply); otherwise it runs alone first (`run`)."""

    policy: LimitPolicy
    admission: Admission
    actual_tokens: int
    actual_cost: Decimal

    def call_on(self, redis_url: str) -> SettleCall | None:
        """The settlement's script call when it can run on `redis_url`'s pipeline, else None."""
        store = limit_store()
        if not isinstance(store, RedisLimitStore) or store.url != redis_url:
            return None
        return store.settle_call(
            self.policy, self.admission, actual_tokens=self.actual_tokens, actual_nanos=to_nanos(self.actual_cost)
        )

    def run(self) -> None:
        limits_settle(self.policy, self.admission, actual_tokens=self.actual_tokens, actual_cost=self.actual_cost)

    def finish(self, call: SettleCall, reply: Any) -> None:
        """Reads the pipelined reply of `call` (raising its error) and sends the alerts it crossed."""
        _budget_alerts_send(call.result(reply), self.admission.month)


def _budget_alerts_send(settlement: Settlement, month: str) -> None:
    if settlement.crossed:
        from .tasks import budget_alert_send

        for budget_id, thresholds in settlement.crossed.items():
            for threshold in thresholds:
                budget_alert_send.delay(budget_id, month, threshold)


def budget_alert_deliver(*, budget_id: int, month: str, threshold: int) -> bool:
    """Records and sends one threshold alert by email and signed webhook; False if it was already sent.

    The record and the sending share a transaction: when sending fails the record is rolled back
    and the task's retry sends again (at least once, never silently dropped)."""
    budget = Budget.objects.select_related("lob", "use_case").get(pk=budget_id)
    spent = spend_in_month(
        scope="use_case" if budget.use_case_id else "lob", scope_id=budget.use_case_id or budget.lob_id, month=month
    )
    try:
        with transaction.atomic():
            BudgetAlert.objects.create(budget=budget, month=month, threshold=threshold)
            notify(
                subject=f"Budget alert: {budget.scope_label} reached {threshold}% of its {month} budget",
                body=(
                    f"{budget.scope_label} has spent {spent:.4f} USD of its {budget.monthly_limit_usd} USD budget "
                    f"for {month} ({threshold}% threshold)."
                ),
                recipients=[a.strip() for a in budget.notify_emails.split(",")],
                webhook_url=budget.webhook_url,
                event={
                    "event": "budget.threshold",
                    "budget": budget.pk,
                    "scope": budget.scope_label,
                    "month": month,
                    "threshold": threshold,
                    "spent_usd": str(spent),
                    "limit_usd": str(budget.monthly_limit_usd),
                },
            )
    except IntegrityError:
        return False
    return True


@transaction.atomic
def budget_set(
    *,
    lob: Any = None,
    use_case: Any = None,
    monthly_limit_usd: Decimal,
    hard_limit: bool = True,
    thresholds: list[int] | None = None,
    notify_emails: str = "",
    webhook_url: str = "",
    actor: Any = None,
) -> Budget:
    """Creates or replaces the monthly budget of one LOB or one use case."""
    scope = {"lob": lob} if lob is not None else {"use_case": use_case}
    if (lob is None) == (use_case is None):
        raise ValidationError("A budget is for one line of business or one use case: name exactly one.")
    previous = Budget.objects.filter(**scope).first()
    before = _budget_state(previous) if previous is not None else None
    budget, _ = Budget.objects.update_or_create(
        **scope,
        defaults={
            "monthly_limit_usd": monthly_limit_usd,
            "hard_limit": hard_limit,
            "thresholds": thresholds if thresholds is not None else [50, 80, 100],
            "notify_emails": notify_emails,
            "webhook_url": webhook_url,
        },
    )
    budget.full_clean()
    owner = lob if lob is not None else use_case.lob
    audit_record(
        actor=audit_actor(actor),
        action="budget.set",
        target=budget,
        lob_slug=owner.slug,
        before=before,
        after=_budget_state(budget),
    )
    transaction.on_commit(limits_invalidate)
    return budget


@transaction.atomic
def rate_limit_set(
    *,
    lob: Any = None,
    use_case: Any = None,
    api_key: Any = None,
    requests_per_minute: int | None = None,
    tokens_per_minute: int | None = None,
    actor: Any = None,
) -> RateLimit:
    """Creates or replaces the per-minute limits of one LOB, use case or key."""
    if sum(owner is not None for owner in (lob, use_case, api_key)) != 1:
        raise ValidationError("A rate limit is for one line of business, one use case or one key: name exactly one.")
    scope = (
        {"lob": lob} if lob is not None else {"use_case": use_case} if use_case is not None else {"api_key": api_key}
    )
    previous = RateLimit.objects.filter(**scope).first()
    before = _rate_limit_state(previous) if previous is not None else None
    limit, _ = RateLimit.objects.update_or_create(
        **scope, defaults={"requests_per_minute": requests_per_minute, "tokens_per_minute": tokens_per_minute}
    )
    owner = lob if lob is not None else use_case.lob if use_case is not None else api_key.use_case.lob
    audit_record(
        actor=audit_actor(actor),
        action="rate_limit.set",
        target=limit,
        lob_slug=owner.slug,
        before=before,
        after=_rate_limit_state(limit),
    )
    transaction.on_commit(limits_invalidate)
    return limit


def _budget_state(budget: Budget) -> dict[str, Any]:
    return {
        "monthly_limit_usd": str(budget.monthly_limit_usd),
        "hard_limit": budget.hard_limit,
        "thresholds": budget.thresholds,
        "notify_emails": budget.notify_emails,
        "webhook_url": budget.webhook_url,
    }


def _rate_limit_state(limit: RateLimit) -> dict[str, Any]:
    return {"requests_per_minute": limit.requests_per_minute, "tokens_per_minute": limit.tokens_per_minute}
