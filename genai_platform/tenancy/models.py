"""Lines of business (tenants), their members, and guardian's object grants on a LOB.

Registered as `lob_tenants` models (`Meta.app_label`) with their tables, content types and
permission codenames (`lob_tenants.view_lob_data`, stored in grants and checked by name)
unchanged; only the module they are written in moved (see the package's docstring)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

APP_LABEL = "lob_tenants"


class Lob(models.Model):
    """A line of business: the tenant boundary for data, usage and cost."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    business_owner = models.CharField(max_length=200, blank=True)
    cost_center = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = APP_LABEL
        ordering = ["name"]
        verbose_name = "line of business"
        verbose_name_plural = "lines of business"
        permissions = [("view_lob_data", "Read the LOB's data: captured prompts, outputs, vector-store contents")]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A person's role in one LOB. The central team and the board hold central roles instead
    (`access.CentralRoleAssignment`) and see no LOB data through them."""

    class Role(models.TextChoices):
        LOB_ADMIN = "lob_admin", "LOB admin"
        LOB_DEVELOPER = "lob_developer", "LOB developer"
        LOB_VIEWER = "lob_viewer", "LOB viewer"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    lob = models.ForeignKey(Lob, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=32, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = APP_LABEL
        ordering = ["lob", "user"]
        constraints = [models.UniqueConstraint(fields=["user", "lob"], name="membership_one_role_per_lob")]

    def __str__(self) -> str:
        return f"{self.user} is {self.get_role_display()} of {self.lob}"


# Guardian's direct foreign-key permission tables: a join on an integer key instead of guardian's
# generic content type and text id. Object grants on a LOB (`view_lob_data`, given by break-glass)
# go to users; the group table is the pair guardian looks for when a grant on a LOB goes to a group.
class LobUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Lob, on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        app_label = APP_LABEL


class LobGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Lob, on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):
        app_label = APP_LABEL
