"""The demo world `manage.py seed_demo` builds: idempotent, sandbox-only, for trying the product."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from genai_platform.access.onboarding import lob_upsert
from genai_platform.access.services import central_role_grant, membership_set
from governance.models import Approval
from governance.services.guardrail_policies import central_baseline_install
from governance.services.workflow import intake_save, model_approval_set, review_decide, use_case_submit
from lob_tenants.models import ApiKey, UseCase
from lob_tenants.services import api_key_issue, use_case_upsert
from model_catalog.services import alias_upsert, deployment_upsert, model_upsert, provider_account_upsert

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
    #: The grounded (RAG) demo: None when no vector database could be started, with the reason.
    grounded: GroundedDemo | None = None
    grounded_unavailable: str = ""


@dataclass(frozen=True)
class GroundedDemo:
    use_case_slug: str
    vector_store_id: str
    api_key: str
    question: str


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
    _demo_governance(use_case, admin, [chat_alias, embed_alias], SUPPORT_INTAKE)
    api_key, plaintext = api_key_issue(
        use_case=use_case, name="demo key (seed_demo)", environment=ApiKey.Environment.PRODUCTION
    )
    grounded, unavailable = _demo_grounded(lob, admin, chat_alias, embed_alias)
    return DemoWorld(
        grounded=grounded,
        grounded_unavailable=unavailable,
        admin_username=DEMO_ADMIN_USERNAME,
        admin_password=password,
        lob_slug=lob.slug,
        use_case_slug=use_case.slug,
        chat_model=chat_alias.name,
        embedding_model=embed_alias.name,
        api_key=plaintext,
        api_key_prefix=api_key.prefix,
    )


SUPPORT_INTAKE = {
    "business_problem": "Agents spend too long drafting answers to routine questions.",
    "intended_outcome": "Draft answers that agents review and send.",
    "success_metrics": "Handling time down 20%; no increase in complaints.",
    "business_owner": "Demo Owner",
    "people_affected": "Support agents (internal); customers receive agent-reviewed answers.",
}
POLICY_INTAKE = {
    "business_problem": "Staff search several policy documents to answer routine questions.",
    "intended_outcome": "Answers from the bank's own policies, each citing the document it came from.",
    "success_metrics": "Nine in ten answers cite the right policy in a monthly sample.",
    "business_owner": "Demo Owner",
    "people_affected": "Branch and contact-centre staff (internal).",
}
DEMO_POLICIES = {
    "cards": (
        "Card services",
        "# Card services\n\nReport a lost or stolen card at once in the app or by phone; the card is blocked "
        "immediately. Customers are not liable for payments made after the report. Disputed card payments "
        "can be raised within 120 days of the transaction date.\n\nReplacement cards arrive within five "
        "working days; an express replacement costs 15 euros.\n",
    ),
    "mortgages": (
        "Mortgage overpayments",
        "# Mortgage overpayments\n\nFixed-rate mortgages allow overpayments of up to 10 percent of the "
        "outstanding balance each year without an early repayment charge. Above that allowance the charge "
        "is 2 percent of the excess.\n\nVariable-rate mortgages can be overpaid without any charge.\n",
    ),
    "branches": (
        "Branch opening hours",
        "# Branch opening hours\n\nBranches open from 9:00 to 17:00 on weekdays and from 9:30 to 13:00 on "
        "Saturdays. Every branch is closed on Sundays and public holidays.\n\nCash machines inside "
        "branches are available around the clock.\n",
    ),
}
DEMO_QUESTION = "Within how many days can a disputed card payment be raised?"


def _demo_grounded(lob: Any, admin: Any, chat_alias: Any, embed_alias: Any) -> tuple[GroundedDemo | None, str]:
    """A second approved use case whose answers are grounded in a demo store of three policies; skipped,
    with the reason, when no vector database can be reached (the rest of the demo does not need one)."""
    from django.core.exceptions import ValidationError

    from lob_tenants.vector_stores.backends import BackendError
    from lob_tenants.vector_stores.models import VectorStore
    from lob_tenants.vector_stores.services import Upload, documents_ingest, grounding_attach, vector_store_create

    use_case = use_case_upsert(
        lob=lob,
        slug="policy-answers",
        name="Policy answers",
        description="Answers staff questions from the bank's policies, citing them.",
        aliases=[chat_alias, embed_alias],
    )
    try:
        with transaction.atomic():
            store = VectorStore.objects.filter(lob=lob, slug="policies").first() or vector_store_create(
                lob=lob,
                actor=admin,
                slug="policies",
                name="Bank policies",
                embedding_alias=embed_alias,
                dimensions=384,
                ingestion_use_case=use_case,
                chunk_size=400,
                chunk_overlap=60,
            )
            # Before the approval, so that grounding is part of what the board approves.
            grounding_attach(use_case=use_case, store=store, actor=admin, top_k=3)
            uploads = [
                Upload(external_id=slug, filename=f"{slug}.md", content=text.encode(), title=title)
                for slug, (title, text) in DEMO_POLICIES.items()
            ]
            documents_ingest(store=store, uploads=uploads, actor=admin)
    except (ValidationError, BackendError) as exc:
        return None, str(exc)
    _demo_governance(use_case, admin, [chat_alias, embed_alias], POLICY_INTAKE)
    _, plaintext = api_key_issue(
        use_case=use_case, name="demo key (seed_demo)", environment=ApiKey.Environment.PRODUCTION
    )
    return GroundedDemo(use_case.slug, store.public_id, plaintext, DEMO_QUESTION), ""


def _demo_governance(use_case: UseCase, admin: Any, aliases: list[Any], intake: dict[str, str]) -> None:
    """Runs the demo use case through the real workflow once: the demo admin administers the LOB and
    the platform, a demo board member (who cannot log in) approves it."""
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
    intake_save(use_case=use_case, actor=admin, **intake)
    review = use_case_submit(use_case=use_case, actor=admin)
    # Redacted prompt capture keeps conversations (with personal data masked), so the demo's
    # `/v1/responses` can be continued with `previous_response_id`.
    review_decide(
        review=review,
        reviewer=reviewer,
        verdict="approve",
        comment="Demo approval: internal, low risk.",
        conditions={"prompt_capture": "redacted"},
    )


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
