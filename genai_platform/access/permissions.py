"""The one authorization check of the management API (`/api/v1/`).

Every management view uses `RolePermission` and declares what it acts on:

- `access_object`: the policy object (`use_case`, `api_key`, `member`, `grant`, `break_glass`, ...;
  see `policy.DEFAULT_POLICY`), or `None` for a view open to every signed-in user that shows only
  what selectors scope to them (the list of the caller's LOBs);
- the action comes from the HTTP method: safe methods `read`, every other method `write`. A view
  whose read is part of a write workflow (the break-glass decision queue belongs to those who
  decide) sets `access_action` instead;
- the domain comes from the URL: `lob:<slug>` when the route has a `lob` parameter, otherwise
  `central`.

The decision itself is `access.selectors.user_can`. What a refusal looks like is chosen so that a
caller learns nothing about LOBs they do not belong to:

| caller | answer |
| --- | --- |
| anonymous | DRF's "not authenticated" (403 with session authentication, 401 with a header scheme) |
| LOB URL, LOB unknown, or the caller is no member of it | 404, the same body in both cases |
| LOB URL, member whose role does not allow the action | 403 |
| central URL, role does not allow the action | 403 |

Central roles (platform admin, governance reviewer) are not members of any LOB, so LOB URLs are
404 to them: being central never opens a LOB's management data.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from rest_framework.exceptions import NotFound
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from genai_platform.tenancy.models import Lob

from .enforcer import lob_domain
from .models import CENTRAL
from .policy import READ, WRITE
from .selectors import user_can

#: The URL parameter that names the LOB of a LOB-scoped endpoint.
LOB_URL_KWARG = "lob"


class RolePermission(BasePermission):
    """Allows a request when the caller's role permits `view.access_object` + the method's action in
    the URL's domain. On a LOB URL it leaves the resolved `Lob` on `view.lob` for the view to use."""

    message = "Your role does not allow this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False  # before any lookup: an anonymous caller learns nothing about LOBs
        if not hasattr(view, "access_object"):
            raise ImproperlyConfigured(f"{type(view).__name__} uses RolePermission but declares no access_object")
        obj: str | None = view.access_object
        slug = view.kwargs.get(LOB_URL_KWARG)
        if slug is not None:
            view.lob = self._member_lob(user, slug)
        if obj is None:
            return True
        act = getattr(view, "access_action", None) or (READ if request.method in SAFE_METHODS else WRITE)
        domain = lob_domain(slug) if slug is not None else CENTRAL
        return user_can(user, domain, obj, act)

    @staticmethod
    def _member_lob(user: Any, slug: str) -> Lob:
        """The LOB named in the URL if the caller belongs to it; unknown and foreign look the same."""
        lob = Lob.objects.filter(slug=slug, memberships__user=user).first()
        if lob is None:
            raise NotFound()
        return lob
