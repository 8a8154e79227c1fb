"""A service's refusal as the management API's 400, keeping the field each message is about."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import ValidationError


def field_errors(error: Exception) -> ValidationError:
    """`{"field": ["message"]}` when the service named the field, else `{"detail": [...]}`."""
    if isinstance(error, DjangoValidationError):
        if hasattr(error, "error_dict"):
            return ValidationError(
                {
                    ("detail" if field == "__all__" else field): messages
                    for field, messages in error.message_dict.items()
                }
            )
        return ValidationError({"detail": error.messages})
    return ValidationError({"detail": [str(error)]})
