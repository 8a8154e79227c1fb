"""Reads about tenants. The gateway authenticates through `key_principal`, which is cached."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils import timezone

from genai_platform import hotcache
from governance.approval_facts import aliases_approved_for, use_case_approval

from .keys import key_parse, secret_matches
from .models import ApiKey, Lob, PromptTemplate, PromptTemplateGroupObjectPermission, UseCase
from .prompts import PinnedPrompt, variable_specs


@dataclass(frozen=True)
class KeyPrincipal:
    """Who is calling: the key, its use case and LOB, and what they may use."""

    #: None for calls the platform makes on the use case's behalf (ingestion embeddings).
    key_id: int | None
    prefix: str
    environment: str
    use_case_id: int
    use_case_slug: str
    use_case_status: str
    lob_id: int
    lob_slug: str
    allowed_aliases: frozenset[str]
    data_classification: str
    #: The current approval (production keys): its status, expiry, and the aliases it allows.
    approval_status: str
    approval_expires_at: dt.datetime | None
    approved_aliases: frozenset[str]
    #: Aliases the central team has approved for this use case's data classification.
    classification_aliases: frozenset[str]
    #: How much of each prompt and answer the audit trail keeps: none, hashed, redacted or full.
    prompt_capture: str
    response_cache_ttl_seconds: int
    secret_hash: str
    expires_at: dt.datetime | None
    revoked: bool
    #: The prompt template version the use case pins, rendered first into every chat completion.
    prompt_template: PinnedPrompt | None = None

    @property
    def is_production(self) -> bool:
        return self.environment == ApiKey.Environment.PRODUCTION


def key_cache_key(prefix: str) -> str:
    return f"apikey:{prefix}"


def key_principal(token: str) -> KeyPrincipal | None:
    """The principal for a presented key, or None when the key is malformed, unknown, revoked or expired."""
    parsed = key_parse(token)
    if parsed is None:
        return None
    prefix, secret = parsed
    principal = hotcache.lookup(key_cache_key(prefix), lambda: _load_principal(prefix))
    if principal is None or not secret_matches(secret, principal.secret_hash):
        return None
    return principal if _usable(principal) else None


def key_principal_by_prefix(prefix: str) -> KeyPrincipal | None:
    """The principal of a key the platform already holds the row of (an agent run's key), without
    its secret; None once the key is deleted, revoked or expired."""
    principal = hotcache.lookup(key_cache_key(prefix), lambda: _load_principal(prefix))
    return principal if principal is not None and _usable(principal) else None


def use_case_principal(use_case: UseCase) -> KeyPrincipal:
    """The principal for calls the platform makes on a use case's behalf with no key (embedding
    documents at ingestion): the use case's aliases, approval and limits, but no key's."""
    use_case = UseCase.objects.select_related("lob", "prompt_template__lob").get(pk=use_case.pk)
    return _principal(use_case, None)


#: `<lob>/<use case>`: how a use case of any LOB is named (whom an object is shared with).
USE_CASE_PATH = r"^[-a-zA-Z0-9_]+/[-a-zA-Z0-9_]+$"


def use_case_by_path(path: str) -> UseCase | None:
    """The use case named `<lob>/<use case>`, of any LOB, or None."""
    lob_slug, _, slug = path.partition("/")
    return UseCase.objects.filter(lob__slug=lob_slug, slug=slug).select_related("lob").first()


def active_keys_of(use_case: UseCase) -> QuerySet[ApiKey]:
    """The use case's keys that still authenticate (not revoked, not expired), by name."""
    now = timezone.now()
    return (
        ApiKey.objects.filter(use_case=use_case, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .select_related("use_case__lob")
        .order_by("name", "pk")
    )


def _usable(principal: KeyPrincipal) -> bool:
    return not principal.revoked and (principal.expires_at is None or principal.expires_at > timezone.now())


def _load_principal(prefix: str) -> KeyPrincipal | None:
    key = ApiKey.objects.select_related("use_case__lob", "use_case__prompt_template__lob").filter(prefix=prefix).first()
    return None if key is None else _principal(key.use_case, key)


def _principal(use_case: UseCase, key: ApiKey | None) -> KeyPrincipal:
    allowed = set(use_case.aliases.values_list("name", flat=True))
    scopes = set(key.scopes.values_list("name", flat=True)) if key is not None else set()
    if scopes:
        allowed &= scopes
    approval = use_case_approval(use_case_id=use_case.pk)
    classification_aliases = aliases_approved_for(classification=use_case.data_classification, among=allowed)
    return KeyPrincipal(
        key_id=key.pk if key is not None else None,
        prefix=key.prefix if key is not None else "",
        environment=key.environment if key is not None else ApiKey.Environment.PRODUCTION,
        use_case_id=use_case.pk,
        use_case_slug=use_case.slug,
        use_case_status=use_case.status,
        lob_id=use_case.lob_id,
        lob_slug=use_case.lob.slug,
        allowed_aliases=frozenset(allowed),
        data_classification=use_case.data_classification,
        approval_status=approval.status,
        approval_expires_at=approval.expires_at,
        approved_aliases=approval.allowed_aliases,
        classification_aliases=classification_aliases,
        prompt_capture=approval.prompt_capture,
        response_cache_ttl_seconds=use_case.response_cache_ttl_seconds,
        secret_hash=key.secret_hash if key is not None else "",
        expires_at=key.expires_at if key is not None else None,
        revoked=key is not None and key.revoked_at is not None,
        prompt_template=_pinned_prompt(use_case),
    )


def _pinned_prompt(use_case: UseCase) -> PinnedPrompt | None:
    template = use_case.prompt_template
    if template is None:
        return None
    return PinnedPrompt(
        template_id=template.pk,
        label=str(template),
        template=template.template,
        variables=variable_specs(template.variables),
        readable=prompt_template_readable(use_case=use_case, template=template),
    )


# ---- the prompt catalog ----


def prompt_templates_of(*, lob: Lob, name: str | None = None) -> QuerySet[PromptTemplate]:
    """Every version of `lob`'s own templates (of one name, if given), newest version first."""
    templates = PromptTemplate.objects.filter(lob=lob).select_related("lob", "created_by")
    if name is not None:
        templates = templates.filter(name=name)
    return templates.order_by("name", "-version")


def prompt_template_latest(*, lob: Lob, name: str) -> PromptTemplate | None:
    return prompt_templates_of(lob=lob, name=name).first()


def prompt_templates_readable_by(*, use_case: UseCase) -> QuerySet[PromptTemplate]:
    """The versions `use_case` may pin and render: its own LOB's, and other LOBs' shared with it by grant."""
    own = Q(lob_id=use_case.lob_id)
    if use_case.grant_group_id is None:
        readable = own
    else:
        granted = PromptTemplateGroupObjectPermission.objects.filter(
            group_id=use_case.grant_group_id, permission__codename="view_prompttemplate"
        ).values("content_object_id")
        readable = own | Q(pk__in=granted)
    return PromptTemplate.objects.filter(readable).select_related("lob").order_by("lob__slug", "name", "-version")


def prompt_template_readable(*, use_case: UseCase, template: PromptTemplate) -> bool:
    return prompt_templates_readable_by(use_case=use_case).filter(pk=template.pk).exists()
