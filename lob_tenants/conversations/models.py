"""Stored responses: the conversation state of `/v1/responses`, private to the use case that made them.

A stored response keeps what a later turn needs to continue from it (`previous_response_id`): the
conversation before it (`context`), its own input items and its output items, all as Responses API
items. There is no admin and no management API: the central team cannot read a LOB's conversations.
"""

from __future__ import annotations

import secrets

from django.db import models

from lob_tenants.models import Lob, UseCase


def _public_id() -> str:
    return "resp_" + secrets.token_hex(16)


class StoredResponse(models.Model):
    public_id = models.CharField(max_length=40, unique=True, default=_public_id, editable=False)
    lob = models.ForeignKey(Lob, on_delete=models.CASCADE, related_name="+")
    #: Only keys of this use case read it back or continue from it.
    use_case = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="+")
    request_id = models.CharField(max_length=64, help_text="The call's request id, as in its usage record.")
    #: The items of the conversation before this response's input (its previous responses' turns).
    context = models.JSONField(default=list)
    input_items = models.JSONField(default=list)
    #: The response document as the client received it (output items, usage, settings).
    document = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.public_id

    def conversation(self) -> list[dict]:
        """The items a response that continues from this one starts with."""
        return [*self.context, *self.input_items, *self.document.get("output", [])]
