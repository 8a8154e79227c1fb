"""Central roles, the casbin policy, and break-glass access to a LOB's data."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from genai_platform.tenancy.models import Lob

#: The casbin domain of the central team and the governance board.
CENTRAL = "central"


class CentralRoleAssignment(models.Model):
    """A central role: the platform team administers the catalog, policies and budgets; the board
    reviews use cases. Neither reads a LOB's data without break-glass access."""

    class Role(models.TextChoices):
        PLATFORM_ADMIN = "platform_admin", "Platform admin"
        GOVERNANCE_REVIEWER = "governance_reviewer", "Governance reviewer"

    class Specialty(models.TextChoices):
        SECURITY = "security"
        LEGAL = "legal"
        RISK = "risk"
        COMPLIANCE = "compliance"
        BUSINESS = "business"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="central_roles")
    role = models.CharField(max_length=32, choices=Role.choices)
    specialty = models.CharField(max_length=16, choices=Specialty.choices, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "role"], name="central_role_once"),
            models.CheckConstraint(
                condition=models.Q(role="governance_reviewer", specialty__gt="")
                | (~models.Q(role="governance_reviewer") & models.Q(specialty="")),
                name="central_role_reviewers_have_a_specialty",
            ),
        ]

    def __str__(self) -> str:
        specialty = f" ({self.specialty})" if self.specialty else ""
        return f"{self.user}: {self.get_role_display()}{specialty}"


class PolicyRule(models.Model):
    """One casbin policy line `p, role, domain, object, action`; `*` matches any domain, object or
    action. Role assignments (`g` lines) come from memberships and central roles, not from here."""

    role = models.CharField(max_length=64)
    domain = models.CharField(max_length=100, default="*")
    obj = models.CharField(max_length=64)
    act = models.CharField(max_length=32)

    class Meta:
        ordering = ["role", "domain", "obj", "act"]
        constraints = [models.UniqueConstraint(fields=["role", "domain", "obj", "act"], name="policy_rule_unique")]

    def __str__(self) -> str:
        return f"p, {self.role}, {self.domain}, {self.obj}, {self.act}"


class BreakGlassRequest(models.Model):
    """A central user's time-bound, reasoned request to read one LOB's data, approved by that LOB's admin."""

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        DENIED = "denied"
        EXPIRED = "expired"
        REVOKED = "revoked"

    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    lob = models.ForeignKey(Lob, on_delete=models.PROTECT, related_name="break_glass_requests")
    reason = models.TextField()
    duration_minutes = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"break-glass {self.pk}: {self.requester} -> {self.lob} ({self.status})"


class PeopleNotice(models.Model):
    """A central action on one of a LOB's people (or a refused attempt at one), as the LOB is told of it:
    listed on the LOB's portal page, e-mailed to its admins and posted to its signed webhook."""

    lob = models.ForeignKey(Lob, on_delete=models.CASCADE, related_name="people_notices")
    occurred_at = models.DateTimeField(db_index=True)
    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=64)
    subject = models.CharField(max_length=150, help_text="The person the action touched.")
    refused = models.BooleanField(default=False, help_text="The action was attempted and refused.")
    details = models.JSONField(default=dict, blank=True)
    #: The audit event that records the action (a reference, so the notice never disagrees with it).
    audit_event_id = models.BigIntegerField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    webhook_posted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-pk"]

    def __str__(self) -> str:
        verb = "tried" if self.refused else "did"
        return f"{self.actor} {verb} {self.action} on {self.subject}"


class LobNoticeSettings(models.Model):
    """Where a LOB wants to hear of central actions on its people besides its admins' e-mail."""

    lob = models.OneToOneField(Lob, on_delete=models.CASCADE, related_name="notice_settings")
    webhook_url = models.URLField(blank=True, help_text="Receives a signed JSON POST for each notice.")

    class Meta:
        verbose_name = "people notice settings"
        verbose_name_plural = "people notice settings"

    def __str__(self) -> str:
        return f"notice settings of {self.lob}"


class PersonalApiToken(models.Model):
    """A person's token for the management API (`Authorization: Bearer gp-pat-<prefix>.<secret>`),
    for automation that has no browser session. Only the secret's SHA-256 digest is stored; the
    whole token is shown once, when it is issued. A token acts as its owner, never more: its scope
    (`read` or `write`, optionally one LOB) only narrows what the owner's roles allow."""

    class Scope(models.TextChoices):
        READ = "read", "Read only"
        WRITE = "write", "Read and write"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.READ)
    lob = models.ForeignKey(
        Lob, null=True, blank=True, on_delete=models.CASCADE, related_name="+", help_text="Only this LOB's URLs."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "personal API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    def is_usable(self, now: Any) -> bool:
        return self.revoked_at is None and self.expires_at > now
