"""The portal's own pages: the home page (`/`), the LOB dashboard, evidence downloads, and JSON
answers at the roots of the two APIs (`/v1`, `/api/v1`) and for unknown paths below `/api/v1/`."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse

from genai_platform import formatting
from governance.evidence import evidence_response
from governance.models import ReviewDecision
from governance.selectors import review_readable_by

from .charts import bar_chart
from .selectors import dashboard_series, lobs_on_dashboard, next_steps_for


def home(request: HttpRequest) -> HttpResponse:
    """Sign-in for a visitor; for a signed-in person, what they can do next, with links."""
    context = {
        **admin.site.each_context(request),
        "title": "Home",
        "steps": next_steps_for(request.user),
        "api_docs": reverse("api-docs"),
    }
    return TemplateResponse(request, "portal/home.html", context)


@login_required(login_url="admin:login")
def dashboard(request: HttpRequest) -> HttpResponse:
    """Per use case of the viewer's LOBs: this month's spend against its budget, and the last 30 days
    of spend, requests, errors, guardrail blocks and masks as charts."""
    lobs = lobs_on_dashboard(request.user)
    chosen = request.GET.get("lob")
    lob = next((item for item in lobs if item.slug == chosen), lobs[0] if lobs else None)
    rows = []
    if lob is not None:
        for series in dashboard_series(lob=lob):
            rows.append(
                {
                    "series": series,
                    "totals": series.totals,
                    "charts": {
                        "spend": bar_chart(
                            series.spend, series.days, label="spend per day", shown=formatting.money, css="spend"
                        ),
                        "requests": bar_chart(series.requests, series.days, label="requests per day", css="requests"),
                        "errors": bar_chart(series.errors, series.days, label="errors per day", css="errors"),
                        "blocks": bar_chart(series.blocks, series.days, label="guardrail blocks per day", css="blocks"),
                        "masks": bar_chart(series.masks, series.days, label="guardrail masks per day", css="masks"),
                    },
                }
            )
    context = {
        **admin.site.each_context(request),
        "title": f"Dashboard: {lob.name}" if lob else "Dashboard",
        "lobs": lobs,
        "lob": lob,
        "rows": rows,
    }
    return TemplateResponse(request, "portal/dashboard.html", context)


@login_required(login_url="admin:login")
def evidence_download(request: HttpRequest, decision_id: int) -> HttpResponse:
    """A decision's evidence file, for whoever may read its review (the board, the LOB's members);
    anyone else gets a 404, as for an unknown file."""
    decision = get_object_or_404(ReviewDecision.objects.select_related("review__use_case__lob"), pk=decision_id)
    if not decision.evidence or not review_readable_by(request.user, decision.review):
        raise Http404("No such evidence.")
    return evidence_response(decision)


def gateway_index(request: HttpRequest) -> JsonResponse:
    """`/v1`: the OpenAI-compatible API's entry points, as JSON."""
    return JsonResponse(
        {
            "object": "api",
            "name": "GenAI platform gateway (OpenAI-compatible)",
            "authentication": "Authorization: Bearer <API key issued to a use case>",
            "endpoints": {
                "models": "/v1/models",
                "chat_completions": "/v1/chat/completions",
                "embeddings": "/v1/embeddings",
                "guardrails_apply": "/v1/guardrails/apply",
            },
            "management_api": "/api/v1/",
            "documentation": reverse("api-docs"),
        }
    )


def management_index(request: HttpRequest) -> JsonResponse:
    """`/api/v1`: the management API's sections and where its schema and documentation are."""
    return JsonResponse(
        {
            "name": "GenAI platform management API",
            "schema": reverse("api-schema"),
            "documentation": reverse("api-docs"),
            "sections": {
                "lines_of_business": "/api/v1/lobs/",
                "governance_reviews": "/api/v1/reviews/",
                "break_glass": "/api/v1/break-glass/",
                "chargeback": "/api/v1/metering/chargeback",
            },
            "authentication": "a portal session, or a personal API token where enabled",
        }
    )
