"""The demo world `manage.py seed_demo` builds: idempotent, sandbox-only, for trying the product."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from model_catalog.services import alias_upsert, deployment_upsert, model_upsert, provider_account_upsert

from .models import ApiKey, UseCase
from .services import api_key_issue, lob_upsert, use_case_upsert

DEMO_ADMIN_USERNAME = "admin"
DEMO_REVIEWER_USERNAME = "demo-board-security"
DEMO_CHAT_ALIAS = "demo-chat"
DEMO_EMBEDDING_ALIAS = "demo-embed"


@dataclass(frozen=True)
class DemoWorld:
    admin_username: str
    admin_password: str
    lob_slug: str
    use_case_slug: str
    chat_model: str
    embedding_model: str
    api_key: str
    api_key_prefix: str


@transaction.atomic
def demo_seed(*, password_file: Path) -> DemoWorld:
    """Creates (or finds) the demo admin, catalog, LOB and approved use case, and issues a fresh key."""
    password = _demo_admin(password_file)
    account = provider_account_upsert(name="sandbox", provider="sandbox", region="local")
    chat_model = model_upsert(name="sandbox-chat", supports_tools=True, context_window=32768, max_output_tokens=4096)
    embed_model = model_upsert(
        name="sandbox-embed", supports_chat=False, supports_embeddings=True, supports_streaming=False
    )
    chat_deployment = deployment_upsert(
        name="sandbox-chat-local",
        account=account,
        model=chat_model,
        provider_model_id="sandbox-chat",
        input_price_per_million=Decimal("0.50"),
        output_price_per_million=Decimal("1.50"),
    )
    embed_deployment = deployment_upsert(
        name="sandbox-embed-local",
        account=account,
        model=embed_model,
        provider_model_id="sandbox-embed",
        input_price_per_million=Decimal("0.02"),
    )
    chat_alias = alias_upsert(
        name=DEMO_CHAT_ALIAS, deployments=[chat_deployment], description="Demo chat model (sandbox provider)"
    )
    embed_alias = alias_upsert(
        name=DEMO_EMBEDDING_ALIAS, deployments=[embed_deployment], description="Demo embeddings (sandbox provider)"
    )
    lob = lob_upsert(slug="demo-retail", name="Demo Retail Banking", business_owner="Demo Owner", cost_center="CC-100")
    use_case = use_case_upsert(
        lob=lob,
        slug="support-assistant",
        name="Customer support assistant",
        description="Drafts answers to customer questions for human agents.",
        aliases=[chat_alias, embed_alias],
    )
    admin = get_user_model().objects.get(username=DEMO_ADMIN_USERNAME)
    _demo_governance(use_case, admin, [chat_alias, embed_alias])
    api_key, plaintext = api_key_issue(
        use_case=use_case, name="demo key (seed_demo)", environment=ApiKey.Environment.PRODUCTION
    )
    return DemoWorld(
        admin_username=DEMO_ADMIN_USERNAME,
        admin_password=password,
        lob_slug=lob.slug,
        use_case_slug=use_case.slug,
        chat_model=chat_alias.name,
        embedding_model=embed_alias.name,
        api_key=plaintext,
        api_key_prefix=api_key.prefix,
    )


def _demo_governance(use_case: UseCase, admin: Any, aliases: list[Any]) -> None:
    """Runs the demo use case through the real workflow once: the demo admin administers the LOB and
    the platform, a demo board member (who cannot log in) approves it."""
    from genai_platform.access.services import central_role_grant, membership_set
    from governance.guardrail_policies import central_baseline_install
    from governance.models import Approval
    from governance.workflow import intake_save, model_approval_set, review_decide, use_case_submit

    membership_set(lob=use_case.lob, user=admin, role="lob_admin")
    central_role_grant(user=admin, role="platform_admin")
    central_baseline_install(actor=admin)
    for alias in aliases:
        model_approval_set(alias=alias, classifications=["public", "internal", "confidential"], actor=admin)
    if Approval.objects.filter(use_case=use_case, status=Approval.Status.CURRENT).exists():
        return
    reviewer, created = get_user_model().objects.get_or_create(username=DEMO_REVIEWER_USERNAME)
    if created:
        reviewer.set_unusable_password()
        reviewer.save()
    central_role_grant(user=reviewer, role="governance_reviewer", specialty="security")
    intake_save(
        use_case=use_case,
        actor=admin,
        business_problem="Agents spend too long drafting answers to routine questions.",
        intended_outcome="Draft answers that agents review and send.",
        success_metrics="Handling time down 20%; no increase in complaints.",
        business_owner="Demo Owner",
        people_affected="Support agents (internal); customers receive agent-reviewed answers.",
    )
    review = use_case_submit(use_case=use_case, actor=admin)
    review_decide(review=review, reviewer=reviewer, verdict="approve", comment="Demo approval: internal, low risk.")


def _demo_admin(password_file: Path) -> str:
    """The demo superuser; its random password is kept in a private file so re-runs can print it."""
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(
        username=DEMO_ADMIN_USERNAME, defaults={"is_staff": True, "is_superuser": True}
    )
    if password_file.exists() and user.check_password(password_file.read_text().strip()):
        return password_file.read_text().strip()
    password = secrets.token_urlsafe(12)
    user.set_password(password)
    user.is_staff = user.is_superuser = True
    user.save()
    password_file.parent.mkdir(parents=True, exist_ok=True)
    password_file.touch(mode=0o600)
    password_file.write_text(password + "\n")
    return password
