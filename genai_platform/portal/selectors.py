"""Reads for the portal's own pages: what each person can do next (the home page), and a LOB's use
cases over time (the dashboard). Both only ever look at what the person's roles let them read."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone

from genai_platform.access.models import CENTRAL
from genai_platform.access.portal import lob_ids_for
from genai_platform.access.selectors import user_can
from genai_platform.audit.models import AuditEvent
from genai_platform.metering.models import Budget, UsageRecord
from governance.models import Approval, Intake, Review
from governance.selectors import missing_sign_offs, reviews_waiting_for
from lob_tenants.models import ApiKey, Lob, UseCase
from model_catalog.models import Deployment, Route

#: An approval this close to its expiry is worth a line on the home page.
EXPIRY_NOTICE = dt.timedelta(days=30)


@dataclass(frozen=True)
class NextStep:
    """One line of the home page: what, where to do it in the portal, and the API call for it."""

    text: str
    url: str
    kind: str = "info"  # "action" (yours to do), "waiting" (someone else's), "warning"
    api: str = ""


def _change_url(model: str, pk: Any) -> str:
    return reverse(f"admin:{model}_change", args=[pk])


def next_steps_for(user: Any) -> list[NextStep]:
    """What `user` can do next, most pressing first: reviews waiting for them (board), their LOBs'
    use cases by status (LOB members), deprecated models their use cases call, and for the
    platform team what an empty platform still lacks."""
    if user is None or not user.is_authenticated:
        return []
    steps: list[NextStep] = []
    if user_can(user, CENTRAL, "review", "write"):
        steps.extend(_board_steps(user))
    lob_ids = lob_ids_for(user, "use_case", "read")
    if lob_ids:
        steps.extend(_use_case_steps(user, lob_ids))
    if user_can(user, CENTRAL, "catalog", "write"):
        steps.extend(_platform_steps())
    steps.extend(_deprecation_steps(None if user_can(user, CENTRAL, "catalog", "read") else lob_ids))
    return steps


def _board_steps(user: Any) -> list[NextStep]:
    waiting = list(reviews_waiting_for(user))
    queue = reverse("admin:governance_review_changelist")
    if not waiting:
        return [NextStep("No reviews waiting for you.", queue, "info", api="GET /api/v1/reviews/")]
    overdue = sum(1 for r in waiting if r.sla_due_at < timezone.now())
    text = f"{len(waiting)} review{'s' if len(waiting) != 1 else ''} waiting for you"
    text += f" ({overdue} overdue)" if overdue else ""
    steps = [NextStep(text, queue, "action", api="GET /api/v1/reviews/")]
    for review in waiting[:5]:
        steps.append(
            NextStep(
                f"{review.use_case}: {review.get_risk_tier_display().lower()} risk, "
                f"sign-offs missing: {', '.join(missing_sign_offs(review)) or 'none'}",
                _change_url("governance_review", review.pk),
                "action",
                api=f"POST /api/v1/reviews/{review.pk}/decide/",
            )
        )
    return steps


def _use_case_steps(user: Any, lob_ids: frozenset[int]) -> list[NextStep]:
    S = UseCase.Status
    use_cases = (
        UseCase.objects.filter(lob_id__in=lob_ids)
        .exclude(status=S.RETIRED)
        .select_related("lob")
        .order_by("lob", "name")
    )
    intakes = {i.use_case_id: i for i in Intake.objects.filter(use_case__in=use_cases)}
    approvals = {
        a.use_case_id: a for a in Approval.objects.filter(use_case__in=use_cases, status=Approval.Status.CURRENT)
    }
    open_reviews = {
        r.use_case_id: r
        for r in Review.objects.filter(use_case__in=use_cases, status=Review.Status.OPEN).prefetch_related("decisions")
    }
    with_production_key = set(
        ApiKey.objects.filter(
            use_case__in=use_cases, environment=ApiKey.Environment.PRODUCTION, revoked_at__isnull=True
        ).values_list("use_case_id", flat=True)
    )
    steps: list[NextStep] = []
    now = timezone.now()
    if not use_cases:
        steps.append(NextStep("Register your first use case", reverse("admin:lob_tenants_usecase_add"), "action"))
    for use_case in use_cases:
        url = _change_url("lob_tenants_usecase", use_case.pk)
        api = f"/api/v1/lobs/{use_case.lob.slug}/use-cases/{use_case.slug}/"
        name = str(use_case.slug)
        if use_case.status == S.DRAFT and use_case.pk not in intakes:
            steps.append(
                NextStep(
                    f"{name}: fill the intake",
                    reverse("admin:lob_tenants_usecase_intake", args=[use_case.pk]),
                    "action",
                    api=f"POST {api}intake/",
                )
            )
        elif use_case.status == S.DRAFT:
            tier = intakes[use_case.pk].risk_tier
            steps.append(NextStep(f"{name}: ready to submit ({tier} risk)", url, "action", api=f"POST {api}submit/"))
        elif use_case.status == S.CHANGES_REQUESTED:
            steps.append(NextStep(f"{name}: changes requested", url, "action", api=f"GET {api}governance/"))
        elif use_case.status in (S.SUBMITTED, S.IN_REVIEW):
            review = open_reviews.get(use_case.pk)
            missing = ", ".join(missing_sign_offs(review)) if review else ""
            steps.append(
                NextStep(
                    f"{name}: waiting for the board (sign-offs missing: {missing or 'none'})",
                    url,
                    "waiting",
                    api=f"GET {api}governance/",
                )
            )
        elif use_case.status == S.APPROVED:
            approval = approvals.get(use_case.pk)
            if use_case.pk not in with_production_key:
                steps.append(
                    NextStep(
                        f"{name}: approved, issue a production key",
                        reverse("admin:lob_tenants_apikey_add") + f"?use_case={use_case.pk}&environment=production",
                        "action",
                        api=f"POST {api}keys/issue/",
                    )
                )
            if approval is not None and approval.expires_at - now < EXPIRY_NOTICE:
                from genai_platform.formatting import when

                steps.append(
                    NextStep(
                        f"{name}: approval expires on {when(approval.expires_at)}",
                        url,
                        "warning",
                        api=f"POST {api}submit/",
                    )
                )
        elif use_case.status in (S.REJECTED, S.EXPIRED, S.SUSPENDED):
            steps.append(
                NextStep(
                    f"{name}: {use_case.get_status_display().lower()}", url, "warning", api=f"GET {api}governance/"
                )
            )
    return steps


def _platform_steps() -> list[NextStep]:
    from model_catalog.models import Alias, ProviderAccount

    steps = []
    if not ProviderAccount.objects.exists():
        steps.append(
            NextStep(
                "The catalog is empty: add a provider account",
                reverse("admin:model_catalog_provideraccount_add"),
                "action",
            )
        )
    elif not Alias.objects.exists():
        steps.append(
            NextStep(
                "No model aliases yet: add a deployment and an alias",
                reverse("admin:model_catalog_alias_add"),
                "action",
            )
        )
    if not Lob.objects.exists():
        steps.append(NextStep("No lines of business yet: onboard one", reverse("admin:lob_tenants_lob_add"), "action"))
    return steps


def _deprecation_steps(lob_ids: frozenset[int] | None) -> list[NextStep]:
    """Aliases routed to a deployment that is (or is scheduled to be) deprecated; for a LOB member
    only the aliases their use cases call."""
    deployments = Deployment.objects.filter(
        Q(lifecycle=Deployment.Lifecycle.DEPRECATED) | Q(deprecated_on__isnull=False)
    )
    routes = Route.objects.filter(deployment__in=deployments).select_related("alias", "deployment")
    if lob_ids is not None:
        if not lob_ids:
            return []
        routes = routes.filter(alias__use_cases__lob_id__in=lob_ids).distinct()
    steps = []
    for route in routes.order_by("alias__name", "deployment__name"):
        deployment = route.deployment
        on = f" on {deployment.deprecated_on:%Y-%m-%d}" if deployment.deprecated_on else ""
        retires = f", retires {deployment.retires_on:%Y-%m-%d}" if deployment.retires_on else ""
        steps.append(
            NextStep(
                f"alias {route.alias.name} deprecated{on} (deployment {deployment.name}{retires})",
                _change_url("model_catalog_alias", route.alias_id),
                "warning",
                api="GET /v1/models",
            )
        )
    return steps


# ---- the LOB dashboard ----


@dataclass
class UseCaseSeries:
    """One use case over the window: daily spend, requests, errors, guardrail blocks and masks."""

    use_case: UseCase
    days: list[dt.date]
    spend: list[Decimal] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)
    blocks: list[int] = field(default_factory=list)
    masks: list[int] = field(default_factory=list)
    month_spend: Decimal = Decimal("0")
    monthly_budget: Decimal | None = None

    @property
    def totals(self) -> dict[str, Any]:
        return {
            "spend": sum(self.spend, Decimal("0")),
            "requests": sum(self.requests),
            "errors": sum(self.errors),
            "blocks": sum(self.blocks),
            "masks": sum(self.masks),
        }

    @property
    def budget_used_percent(self) -> float | None:
        if not self.monthly_budget:
            return None
        return float(self.month_spend / self.monthly_budget * 100)


ERROR_STATUSES = (
    UsageRecord.Status.PROVIDER_ERROR,
    UsageRecord.Status.BUDGET_EXCEEDED,
    UsageRecord.Status.RATE_LIMITED,
)


def lobs_on_dashboard(user: Any) -> list[Lob]:
    """The LOBs whose usage `user` reads as a member (the platform team reads usage in chargeback)."""
    return list(Lob.objects.filter(pk__in=lob_ids_for(user, "usage", "read")).order_by("name"))


def dashboard_series(*, lob: Lob, days: int = 30, today: dt.date | None = None) -> list[UseCaseSeries]:
    """Per use case of `lob`, one value per day of the last `days` days (in the active time zone),
    plus this month's spend against the use case's monthly budget."""
    today = today or timezone.localdate()
    first = today - dt.timedelta(days=days - 1)
    day_list = [first + dt.timedelta(days=n) for n in range(days)]
    since = timezone.make_aware(dt.datetime.combine(first, dt.time.min))
    use_cases = list(UseCase.objects.filter(lob=lob).order_by("name"))
    rows = (
        UsageRecord.objects.filter(lob=lob, occurred_at__gte=since)
        .annotate(day=TruncDate("occurred_at", tzinfo=timezone.get_current_timezone()))
        .values("use_case_id", "day")
        .annotate(
            spend=Sum("cost"),
            requests=Count("pk"),
            errors=Count("pk", filter=Q(status__in=ERROR_STATUSES)),
            blocks=Count("pk", filter=Q(status=UsageRecord.Status.GUARDRAIL_BLOCKED)),
        )
    )
    by_key = {(r["use_case_id"], r["day"]): r for r in rows}
    masks = _masks_by_day(lob=lob, since=since)
    month_start = timezone.make_aware(dt.datetime.combine(today.replace(day=1), dt.time.min))
    month_spend = dict(
        UsageRecord.objects.filter(lob=lob, occurred_at__gte=month_start)
        .values_list("use_case_id")
        .annotate(total=Sum("cost"))
        .values_list("use_case_id", "total")
    )
    budgets = dict(Budget.objects.filter(use_case__lob=lob).values_list("use_case_id", "monthly_limit_usd"))
    series = []
    for use_case in use_cases:
        one = UseCaseSeries(use_case=use_case, days=day_list)
        for day in day_list:
            row = by_key.get((use_case.pk, day), {})
            one.spend.append(row.get("spend") or Decimal("0"))
            one.requests.append(row.get("requests", 0))
            one.errors.append(row.get("errors", 0))
            one.blocks.append(row.get("blocks", 0))
            one.masks.append(masks.get((use_case.pk, day), 0))
        one.month_spend = month_spend.get(use_case.pk) or Decimal("0")
        one.monthly_budget = budgets.get(use_case.pk)
        series.append(one)
    return series


def _masks_by_day(*, lob: Lob, since: dt.datetime) -> dict[tuple[int, dt.date], int]:
    """Calls where a guardrail masked something, from each call's audit event (what the guardrails
    did is recorded there, never in the usage ledger), matched to its use case by request id."""
    events = AuditEvent.objects.filter(
        lob_slug=lob.slug, action__startswith="inference.", occurred_at__gte=since
    ).values_list("request_id", "occurred_at", "after")
    masked = {
        request_id: timezone.localdate(occurred_at)
        for request_id, occurred_at, after in events
        if "mask" in ((after or {}).get("guardrails") or {}).get("actions", {}).values()
    }
    if not masked:
        return {}
    counts: dict[tuple[int, dt.date], int] = defaultdict(int)
    for request_id, use_case_id in UsageRecord.objects.filter(request_id__in=list(masked)).values_list(
        "request_id", "use_case_id"
    ):
        counts[(use_case_id, masked[request_id])] += 1
    return dict(counts)
