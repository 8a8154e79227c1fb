"""Serializer fields with which other apps' management APIs name a tenant's objects."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from .models import UseCase


class UseCasePathField(serializers.RegexField):
    """A use case of any LOB named `<lob>/<use case>` (whom an object is shared with), resolved to it."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "`<lob>/<use case>`.")
        super().__init__(r"^[-a-zA-Z0-9_]+/[-a-zA-Z0-9_]+$", **kwargs)

    def to_internal_value(self, data: Any) -> UseCase:
        lob_slug, slug = super().to_internal_value(data).split("/")
        use_case = UseCase.objects.filter(lob__slug=lob_slug, slug=slug).select_related("lob").first()
        if use_case is None:
            raise ValidationError("No such use case.")
        return use_case
