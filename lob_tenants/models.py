"""Use cases of the lines of business, the API keys applications call with, and the prompt catalog.

The lines of business and their members themselves (`Lob`, `Membership` and the grants on a LOB)
are `genai_platform.tenancy`'s, below access control, which scopes by them; they are still this
app's models to Django (importing this module registers them), and `Lob` and `Membership` are
re-exported here for the code that names them from here."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from genai_platform.tenancy.models import Lob
from genai_platform.tenancy.models import Membership as Membership
from model_catalog.models import Alias


class DataClassification(models.TextChoices):
    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"
    RESTRICTED = "restricted"


class UseCase(models.Model):
    """Something a LOB builds with LLMs; production traffic needs the board's approval."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        SUBMITTED = "submitted"
        IN_REVIEW = "in_review", "In review"
        APPROVED = "approved"
        CHANGES_REQUESTED = "changes_requested", "Changes requested"
        REJECTED = "rejected"
        EXPIRED = "expired"
        SUSPENDED = "suspended"
        RETIRED = "retired"

    lob = models.ForeignKey(Lob, on_delete=models.PROTECT, related_name="use_cases")
    slug = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=32, choices=Status.choices, default=Status.DRAFT)
    data_classification = models.CharField(
        max_length=16, choices=DataClassification.choices, default=DataClassification.INTERNAL
    )
    aliases = models.ManyToManyField(Alias, blank=True, related_name="use_cases", help_text="Models it may call.")
    #: The group object grants are given to, so a shared object can be read by this use case's keys.
    grant_group = models.OneToOneField(Group, null=True, blank=True, on_delete=models.SET_NULL, related_name="use_case")
    response_cache_ttl_seconds = models.PositiveIntegerField(
        default=0, help_text="Answer identical requests from a cache for this long; 0 turns the cache off."
    )
    #: The prompt template version the gateway renders first, as a system message (its own LOB's or
    #: granted to it); pinned through `services.use_case_prompt_pin`, never by saving this row.
    prompt_template = models.ForeignKey(
        "PromptTemplate",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="pinned_by",
        help_text="The prompt template version its calls start with (its own LOB's, or one shared with it).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["lob", "name"]
        constraints = [models.UniqueConstraint(fields=["lob", "slug"], name="use_case_unique_slug_per_lob")]

    def __str__(self) -> str:
        return f"{self.lob.slug}/{self.slug}"


class ApiKey(models.Model):
    """A credential an application calls the gateway with.

    Only `prefix` (public, to find the row) and a SHA-256 digest of the secret are stored; the
    full key is shown once, when issued.
    """

    class Environment(models.TextChoices):
        SANDBOX = "sandbox"
        PRODUCTION = "production"

    use_case = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    environment = models.CharField(max_length=16, choices=Environment.choices, default=Environment.SANDBOX)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    scopes = models.ManyToManyField(
        Alias, blank=True, related_name="+", help_text="Aliases this key may call; empty means all of its use case's."
    )
    rotated_from = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="rotated_to",
        help_text="The key this one replaced; it keeps working until the end of the overlap window.",
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…, {self.environment})"

    @property
    def is_active(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class PromptTemplate(models.Model):
    """One immutable version of a prompt a LOB owns; shareable read-only with another LOB's use case by grant.

    `template` is Jinja2 (rendered sandboxed, see `prompts.py`); `variables` declares every variable
    it uses: `[{"name", "type", "required", "default", "description"}]`. A new version is made by
    `services.prompt_template_save`; a saved version is never changed, so a use case that pins it
    keeps exactly what was reviewed.
    """

    lob = models.ForeignKey(Lob, on_delete=models.PROTECT, related_name="prompt_templates")
    name = models.SlugField(max_length=100)
    version = models.PositiveIntegerField(default=1)
    template = models.TextField()
    variables = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["lob", "name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["lob", "name", "version"], name="prompt_template_unique_version")
        ]

    def __str__(self) -> str:
        return f"{self.lob.slug}/{self.name}@{self.version}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PromptTemplateImmutable(f"{self} is saved and cannot change; save a new version instead")
        super().save(*args, **kwargs)


class PromptTemplateImmutable(Exception):
    """Raised on any attempt to change a saved prompt template version."""


# Guardian's direct foreign-key permission tables: a join on an integer key instead of guardian's
# generic content type and text id. Grants on a shared object go to the group of the use case that
# receives them.
class PromptTemplateUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(PromptTemplate, on_delete=models.CASCADE)


class PromptTemplateGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(PromptTemplate, on_delete=models.CASCADE)
