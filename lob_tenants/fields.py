"""Serializer fields with which other apps' management APIs name a tenant's objects."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from .models import UseCase
from .selectors import USE_CASE_PATH, use_case_by_path


class UseCasePathField(serializers.RegexField):
    """A use case of any LOB named `<lob>/<use case>` (whom an object is shared with), resolved to it."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "`<lob>/<use case>`.")
        super().__init__(USE_CASE_PATH, **kwargs)

    def to_internal_value(self, data: Any) -> UseCase:
        use_case = use_case_by_path(super().to_internal_value(data))
        if use_case is None:
            raise ValidationError("No such use case.")
        return use_case
