"""Writing stored responses: kept only as far as the use case's approval lets the platform keep
prompts (its prompt-capture condition), deleted by their owner or when their retention ends."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from genai_platform.audit.services import audit_record
from genai_platform.inference.principal import KeyPrincipal
from governance.capture import FULL, REDACTED, capture_finalize

from .models import StoredResponse

#: Prompt-capture levels under which a conversation may be kept; `none` and `hashed` keep no text.
STORING_LEVELS = frozenset({FULL, REDACTED})
#: The item fields that carry the caller's or the model's words.
_TEXT_FIELDS = ("text", "content", "output", "instructions")


def response_storable(principal: KeyPrincipal) -> bool:
    """Whether the use case's approval lets the platform keep this conversation's text."""
    return principal.prompt_capture in STORING_LEVELS


def stored_response_create(
    *,
    principal: KeyPrincipal,
    request_id: str,
    context: list[dict[str, Any]],
    input_items: list[dict[str, Any]],
    document: dict[str, Any],
) -> StoredResponse | None:
    """Keeps a response as conversation state for `RESPONSES_RETENTION_DAYS`, under the document's
    own id; with `redacted` capture its texts are kept with personal data and secrets masked, as the
    audit trail would keep them. None (nothing kept) when the approval keeps no prompt text.

    Not audited on its own: the call's usage record (same `request_id`) is the record of it."""
    if not response_storable(principal):
        return None
    if principal.prompt_capture == REDACTED:
        context, input_items, document = _redacted(context), _redacted(input_items), _redacted(document)
    return StoredResponse.objects.create(
        public_id=document["id"],
        lob_id=principal.lob_id,
        use_case_id=principal.use_case_id,
        request_id=request_id,
        context=context,
        input_items=input_items,
        document=document,
        expires_at=timezone.now() + dt.timedelta(days=settings.RESPONSES_RETENTION_DAYS),
    )


@transaction.atomic
def stored_response_delete(*, stored: StoredResponse, principal: KeyPrincipal) -> None:
    """Deletes a stored response at its owner's request (an API key of its use case)."""
    audit_record(
        actor=f"api_key:{principal.prefix}",
        action="stored_response.deleted",
        target=stored,
        lob_slug=principal.lob_slug,
        before={"public_id": stored.public_id, "request_id": stored.request_id},
    )
    stored.delete()


@transaction.atomic
def stored_responses_expire(*, now: dt.datetime | None = None) -> int:
    """Deletes every stored response past its retention; one audit event per LOB says how many."""
    now = now or timezone.now()
    expired = StoredResponse.objects.filter(expires_at__lte=now)
    counts: dict[str, int] = {}
    for lob_slug in expired.values_list("lob__slug", flat=True):
        counts[lob_slug] = counts.get(lob_slug, 0) + 1
    deleted, _ = expired.delete()
    for lob_slug, count in sorted(counts.items()):
        audit_record(
            actor="system",
            action="stored_responses.expired",
            object_type="conversations.storedresponse",
            object_id=f"expired-before-{now.isoformat()}",
            lob_slug=lob_slug,
            after={"deleted": count, "retention_days": settings.RESPONSES_RETENTION_DAYS},
        )
    return deleted


def _redacted(value: Any) -> Any:
    """`value` with every text field masked the way `redacted` prompt capture masks it."""
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    if not isinstance(value, dict):
        return value
    redacted = {}
    for key, item in value.items():
        if key in _TEXT_FIELDS and isinstance(item, str) and item:
            item = capture_finalize({"level": REDACTED, "prompt": item, "output": ""})["prompt"]
        redacted[key] = _redacted(item)
    return redacted
