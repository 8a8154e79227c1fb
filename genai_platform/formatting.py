"""Values as people read them: money to the cent (less than a cent as "< $0.01"), prices per million
tokens exact without trailing zeros, dates in the viewer's time zone to the minute, empty lists as
"none", unset limits as "no limit", JSON objects as `key: value` lists. One module, used by templates
(through `templatetags.portal_format`), admin columns (`human_column`) and the spend page, so the
same amount never reads "$0.00" in one place and "$0.0008" in another."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.utils import timezone
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import SafeString

CENT = Decimal("0.01")
NONE = "none"
NO_LIMIT = "no limit"


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


def price_per_million(value: Any, currency: str = "$") -> str:
    """`$0.15 per 1M tokens`: as many decimals as the price has (a price is exact, not rounded to the
    cent), at least two, without the stored column's trailing zeros."""
    if value is None or value == "":
        return NONE
    try:
        amount = Decimal(str(value)).normalize()
    except (InvalidOperation, ValueError):
        return str(value)
    if amount.as_tuple().exponent > -2:
        amount = amount.quantize(CENT)
    return f"{currency}{amount:,f} per 1M tokens"


def limit(value: Any) -> str:
    """A limit, `no limit` when unset (`None`): an empty limit means unlimited, never zero."""
    return NO_LIMIT if value is None or value == "" else human(value)


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


def key_values(value: Any) -> SafeString:
    """A JSON document (an audit event's before/after, a policy's rules) as a list of `key: value`
    lines, nested objects and lists of objects as nested lists; plain values as `human` shows them."""
    if isinstance(value, dict) and value:
        lines = ((str(key).replace("_", " "), key_values(item)) for key, item in value.items())
        return format_html('<ul class="key-values">{}</ul>', format_html_join("", "<li>{}: {}</li>", lines))
    if isinstance(value, (list, tuple)) and any(isinstance(item, (dict, list, tuple)) for item in value):
        return format_html(
            '<ol class="key-values">{}</ol>',
            format_html_join("", "<li>{}</li>", ((key_values(item),) for item in value)),
        )
    return conditional_escape(human(value))


def human_column(field: str, formatter: Callable[[Any], str] = human, description: str = "") -> Any:
    """An admin column or read-only field showing `field` as people read it, never as a raw value
    (`None`, `[]`, a JSON dump, eight decimals). Add its name to `list_display` or `readonly_fields`."""

    def shown(model_admin: Any, obj: Any) -> str:
        return formatter(getattr(obj, field))

    # What `django.contrib.admin.display` sets, without importing the admin into this module.
    shown.short_description = description or field.replace("_", " ")  # type: ignore[attr-defined]
    shown.admin_order_field = field  # type: ignore[attr-defined]
    return shown
