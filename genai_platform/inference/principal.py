"""Who is calling: a key's principal, the call path's view of a caller.

Assembled here, above the apps it reads, by asking each app's own selector: `lob_tenants.selectors`
for the key, its use case and the pinned prompt, `governance.approval_facts` for the current
approval and the aliases approved for the use case's data. Cached per key prefix for
`GATEWAY_LOOKUP_CACHE_SECONDS`; lob_tenants' services delete the entry after a commit that changes
the key or its use case (governance asks them to, `api_keys_forget`, when an approval changes).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from genai_platform import hotcache
from governance.approval_facts import aliases_approved_for, use_case_approval
from lob_tenants.keys import key_parse, secret_matches
from lob_tenants.models import ApiKey, UseCase
from lob_tenants.prompts import PinnedPrompt
from lob_tenants.selectors import aliases_usable_by, api_key_by_prefix, key_cache_key, pinned_prompt, use_case_for_calls


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
    return _principal(use_case_for_calls(use_case), None)


def _usable(principal: KeyPrincipal) -> bool:
    return not principal.revoked and (principal.expires_at is None or principal.expires_at > timezone.now())


def _load_principal(prefix: str) -> KeyPrincipal | None:
    key = api_key_by_prefix(prefix)
    return None if key is None else _principal(key.use_case, key)


def _principal(use_case: UseCase, key: ApiKey | None) -> KeyPrincipal:
    allowed = aliases_usable_by(use_case, key)
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
        allowed_aliases=allowed,
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
        prompt_template=pinned_prompt(use_case),
    )
