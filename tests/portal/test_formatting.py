"""Values as people read them: money to the cent with sub-cent amounts as "< $0.01", prices per
million tokens exact without trailing zeros, moments in the viewer's time zone to the minute, empty
lists as "none", unset limits as "no limit", JSON documents as `key: value` lists."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
from django.utils import timezone

from genai_platform.formatting import human, key_values, limit, listing, money, price_per_million, when


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (Decimal("0"), "$0.00"),
        (Decimal("0.0008"), "< $0.01"),
        (Decimal("0.004999"), "< $0.01"),
        (Decimal("0.005"), "$0.01"),
        (Decimal("1234.5678"), "$1,234.57"),
        ("50.00", "$50.00"),
        (None, "none"),
    ],
)
def test_money_is_shown_to_the_cent_and_never_as_a_misleading_zero(amount, shown):
    assert money(amount) == shown


def test_moments_are_shown_in_the_viewers_time_zone_to_the_minute():
    moment = dt.datetime(2026, 12, 4, 13, 58, 9, 543754, tzinfo=dt.UTC)
    with timezone.override(zoneinfo.ZoneInfo("Europe/Paris")):
        assert when(moment) == "2026-12-04 14:58 CET"
        assert human("2026-12-04T13:58:09.543754+00:00") == "2026-12-04 14:58 CET"


@pytest.mark.parametrize(("value", "shown"), [([], "none"), (None, "none"), (["EU", "US"], "EU, US"), (True, "yes")])
def test_empty_and_raw_values_read_as_words(value, shown):
    assert human(value) == shown
    if isinstance(value, list):
        assert listing(value) == shown


@pytest.mark.parametrize(
    ("price", "shown"),
    [
        (Decimal("0.150000"), "$0.15 per 1M tokens"),
        (Decimal("2.500000"), "$2.50 per 1M tokens"),
        (Decimal("10.000000"), "$10.00 per 1M tokens"),
        (Decimal("0.075000"), "$0.075 per 1M tokens"),
        (Decimal("1500.000000"), "$1,500.00 per 1M tokens"),
        (Decimal("0.000001"), "$0.000001 per 1M tokens"),  # a price is exact: never rounded to the cent
        (None, "none"),
    ],
)
def test_prices_per_million_tokens_are_exact_without_the_columns_trailing_zeros(price, shown):
    assert price_per_million(price) == shown


@pytest.mark.parametrize(("value", "shown"), [(None, "no limit"), (60, "60"), (0, "0")])
def test_an_unset_limit_reads_as_no_limit(value, shown):
    assert limit(value) == shown


def test_a_json_document_reads_as_a_key_value_list_with_its_values_escaped():
    document = {"role": {"before": None, "after": "lob_admin"}, "rules": [{"check": "secrets"}], "tags": []}

    shown = key_values(document)

    assert shown == (
        '<ul class="key-values"><li>role: <ul class="key-values"><li>before: none</li><li>after: lob_admin</li></ul>'
        '</li><li>rules: <ol class="key-values"><li><ul class="key-values"><li>check: secrets</li></ul></li></ol>'
        "</li><li>tags: none</li></ul>"
    )
    assert key_values({"note": "<b>"}) == '<ul class="key-values"><li>note: &lt;b&gt;</li></ul>'
    assert key_values(None) == "none"
    assert key_values({}) == "none"
