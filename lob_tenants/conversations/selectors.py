"""Reading stored responses: only the use case that made one finds it; anything else is None (a 404)."""

from __future__ import annotations

from django.utils import timezone

from .models import StoredResponse


def stored_response_for(*, use_case_id: int, public_id: str) -> StoredResponse | None:
    """The use case's unexpired stored response with this id. Another use case's (in this LOB or
    another), an expired or a deleted one is None, so callers answer all of them with the same 404."""
    return StoredResponse.objects.filter(
        use_case_id=use_case_id, public_id=public_id, expires_at__gt=timezone.now()
    ).first()
