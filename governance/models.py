"""Governance records: the audit log every reviewer-relevant change writes to."""

from __future__ import annotations

from django.db import models


class AuditEvent(models.Model):
    """An append-only record of who did what to which object, written in the change's own transaction."""

    occurred_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=200, help_text="User name, 'system', or 'key:<prefix>'.")
    action = models.CharField(max_length=100, db_index=True)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=100)
    #: The tenant the event belongs to; blank for central (catalog, policy) events.
    lob_slug = models.SlugField(max_length=64, blank=True, db_index=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.object_type}:{self.object_id}"
