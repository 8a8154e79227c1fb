"""Metering writes: usage into the ledger, admission and settlement of limits, budget alerts."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from genai_platform.notifications import notify
from governance.capture import capture_finalize
from governance.models import CENTRAL_CHAIN, CapturedExchange
from governance.services import audit_chains_lock, audit_record

from .ledger import RedisStreamBuffer, usage_buffer
from .limits import Admission, BudgetScope, LimitPolicy, Settlement, limit_store, to_nanos
from .models import Budget, BudgetAlert, RateLimit, UsageRecord
from .selectors import limits_invalidate, spend_in_month

logger = logging.getLogger(__name__)

_MILLION = Decimal(1_000_000)


def usage_cost(
    *, input_tokens: int, output_tokens: int, input_price_per_million: Decimal, output_price_per_million: Decimal
) -> Decimal:
    return (input_tokens * input_price_per_million + output_tokens * output_price_per_million) / _MILLION


def usage_record(event: dict[str, Any]) -> None:
    """Puts one usage event in the durable buffer (never a database write on the request path)."""
    usage_buffer().append(event)


def usage_records_write(events: list[dict[str, Any]]) -> int:
    """Inserts events into the ledger, each with its inference audit event and, when the approval asks
    for it, the captured exchange. A request id already recorded is skipped, so replays are harmless.

    The audit chains of the LOBs in the batch are locked first, which also serializes two flushers
    that got the same entries, so neither the ledger nor the audit log ever holds a call twice."""
    with transaction.atomic():
        audit_chains_lock(sorted({e.get("lob_slug") or CENTRAL_CHAIN for e in events}))
        recorded = set(
            UsageRecord.objects.filter(request_id__in=[e["request_id"] for e in events]).values_list(
                "request_id", flat=True
            )
        )
        fresh = list({e["request_id"]: e for e in events if e["request_id"] not in recorded}.values())
        UsageRecord.objects.bulk_create(_usage_records(fresh), batch_size=500)
        for event in fresh:
            _record_inference(event)
    return len(fresh)


def _record_inference(event: dict[str, Any]) -> None:
    capture = capture_finalize(event["capture"]) if event.get("capture") else None
    if capture is not None and capture["level"] != "hashed":
        CapturedExchange.objects.create(
            request_id=event["request_id"],
            lob_id=event["lob_id"],
            use_case_id=event["use_case_id"],
            level=capture["level"],
            prompt=capture["prompt"],
            output=capture["output"],
            captured_at=dt.datetime.fromisoformat(event["occurred_at"]),
        )
    audit_record(
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
            "capture": {k: v for k, v in (capture or {"level": "none"}).items() if k not in ("prompt", "output")},
            "guardrails": event.get("guardrails") or {},
        },
    )


def _usage_records(events: list[dict[str, Any]]) -> list[UsageRecord]:
    return [
        UsageRecord(
            request_id=e["request_id"],
            occurred_at=dt.datetime.fromisoformat(e["occurred_at"]),
            lob_id=e["lob_id"],
            use_case_id=e["use_case_id"],
            api_key_id=e["api_key_id"],
            end_user=e.get("end_user") or "",
            endpoint=e["endpoint"],
            alias=e["alias"],
            deployment=e.get("deployment") or "",
            provider=e.get("provider") or "",
            input_tokens=e.get("input_tokens", 0),
            output_tokens=e.get("output_tokens", 0),
            tokens_estimated=e.get("tokens_estimated", False),
            input_price_per_million=Decimal(e.get("input_price_per_million", "0")),
            output_price_per_million=Decimal(e.get("output_price_per_million", "0")),
            cost=Decimal(e.get("cost", "0")),
            latency_ms=e.get("latency_ms", 0.0),
            attempts=e.get("attempts", 0),
            stream=e.get("stream", False),
            status=e["status"],
            error_code=e.get("error_code") or "",
        )
        for e in events
    ]


def usage_flush(
    *, consumer: str, batch_size: int = 500, max_batches: int = 20, claim_idle_ms: int | None = None
) -> int:
    """Moves buffered usage into the ledger: read a batch, commit it, then acknowledge it.

    Entries another flusher left unacknowledged for `claim_idle_ms` (default METERING_CLAIM_IDLE_MS)
    are taken over: that flusher died between reading and acknowledging."""
    if claim_idle_ms is None:
        claim_idle_ms = settings.METERING_CLAIM_IDLE_MS
    buffer = usage_buffer()
    if not isinstance(buffer, RedisStreamBuffer):
        return 0
    moved = 0
    for _ in range(max_batches):
        batch = buffer.read_batch(consumer=consumer, count=batch_size, claim_idle_ms=claim_idle_ms)
        if not batch:
            break
        usage_records_write([event for _, event in batch])
        buffer.acknowledge([entry_id for entry_id, _ in batch])
        moved += len(batch)
    return moved


def _rebuild_budget_counter(budget: BudgetScope, month: str) -> int:
    return to_nanos(spend_in_month(scope=budget.name, scope_id=budget.id, month=month))


def limits_admit(policy: LimitPolicy, *, tokens: int, reserve: Decimal) -> Admission:
    """Counts the request against every rate limit and reserves `reserve` USD on every budget, or raises
    `LimitExceeded` without counting anything."""
    return limit_store().admit(policy, tokens=tokens, reserve_nanos=to_nanos(reserve), rebuild=_rebuild_budget_counter)


def limits_settle(policy: LimitPolicy, admission: Admission, *, actual_tokens: int, actual_cost: Decimal) -> None:
    settlement: Settlement = limit_store().settle(
        policy, admission, actual_tokens=actual_tokens, actual_nanos=to_nanos(actual_cost)
    )
    if settlement.crossed:
        from .tasks import budget_alert_send

        for budget_id, thresholds in settlement.crossed.items():
            for threshold in thresholds:
                budget_alert_send.delay(budget_id, admission.month, threshold)


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
    from governance.services import audit_actor, audit_record

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
    from governance.services import audit_actor, audit_record

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
