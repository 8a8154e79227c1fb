"""Chargeback and spend reports: the ledger grouped exactly, days and months in the metering time
zone, the month-end forecast, the chargeback API (JSON and CSV) and the admin's Spend page."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

import factory
import pytest
from django.contrib.auth.models import Permission
from django.test import TestCase

from genai_platform.access.services import central_role_grant, membership_set
from genai_platform.metering.models import UsageRecord
from genai_platform.metering.reports import month_end_forecast, spend_breakdown, spend_over_time
from genai_platform.metering.rollups import usage_rollups_add_records
from lob_tenants.models import Lob
from tests.factories import LobFactory, UseCaseFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/metering/chargeback"
UTC = dt.UTC


class UsageRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UsageRecord

    request_id = factory.Sequence(lambda n: f"req-{n}")
    occurred_at = dt.datetime(2025, 3, 10, 12, tzinfo=UTC)
    use_case = factory.SubFactory(UseCaseFactory)
    lob = factory.SelfAttribute("use_case.lob")
    endpoint = "chat"
    alias = "chat-default"
    deployment = "sandbox-small"
    provider = "sandbox"
    input_tokens = 100
    output_tokens = 50
    cost = Decimal("0.0001")
    status = UsageRecord.Status.SUCCESS

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        """Like the flusher: the record and its day's rollup together."""
        record = super()._create(model_class, *args, **kwargs)
        usage_rollups_add_records([record])
        return record


def usage(at: dt.datetime, cost: str, **fields) -> UsageRecord:
    return UsageRecordFactory(occurred_at=at, cost=Decimal(cost), **fields)


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)


@pytest.fixture
def retail():
    return LobFactory(slug="retail", name="Retail banking", cost_center="CC-100")


@pytest.fixture
def chatbot(retail):
    return UseCaseFactory(lob=retail, slug="chatbot", name="Branch chatbot")


@pytest.fixture
def summaries(retail):
    return UseCaseFactory(lob=retail, slug="summaries", name="Call summaries")


@pytest.fixture
def fraud():
    return UseCaseFactory(lob=LobFactory(slug="markets", name="Markets"), slug="fraud", name="Fraud triage")


@pytest.fixture
def march(chatbot, summaries, fraud):
    """Three use cases over two LOBs in March 2025 (UTC), plus a call in April that no March report counts."""
    usage(utc(2025, 3, 1, 9), "0.1000000001", use_case=chatbot, input_tokens=10, output_tokens=20)
    usage(utc(2025, 3, 1, 10), "0.2000000002", use_case=chatbot, input_tokens=30, output_tokens=40)
    usage(utc(2025, 3, 2, 11), "1.5", use_case=summaries, alias="summarize", provider="bedrock")
    usage(utc(2025, 3, 2, 12), "0", use_case=summaries, status=UsageRecord.Status.PROVIDER_ERROR)
    usage(utc(2025, 3, 31, 23), "2.25", use_case=fraud, provider="vertex", deployment="gemini")
    usage(utc(2025, 4, 1, 0), "100", use_case=fraud)


def committed(service, **kwargs):
    """Role changes reload the policy after commit: run the commit hooks as a real commit would."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return service(**kwargs)


@pytest.fixture
def staff_client(client):
    """A member of the central platform team: platform admins read every LOB's spend."""
    user = UserFactory(username="central")
    committed(central_role_grant, user=user, role="platform_admin")
    client.force_login(user)
    return client


def member_client(client, lob, role):
    user = UserFactory()
    committed(membership_set, lob=lob, user=user, role=role)
    client.force_login(user)
    return client


@pytest.fixture
def plain_static_files(settings):
    """The admin pages link static files; tests do not run collectstatic to build the manifest."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def superuser_client(client, plain_static_files):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


# ---- selectors ----


def test_a_breakdown_by_lob_and_use_case_sums_requests_tokens_and_exact_costs(march):
    rows = spend_breakdown(
        lobs=None, start=dt.date(2025, 3, 1), end=dt.date(2025, 3, 31), group_by=["lob", "use_case"], period="month"
    )

    assert [
        (r["lob"], r["use_case"], r["requests"], r["input_tokens"], r["output_tokens"], r["cost"]) for r in rows
    ] == [
        ("markets", "markets/fraud", 1, 100, 50, Decimal("2.25")),
        ("retail", "retail/chatbot", 2, 40, 60, Decimal("0.3000000003")),
        ("retail", "retail/summaries", 2, 200, 100, Decimal("1.5")),
    ]
    assert {r["period"] for r in rows} == {dt.date(2025, 3, 1)}
    assert rows[1]["lob_name"] == "Retail banking" and rows[1]["cost_center"] == "CC-100"
    assert rows[1]["use_case_name"] == "Branch chatbot"


def test_a_breakdown_by_day_and_provider_has_one_row_per_day_and_provider(march):
    rows = spend_breakdown(
        lobs=None, start=dt.date(2025, 3, 1), end=dt.date(2025, 3, 31), group_by=["provider"], period="day"
    )

    assert [(r["period"], r["provider"], r["requests"], r["cost"]) for r in rows] == [
        (dt.date(2025, 3, 1), "sandbox", 2, Decimal("0.3000000003")),
        (dt.date(2025, 3, 2), "bedrock", 1, Decimal("1.5")),
        (dt.date(2025, 3, 2), "sandbox", 1, Decimal("0")),
        (dt.date(2025, 3, 31), "vertex", 1, Decimal("2.25")),
    ]


def test_a_breakdown_only_counts_the_lobs_it_is_given(march, retail):
    rows = spend_breakdown(
        lobs=Lob.objects.filter(pk=retail.pk),
        start=dt.date(2025, 3, 1),
        end=dt.date(2025, 3, 31),
        group_by=["lob"],
        period="month",
    )

    assert [(r["lob"], r["requests"], r["cost"]) for r in rows] == [("retail", 4, Decimal("1.8000000003"))]


def test_the_end_date_is_inclusive_and_the_day_after_is_not(march):
    rows = spend_breakdown(lobs=None, start=dt.date(2025, 3, 31), end=dt.date(2025, 3, 31), group_by=[], period="day")

    assert [(r["period"], r["cost"]) for r in rows] == [(dt.date(2025, 3, 31), Decimal("2.25"))]


def test_days_are_cut_at_midnight_in_the_metering_time_zone(settings, chatbot):
    settings.METERING_TIMEZONE = "America/New_York"
    usage(utc(2025, 3, 1, 3), "1", use_case=chatbot)  # 22:00 on 28 February in New York
    usage(utc(2025, 3, 1, 5), "2", use_case=chatbot)  # 00:00 on 1 March in New York

    rows = spend_breakdown(lobs=None, start=dt.date(2025, 2, 28), end=dt.date(2025, 3, 1), group_by=[], period="day")

    assert [(r["period"], r["cost"]) for r in rows] == [
        (dt.date(2025, 2, 28), Decimal("1")),
        (dt.date(2025, 3, 1), Decimal("2")),
    ]


def test_months_are_cut_in_the_metering_time_zone(settings, chatbot):
    settings.METERING_TIMEZONE = "Asia/Tokyo"
    usage(utc(2025, 3, 31, 16), "4", use_case=chatbot)  # 1 April 01:00 in Tokyo
    usage(utc(2025, 3, 31, 14), "3", use_case=chatbot)  # 31 March 23:00 in Tokyo

    rows = spend_breakdown(lobs=None, start=dt.date(2025, 3, 1), end=dt.date(2025, 4, 30), group_by=[], period="month")

    assert [(r["period"], r["cost"]) for r in rows] == [
        (dt.date(2025, 3, 1), Decimal("3")),
        (dt.date(2025, 4, 1), Decimal("4")),
    ]


def test_a_range_starts_at_local_midnight_in_the_metering_time_zone(settings, chatbot):
    settings.METERING_TIMEZONE = "Asia/Tokyo"
    usage(dt.datetime(2025, 3, 1, 0, 30, tzinfo=ZoneInfo("Asia/Tokyo")), "1", use_case=chatbot)
    usage(dt.datetime(2025, 2, 28, 23, 30, tzinfo=ZoneInfo("Asia/Tokyo")), "5", use_case=chatbot)

    rows = spend_breakdown(lobs=None, start=dt.date(2025, 3, 1), end=dt.date(2025, 3, 1), group_by=[], period="day")

    assert [r["cost"] for r in rows] == [Decimal("1")]


def test_spend_over_time_has_every_day_of_the_range_with_zeros_between(march):
    points = spend_over_time(lobs=None, start=dt.date(2025, 3, 1), end=dt.date(2025, 3, 4), period="day")

    assert [(p["period"].day, p["requests"], p["cost"]) for p in points] == [
        (1, 2, Decimal("0.3000000003")),
        (2, 2, Decimal("1.5")),
        (3, 0, Decimal("0")),
        (4, 0, Decimal("0")),
    ]


def test_spend_over_time_by_month_has_every_month_of_the_range(march):
    points = spend_over_time(lobs=None, start=dt.date(2025, 2, 15), end=dt.date(2025, 4, 2), period="month")

    assert [(p["period"], p["cost"]) for p in points] == [
        (dt.date(2025, 2, 1), Decimal("0")),
        (dt.date(2025, 3, 1), Decimal("4.0500000003")),
        (dt.date(2025, 4, 1), Decimal("100")),
    ]


# ---- forecast ----


def test_the_forecast_adds_the_last_seven_days_run_rate_for_each_remaining_day(chatbot):
    usage(utc(2025, 4, 1, 12), "10", use_case=chatbot)  # before the 7-day window: counted as spent only
    for day in range(4, 11):
        usage(utc(2025, 4, day, 12), "2", use_case=chatbot)  # 14 USD over 4..10 April: 2 USD a day
    usage(utc(2025, 3, 31, 12), "1000", use_case=chatbot)  # last month
    usage(utc(2025, 4, 11, 12), "1000", use_case=chatbot)  # after "today"

    # 24 spent + 2/day * 20 days left in April
    assert month_end_forecast(lobs=None, today=dt.date(2025, 4, 10)) == Decimal("64.00")


def test_early_in_the_month_the_run_rate_is_over_the_days_elapsed(chatbot):
    usage(utc(2025, 4, 1, 12), "3", use_case=chatbot)
    usage(utc(2025, 4, 3, 12), "0.3", use_case=chatbot)
    usage(utc(2025, 3, 30, 12), "70", use_case=chatbot)  # the window never reaches into March

    # 3.30 spent + 3.30/3 per day * 27 days left
    assert month_end_forecast(lobs=None, today=dt.date(2025, 4, 3)) == Decimal("33.00")


def test_the_forecast_is_rounded_to_the_cent_once_at_the_end(chatbot):
    usage(utc(2025, 4, 10, 12), "1", use_case=chatbot)

    # 1 + 1/7 * 20 = 3.857142…
    assert month_end_forecast(lobs=None, today=dt.date(2025, 4, 10)) == Decimal("3.86")


def test_on_the_last_day_the_forecast_is_what_was_spent(chatbot):
    usage(utc(2025, 4, 30, 12), "5.555", use_case=chatbot)

    assert month_end_forecast(lobs=None, today=dt.date(2025, 4, 30)) == Decimal("5.56")


def test_the_forecast_only_counts_the_lobs_it_is_given(chatbot, fraud):
    usage(utc(2025, 4, 30, 1), "5", use_case=chatbot)
    usage(utc(2025, 4, 30, 2), "7", use_case=fraud)

    assert month_end_forecast(lobs=Lob.objects.filter(pk=fraud.lob_id), today=dt.date(2025, 4, 30)) == Decimal("7.00")


# ---- API ----


def test_the_chargeback_api_returns_rows_with_exact_decimal_strings(staff_client, march):
    response = staff_client.get(URL, {"start": "2025-03-01", "end": "2025-03-31", "group_by": "lob,use_case"})

    assert response.status_code == 200
    body = response.json()
    assert {key: body[key] for key in ("start", "end", "period", "group_by", "currency", "total_cost")} == {
        "start": "2025-03-01",
        "end": "2025-03-31",
        "period": "month",
        "group_by": ["lob", "use_case"],
        "currency": "USD",
        "total_cost": "4.0500000003",
    }
    assert body["rows"][1] == {
        "period": "2025-03-01",
        "lob": "retail",
        "lob_name": "Retail banking",
        "cost_center": "CC-100",
        "use_case": "retail/chatbot",
        "use_case_name": "Branch chatbot",
        "requests": 2,
        "input_tokens": 40,
        "output_tokens": 60,
        "cost": "0.3000000003",
    }


def test_the_chargeback_api_can_be_narrowed_to_one_lob_by_day(staff_client, march):
    response = staff_client.get(
        URL, {"start": "2025-03-01", "end": "2025-03-31", "group_by": "use_case", "period": "day", "lob": "retail"}
    )

    body = response.json()
    assert body["lob"] == "retail"
    assert [(r["period"], r["use_case"], r["cost"]) for r in body["rows"]] == [
        ("2025-03-01", "retail/chatbot", "0.3000000003"),
        ("2025-03-02", "retail/summaries", "1.5000000000"),
    ]
    assert body["total_cost"] == "1.8000000003"


@pytest.mark.parametrize(("extra_query", "headers"), [({"format": "csv"}, {}), ({}, {"HTTP_ACCEPT": "text/csv"})])
def test_the_chargeback_api_answers_csv_as_an_attachment(staff_client, march, extra_query, headers):
    query = {"start": "2025-03-01", "end": "2025-03-31", "group_by": "lob,provider", **extra_query}

    response = staff_client.get(URL, query, **headers)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="chargeback_2025-03-01_2025-03-31_month.csv"'
    assert list(csv.reader(io.StringIO(response.content.decode()))) == [
        ["period", "lob", "lob_name", "cost_center", "provider", "requests", "input_tokens", "output_tokens", "cost"],
        ["2025-03-01", "markets", "Markets", "", "vertex", "1", "100", "50", "2.2500000000"],
        ["2025-03-01", "retail", "Retail banking", "CC-100", "bedrock", "1", "100", "50", "1.5000000000"],
        ["2025-03-01", "retail", "Retail banking", "CC-100", "sandbox", "3", "140", "110", "0.3000000003"],
    ]


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_quoted(staff_client):
    UsageRecordFactory(use_case=UseCaseFactory(lob=LobFactory(slug="evil", name="=HYPERLINK(1)")))

    response = staff_client.get(URL, {"start": "2025-03-01", "end": "2025-03-31", "format": "csv"})

    assert list(csv.reader(io.StringIO(response.content.decode())))[1][2] == "'=HYPERLINK(1)"


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"start": "2025-03-01"}, "end", "required"),
        ({"start": "01/03/2025", "end": "2025-03-31"}, "start", "YYYY-MM-DD"),
        ({"start": "2025-02-30", "end": "2025-03-31"}, "start", "YYYY-MM-DD"),
        ({"start": "2025-03-31", "end": "2025-03-01"}, "end", "on or after start"),
        ({"start": "2024-01-01", "end": "2025-01-01"}, "end", "at most 366"),
        ({"start": "2025-03-01", "end": "2025-03-31", "group_by": "lob,team"}, "group_by", "Unknown group_by team"),
        ({"start": "2025-03-01", "end": "2025-03-31", "period": "week"}, "period", 'Unknown period "week"'),
        ({"start": "2025-03-01", "end": "2025-03-31", "lob": "nobody"}, "lob", 'slug "nobody"'),
        ({"start": "2025-03-01", "end": "2025-03-31", "format": "xml"}, "format", 'Unknown format "xml"'),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(staff_client, query, field, message):
    response = staff_client.get(URL, query)

    assert response.status_code == 400
    assert message in " ".join(response.json()[field])


def test_a_bad_parameter_is_answered_in_json_even_when_csv_was_asked_for(staff_client):
    response = staff_client.get(URL, {"start": "2025-03-31", "end": "2025-03-01", "format": "csv"})

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "end" in response.json()


def test_options_on_the_csv_report_describes_the_endpoint_in_json(staff_client):
    # Issue 16: the CSV renderer was handed OPTIONS' description and failed with KeyError 'group_by'.
    response = staff_client.options(f"{URL}?format=csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json()["name"]


def test_a_full_leap_year_is_allowed(staff_client):
    assert staff_client.get(URL, {"start": "2024-01-01", "end": "2024-12-31"}).status_code == 200


def test_a_user_with_no_role_is_refused(client, march):
    client.force_login(UserFactory(username="lob-analyst"))

    response = client.get(URL, {"start": "2025-03-01", "end": "2025-03-31"})

    assert response.status_code == 403
    assert "no line of business" in response.json()["detail"]


def test_being_staff_is_not_a_role(client, march):
    client.force_login(UserFactory(username="staff-only", is_staff=True))

    assert client.get(URL, {"start": "2025-03-01", "end": "2025-03-31"}).status_code == 403


def test_a_governance_reviewer_reads_no_spend(client, march):
    user = UserFactory(username="reviewer")
    committed(central_role_grant, user=user, role="governance_reviewer", specialty="risk")
    client.force_login(user)

    assert client.get(URL, {"start": "2025-03-01", "end": "2025-03-31"}).status_code == 403


@pytest.mark.parametrize("role", ["lob_admin", "lob_developer", "lob_viewer"])
def test_a_lob_member_reads_only_their_own_lobs_spend(client, march, retail, role):
    response = member_client(client, retail, role).get(
        URL, {"start": "2025-03-01", "end": "2025-03-31", "group_by": "lob,use_case"}
    )

    assert response.status_code == 200
    body = response.json()
    assert {row["lob"] for row in body["rows"]} == {"retail"}
    assert body["total_cost"] == "1.8000000003"
    assert "markets" not in response.content.decode().lower()


def test_another_lobs_spend_looks_like_an_unknown_lob(client, march, retail):
    member_client(client, retail, "lob_viewer")

    foreign = client.get(URL, {"start": "2025-03-01", "end": "2025-03-31", "lob": "markets"})
    unknown = client.get(URL, {"start": "2025-03-01", "end": "2025-03-31", "lob": "nowhere"})

    assert foreign.status_code == unknown.status_code == 400
    assert foreign.json()["lob"] == ['No line of business with slug "markets".']
    assert unknown.json()["lob"] == ['No line of business with slug "nowhere".']


def test_a_member_of_several_lobs_reads_each_of_them(client, march, retail):
    user = UserFactory()
    committed(membership_set, lob=retail, user=user, role="lob_viewer")
    committed(membership_set, lob=Lob.objects.get(slug="markets"), user=user, role="lob_developer")
    client.force_login(user)

    body = client.get(URL, {"start": "2025-03-01", "end": "2025-03-31"}).json()

    assert [row["lob"] for row in body["rows"]] == ["markets", "retail"]


def test_an_anonymous_caller_is_refused(client, march):
    response = client.get(URL, {"start": "2025-03-01", "end": "2025-03-31", "format": "csv"})

    assert response.status_code in (401, 403)
    assert "rows" not in response.json()


# ---- admin ----

SPEND = "/admin/metering/usagerecord/spend/"


def test_the_spend_page_draws_an_svg_chart_a_table_a_forecast_and_csv_links(superuser_client, march):
    response = superuser_client.get(SPEND, {"month": "2025-03"})

    assert response.status_code == 200
    page = response.content.decode()
    assert "<svg" in page and page.count('<rect class="bar"') == 31
    assert "<script" not in page.split('id="content-main"')[1]
    assert "Branch chatbot" in page and "Fraud triage" in page
    assert response.context["total"] == Decimal("4.0500000003")
    assert response.context["forecast"].forecast == response.context["total"]  # a past month: what it cost
    assert "/api/v1/metering/chargeback?start=2025-03-01&amp;end=2025-03-31" in page
    assert "format=csv" in page


def test_the_spend_page_can_show_one_lob(superuser_client, march):
    response = superuser_client.get(SPEND, {"month": "2025-03", "lob": "markets"})

    assert response.status_code == 200
    assert [row["use_case"] for row in response.context["by_use_case"]] == ["markets/fraud"]
    assert "lob=markets" in response.content.decode()


def test_the_spend_page_falls_back_to_this_month_when_the_month_is_malformed(superuser_client):
    response = superuser_client.get(SPEND, {"month": "March"})

    assert response.status_code == 200
    assert "Enter a month as YYYY-MM." in response.content.decode()


def test_the_spend_page_needs_a_role_that_reads_usage(client, plain_static_files):
    user = UserFactory(username="staff-without-metering", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_usagerecord"))
    client.force_login(user)
    assert client.get(SPEND).status_code == 403  # Django model permissions open nothing in the portal

    committed(central_role_grant, user=user, role="platform_admin")
    assert client.get(SPEND).status_code == 200


def test_the_usage_list_links_to_the_spend_page(superuser_client, march):
    response = superuser_client.get("/admin/metering/usagerecord/")

    assert response.status_code == 200
    assert SPEND in response.content.decode()


def test_the_usage_ledger_is_read_only_in_the_admin(superuser_client, march):
    record = UsageRecord.objects.earliest("occurred_at")
    change_url = f"/admin/metering/usagerecord/{record.pk}/change/"

    listing = superuser_client.get("/admin/metering/usagerecord/").content.decode()
    assert "/admin/metering/usagerecord/add/" not in listing
    assert 'name="action"' not in listing  # no bulk delete
    assert superuser_client.get("/admin/metering/usagerecord/add/").status_code == 403
    assert superuser_client.get(change_url).status_code == 200  # viewable ...
    assert superuser_client.post(change_url, {"cost": "0"}).status_code == 403  # ... never changed
    assert superuser_client.post(f"/admin/metering/usagerecord/{record.pk}/delete/").status_code == 403
    record.refresh_from_db()
    assert record.cost == Decimal("0.1000000001")
