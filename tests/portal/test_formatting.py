"""Values as people read them: money to the cent with sub-cent amounts as "< $0.01", moments in the
viewer's time zone to the minute, empty lists as "none"."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
from django.utils import timezone

from genai_platform.formatting import human, listing, money, when


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
