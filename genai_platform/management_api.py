"""What every app's management API (`/api/v1/`) shares: the page size, one scoped row or "Not
found.", and a service's refusal as a 400. Apps import these from here, never from another app's
`apis.py`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class ManagementPage(LimitOffsetPagination):
    """`?limit=&offset=`; `count` is the size of the caller's own scoped list, never of the table."""

    default_limit = 50
    max_limit = 200


def paginated_response(*, view: APIView, request: Request, queryset: QuerySet, serializer: type) -> Response:
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer(page, many=True).data)


def get_or_404(queryset: QuerySet, **lookup: Any) -> Any:
    """One row of an already scoped queryset; "Not found." whatever the reason, like a foreign LOB."""
    found = queryset.filter(**lookup).first()
    if found is None:
        raise NotFound()
    return found


def bad_request(error: Exception) -> ValidationError:
    """A service's refusal (Django ValidationError or ValueError) as a DRF 400."""
    if isinstance(error, DjangoValidationError):
        return ValidationError({"detail": error.messages})
    return ValidationError({"detail": [str(error)]})
