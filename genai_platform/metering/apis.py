"""HTTP for spend reports: check who asks, validate the query, call `reports`, render JSON or CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import renderers, serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from genai_platform.access.models import CENTRAL
from genai_platform.access.selectors import lobs_for, user_can
from lob_tenants.models import Lob

from . import reports


def spend_report_lobs(user: Any) -> QuerySet[Lob]:
    """The LOBs whose spend `user` may read (`usage` `read`); PermissionDenied (403) if none.

    Platform admins read it in the central domain, so every LOB; LOB members whose role reads
    usage read their own LOBs only. Any other LOB is left out as if it did not exist."""
    if user_can(user, CENTRAL, "usage", "read"):
        return Lob.objects.all()
    lobs = lobs_for(user, "usage", "read")
    if not lobs.exists():
        raise PermissionDenied("Your roles let you read no line of business's spend.")
    return lobs


class ChargebackCsvRenderer(renderers.BaseRenderer):
    """One header row, then one row per period and group, columns as `reports.report_columns`."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: dict[str, Any], accepted_media_type: str | None = None, renderer_context: Any = None):
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        columns = reports.report_columns(data["group_by"])
        writer.writerow(columns)
        for row in data["rows"]:
            writer.writerow([_spreadsheet_safe(row[column]) for column in columns])
        return buffer.getvalue().encode(self.charset)


def _spreadsheet_safe(value: Any) -> Any:
    # LOB and use case names are typed by people: a name starting with "=" must not become a
    # formula when finance opens the file (OWASP "CSV injection").
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _plain(value: Any) -> Any:
    """JSON for a report value: exact decimal strings (never floats) and ISO dates."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


class ChargebackApi(APIView):
    """`GET /api/v1/metering/chargeback`: spend per period and group, as JSON or CSV."""

    renderer_classes = [renderers.JSONRenderer, ChargebackCsvRenderer]

    class InputSerializer(serializers.Serializer):
        start = serializers.DateField(input_formats=["%Y-%m-%d"])
        end = serializers.DateField(input_formats=["%Y-%m-%d"])
        group_by = serializers.CharField(required=False, default="lob", allow_blank=True, trim_whitespace=True)
        period = serializers.ChoiceField(
            choices=reports.PERIODS,
            default="month",
            error_messages={"invalid_choice": 'Unknown period "{input}": use "day" or "month".'},
        )
        lob = serializers.SlugField(required=False)

        class Meta:
            ref_name = "ChargebackQuery"

        def validate_group_by(self, value: str) -> list[str]:
            names = [name.strip() for name in value.split(",") if name.strip()]
            unknown = [name for name in names if name not in reports.GROUP_BY_CHOICES]
            if unknown:
                raise ValidationError(
                    f"Unknown group_by {', '.join(unknown)}: choose from {', '.join(reports.GROUP_BY_CHOICES)}."
                )
            return list(dict.fromkeys(names))

        def validate_lob(self, slug: str) -> QuerySet[Lob]:
            lobs = self.context["lobs"].filter(slug=slug)
            if not lobs.exists():
                raise ValidationError(f'No line of business with slug "{slug}".')
            return lobs

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            days = (attrs["end"] - attrs["start"]).days + 1
            if days < 1:
                raise ValidationError({"end": "end must be on or after start."})
            if days > reports.MAX_RANGE_DAYS:
                raise ValidationError(
                    {"end": f"The range covers {days} days; a report covers at most {reports.MAX_RANGE_DAYS}."}
                )
            return attrs

    class OutputSerializer(serializers.Serializer):
        start = serializers.DateField()
        end = serializers.DateField()
        period = serializers.CharField()
        group_by = serializers.ListField(child=serializers.CharField())
        lob = serializers.CharField(allow_null=True)
        currency = serializers.CharField()
        rows = serializers.SerializerMethodField()
        total_cost = serializers.DecimalField(max_digits=None, decimal_places=None, coerce_to_string=True)

        class Meta:
            ref_name = "ChargebackReport"

        @extend_schema_field(
            serializers.ListField(
                child=serializers.DictField(),
                help_text="One object per period and group: the columns of `reports.report_columns(group_by)`, "
                "costs as exact decimal strings.",
            )
        )
        def get_rows(self, report: dict[str, Any]) -> list[dict[str, Any]]:
            return [{column: _plain(value) for column, value in row.items()} for row in report["rows"]]

    @extend_schema(
        parameters=[InputSerializer],
        responses={
            (200, "application/json"): OutputSerializer,
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The rows as CSV, one header row."),
        },
    )
    def get(self, request: Request) -> Response:
        visible = spend_report_lobs(request.user)
        params = self.InputSerializer(data=request.query_params, context={"lobs": visible})
        params.is_valid(raise_exception=True)
        query = params.validated_data
        rows = reports.spend_breakdown(
            lobs=query.get("lob", visible),
            start=query["start"],
            end=query["end"],
            group_by=query["group_by"],
            period=query["period"],
        )
        lob_slug = request.query_params.get("lob") if "lob" in query else None
        report = {
            **query,
            "lob": lob_slug,
            "currency": "USD",
            "rows": rows,
            "total_cost": reports.spend_total(rows),
        }
        response = Response(self.OutputSerializer(report).data)
        if isinstance(request.accepted_renderer, ChargebackCsvRenderer):
            name = "_".join(["chargeback", *([lob_slug] if lob_slug else []), str(query["start"]), str(query["end"])])
            response["Content-Disposition"] = f'attachment; filename="{name}_{query["period"]}.csv"'
        return response

    def perform_content_negotiation(self, request: Request, force: bool = False):
        # An unknown ?format= is a bad parameter like any other, not DRF's bare 404.
        requested = request.query_params.get(api_settings.URL_FORMAT_OVERRIDE)
        if requested and not force and requested not in {renderer.format for renderer in self.get_renderers()}:
            raise ValidationError({"format": [f'Unknown format "{requested}": use "json" or "csv".']})
        return super().perform_content_negotiation(request, force=force)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any):
        # Errors are JSON even when CSV was asked for: a spreadsheet of error messages helps nobody.
        # So is anything but the report itself (OPTIONS describes the endpoint; it has no rows).
        asked_for_csv = isinstance(getattr(request, "accepted_renderer", None), ChargebackCsvRenderer)
        if asked_for_csv and (response.status_code >= 400 or request.method != "GET"):
            request.accepted_renderer, request.accepted_media_type = renderers.JSONRenderer(), "application/json"
        return super().finalize_response(request, response, *args, **kwargs)
