"""A review decision's evidence file as an HTTP download, shared by the board's API, the LOB's API and
the portal's download page (each checks who may read the review before calling it)."""

from __future__ import annotations

from django.http import FileResponse

from .models import ReviewDecision


def evidence_response(decision: ReviewDecision) -> FileResponse:
    """The file as an attachment, never rendered inline by the browser."""
    name = decision.evidence.name.rsplit("/", 1)[-1]
    response = FileResponse(decision.evidence.open("rb"), as_attachment=True, filename=name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
