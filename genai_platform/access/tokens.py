"""Personal API tokens for the management API: issue, revoke, and authenticate.

Format `gp-pat-<prefix>.<secret>`: the prefix finds the row, the 256-bit secret is compared by its
SHA-256 digest in constant time (the same reasoning as API keys, `lob_tenants.keys`). A token
acts as its owner: `RolePermission` decides with the owner's roles, then `token_allows` narrows by
the token's scope (read or write, optionally one LOB).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from genai_platform.audit.services import audit_actor, audit_record
from genai_platform.tenancy.models import Lob, Membership

from .models import PersonalApiToken
from .policy import READ, WRITE

TOKEN_SCHEME = "gp-pat-"  # noqa: S105 (the public scheme, not a secret)
PREFIX_LENGTH = 12
_PREFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
MAX_LIFETIME = dt.timedelta(days=366)
#: How stale `last_used_at` may be: one write per token per minute at most, not one per request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedToken:
    token: PersonalApiToken
    #: The whole token, to show once and never store.
    plaintext: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _parse(raw: str) -> tuple[str, str] | None:
    if not raw.startswith(TOKEN_SCHEME):
        return None
    prefix, dot, secret = raw[len(TOKEN_SCHEME) :].partition(".")
    if not dot or len(prefix) != PREFIX_LENGTH or not secret or len(secret) > 128:
        return None
    return prefix, secret


def _state(token: PersonalApiToken) -> dict[str, Any]:
    return {
        "name": token.name,
        "prefix": token.prefix,
        "owner": token.user.get_username(),
        "scope": token.scope,
        "lob": token.lob.slug if token.lob_id else None,
        "expires_at": token.expires_at.isoformat(),
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }


# ---- services ----


@transaction.atomic
def personal_token_issue(
    *,
    user: Any,
    name: str,
    scope: str,
    expires_at: dt.datetime,
    lob: Lob | None = None,
    issued_with: PersonalApiToken | None = None,
    actor: Any = None,
) -> IssuedToken:
    """Issues `user` a token; returns it with its plaintext, which exists nowhere else afterwards.

    A LOB-scoped token needs a membership of that LOB; the expiry is in the future and at most a
    year away (a token never lives forever). A token issued by a request that itself came with a
    token (`issued_with`) is no wider than it: same LOB, no write from a read token, no later expiry."""
    now = timezone.now()
    errors: dict[str, str] = {}
    if not name.strip():
        errors["name"] = "Name the token after what uses it."
    if scope not in PersonalApiToken.Scope.values:
        errors["scope"] = f"One of {', '.join(PersonalApiToken.Scope.values)}."
    if expires_at <= now:
        errors["expires_at"] = "The expiry must be in the future."
    elif expires_at > now + MAX_LIFETIME:
        errors["expires_at"] = "A token lives a year at most."
    if lob is not None and not Membership.objects.filter(lob=lob, user=user).exists():
        errors["lob"] = "A token can be limited only to a LOB its owner belongs to."
    if issued_with is not None:
        if issued_with.lob_id is not None and (lob is None or lob.pk != issued_with.lob_id):
            errors["lob"] = f"A token limited to {issued_with.lob.slug} issues tokens for that LOB only."
        if expires_at > issued_with.expires_at:
            errors["expires_at"] = "A token cannot issue a token that outlives it."
    if errors:
        raise ValidationError(errors)
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    secret = secrets.token_urlsafe(32)
    token = PersonalApiToken.objects.create(
        user=user,
        name=name.strip(),
        prefix=prefix,
        secret_hash=_digest(secret),
        scope=scope,
        lob=lob,
        expires_at=expires_at,
    )
    audit_record(
        actor=audit_actor(actor if actor is not None else user),
        action="personal_token.issued",
        target=token,
        after=_state(token),
    )
    return IssuedToken(token=token, plaintext=f"{TOKEN_SCHEME}{prefix}.{secret}")


@transaction.atomic
def personal_token_revoke(*, token: PersonalApiToken, actor: Any) -> PersonalApiToken:
    """Revokes a token at once (the next request with it is refused). Revoking twice changes nothing."""
    token = PersonalApiToken.objects.select_for_update(of=("self",)).select_related("user", "lob").get(pk=token.pk)
    if token.revoked_at is not None:
        return token
    before = _state(token)
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(
        actor=audit_actor(actor), action="personal_token.revoked", target=token, before=before, after=_state(token)
    )
    return token


# ---- selectors ----


def personal_tokens_of(user: Any) -> Any:
    return PersonalApiToken.objects.filter(user=user).select_related("lob")


def personal_token_authenticate(raw: str) -> PersonalApiToken | None:
    """The usable token `raw` names, or None (malformed, unknown, wrong secret, expired, revoked,
    or its owner deactivated): one answer for all, so a caller learns nothing from the refusal."""
    parsed = _parse(raw)
    if parsed is None:
        return None
    prefix, secret = parsed
    token = PersonalApiToken.objects.select_related("user", "lob").filter(prefix=prefix).first()
    if token is None or not hmac.compare_digest(_digest(secret), token.secret_hash):
        return None
    now = timezone.now()
    if not token.is_usable(now) or not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        PersonalApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def token_allows(token: PersonalApiToken, *, act: str, lob_slug: str | None) -> bool:
    """What the token's scope takes away from the owner's roles: a read token never writes; a LOB
    token reaches only its LOB's URLs (and no central one)."""
    if act == WRITE and token.scope != PersonalApiToken.Scope.WRITE:
        return False
    return token.lob_id is None or lob_slug == token.lob.slug


# ---- DRF ----


class PersonalTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer gp-pat-...`. Anything else is left to the other authentication class
    (the session), so the portal's own calls keep working.

    The token's scope is enforced here, before any view runs, so that it holds for every view
    whatever its permission classes: the method gives the action (safe methods read), the URL's
    `lob` parameter the LOB."""

    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[Any, PersonalApiToken] | None:
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != self.keyword or not parts[1].startswith(TOKEN_SCHEME.encode()):
            return None
        token = personal_token_authenticate(parts[1].decode("ascii", "replace"))
        if token is None:
            raise AuthenticationFailed("Invalid, expired or revoked token.")
        act = READ if request.method in SAFE_METHODS else WRITE
        match = getattr(request._request, "resolver_match", None)
        lob_slug = match.kwargs.get("lob") if match is not None else None
        if not token_allows(token, act=act, lob_slug=lob_slug):
            raise PermissionDenied(
                "This token's scope does not allow this request "
                f"({token.get_scope_display().lower()}{', LOB ' + token.lob.slug if token.lob_id else ''})."
            )
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class PersonalTokenScheme(OpenApiAuthenticationExtension):
    """Names the token scheme in the OpenAPI schema (Swagger's "Authorize" button)."""

    target_class = PersonalTokenAuthentication
    name = "personalToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "gp-pat-<prefix>.<secret>"}
