"""Values as people read them: money to the cent (less than a cent as "< $0.01"), dates in the
viewer's time zone to the minute, empty lists as "none". One module, used by templates (through
`templatetags.portal_format`), admin columns and the spend page, so the same amount never reads
"$0.00" in one place and "$0.0008" in another."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.utils import timezone

CENT = Decimal("0.01")
NONE = "none"


def money(value: Any, currency: str = "$") -> str:
    """`$1,234.57`; a positive amount under half a cent is `< $0.01` (never a misleading `$0.00`)."""
    if value is None or value == "":
        return NONE
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if amount == 0:
        return f"{currency}0.00"
    if Decimal("0") < abs(amount) < Decimal("0.005"):
        return f"{'-' if amount < 0 else ''}< {currency}0.01"
    rounded = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    sign = "-" if rounded < 0 else ""
    return f"{sign}{currency}{abs(rounded):,.2f}"


def when(value: Any) -> str:
    """A moment in the active (the viewer's) time zone, to the minute: `2026-12-04 14:58 CET`."""
    if value is None or value == "":
        return NONE
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        if timezone.is_naive(value):
            value = timezone.make_aware(value, dt.UTC)
        local = timezone.localtime(value)
        return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"
    if isinstance(value, dt.date):
        return f"{value:%Y-%m-%d}"
    return str(value)


def listing(value: Any) -> str:
    """A list as `a, b, c`; empty (or nothing) as `none`."""
    if value is None or value == "":
        return NONE
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [human(item) for item in value]
        return ", ".join(items) if items else NONE
    return human(value)


def human(value: Any) -> str:
    """Any value a page shows: no raw `None`, `[]`, `True` or ISO timestamp ever reaches a person."""
    if value is None or value == "":
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dt.datetime, dt.date)):
        return when(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return listing(value)
    if isinstance(value, dict):
        return "; ".join(f"{k.replace('_', ' ')}: {human(v)}" for k, v in value.items()) if value else NONE
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        return when(value)
    return str(value)
