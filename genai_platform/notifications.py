"""Outbound notifications: email through Django's backend, and JSON webhooks signed with HMAC-SHA256."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.request
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.mail import send_mail

SIGNATURE_HEADER = "X-GenAI-Signature"


def webhook_signature(body: bytes) -> str:
    return "sha256=" + hmac.new(settings.WEBHOOK_SIGNING_SECRET.encode(), body, hashlib.sha256).hexdigest()


def webhook_post_signed(url: str, payload: dict[str, Any]) -> None:
    """POSTs JSON with `X-GenAI-Signature: sha256=<HMAC of the body>` so the receiver can trust it."""
    body = json.dumps(payload, sort_keys=True, default=str).encode()
    request = urllib.request.Request(  # noqa: S310 - an operator-configured http(s) endpoint
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: webhook_signature(body)},
    )
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310
        pass


def notify(*, subject: str, body: str, recipients: Iterable[str], webhook_url: str = "", event: dict[str, Any]) -> None:
    """Emails `recipients` (if any) and posts `event` to `webhook_url` (if set)."""
    addresses = sorted({r for r in recipients if r})
    if addresses:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, addresses)
    if webhook_url:
        webhook_post_signed(webhook_url, event)
