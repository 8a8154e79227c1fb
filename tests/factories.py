"""Factories for the domain; keys are issued through the service so tests see what users see."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from lob_tenants.models import ApiKey, Lob, PromptTemplate, UseCase
from lob_tenants.services import api_key_issue, prompt_template_save
from lob_tenants.vector_stores.models import VectorStore
from model_catalog.models import Alias, CatalogModel, Deployment, ProviderAccount, Route


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")


class ProviderAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProviderAccount

    name = factory.Sequence(lambda n: f"account-{n}")
    provider = "sandbox"
    region = "local"


class CatalogModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CatalogModel

    name = factory.Sequence(lambda n: f"model-{n}")
    supports_tools = True
    context_window = 8192


class DeploymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Deployment

    name = factory.Sequence(lambda n: f"deployment-{n}")
    account = factory.SubFactory(ProviderAccountFactory)
    model = factory.SubFactory(CatalogModelFactory)
    provider_model_id = "sandbox-model"
    input_price_per_million = Decimal("1.00")
    output_price_per_million = Decimal("2.00")


class AliasFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Alias
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"alias-{n}")

    @factory.post_generation
    def deployments(self, create, extracted, **kwargs):
        """AliasFactory(deployments=[d1, d2]) routes to them in that priority order; default: one sandbox."""
        if not create:
            return
        for priority, deployment in enumerate(extracted if extracted is not None else [DeploymentFactory()], 1):
            Route.objects.create(alias=self, deployment=deployment, priority=priority)


class LobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lob

    slug = factory.Sequence(lambda n: f"lob-{n}")
    name = factory.Sequence(lambda n: f"Line of business {n}")


class UseCaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UseCase
        skip_postgeneration_save = True

    lob = factory.SubFactory(LobFactory)
    slug = factory.Sequence(lambda n: f"use-case-{n}")
    name = factory.Sequence(lambda n: f"Use case {n}")
    status = UseCase.Status.APPROVED

    @factory.post_generation
    def aliases(self, create, extracted, **kwargs):
        """An approved use case gets a current approval covering its aliases, as the board would give."""
        if not create:
            return
        if extracted:
            self.aliases.set(extracted)
        if self.status == UseCase.Status.APPROVED:
            approve(self)


class PromptTemplateFactory(factory.django.DjangoModelFactory):
    """A prompt template version, saved through the service: checked and numbered as users' are.
    The same `lob` and `name` again makes the next version."""

    class Meta:
        model = PromptTemplate

    lob = factory.SubFactory(LobFactory)
    name = factory.Sequence(lambda n: f"prompt-{n}")
    template = "You answer as {{ persona }}."
    variables = factory.LazyFunction(lambda: [{"name": "persona", "type": "string"}])

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return prompt_template_save(actor=kwargs.pop("actor", None), **kwargs)


def approve(use_case: UseCase, **conditions) -> None:
    """Approves `use_case` for all its aliases (and those aliases for any data), bypassing the review."""
    from django.db import transaction

    from governance.models import ModelApproval
    from governance.services.workflow import approval_issue
    from lob_tenants.models import DataClassification

    with transaction.atomic():
        for alias in use_case.aliases.all():
            ModelApproval.objects.update_or_create(
                alias=alias, defaults={"classifications": list(DataClassification.values), "approved_by": "test"}
            )
        approval_issue(use_case=use_case, actor="test", **conditions)


def grant_alias(use_case: UseCase, alias: Alias) -> None:
    """Adds a model to an approved use case, with the board's approval of it."""
    use_case.aliases.add(alias)
    approve(use_case)


def issue_key(use_case: UseCase, environment: str = ApiKey.Environment.PRODUCTION, **kwargs) -> tuple[ApiKey, str]:
    return api_key_issue(use_case=use_case, name="test key", environment=environment, **kwargs)


# ---- agents ----


class ToolAllowanceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "agents.ToolAllowance"

    endpoint_prefix = factory.Sequence(lambda n: f"https://tools-{n}.example.com")
    classifications = factory.LazyFunction(lambda: ["public", "internal"])


class ToolFactory(factory.django.DjangoModelFactory):
    """A tool row as a LOB would register it (no allow-list check: attach it through the service
    to test that)."""

    class Meta:
        model = "agents.Tool"

    lob = factory.SubFactory(LobFactory)
    name = factory.Sequence(lambda n: f"tool_{n}")
    description = "Looks something up."
    parameters = factory.LazyFunction(lambda: {"type": "object", "properties": {"query": {"type": "string"}}})
    endpoint_url = factory.Sequence(lambda n: f"https://tools-{n}.example.com/lookup")


class AgentFactory(factory.django.DjangoModelFactory):
    """An agent on its use case's first alias; `tools=[...]` attaches tools without the service's checks."""

    class Meta:
        model = "agents.Agent"
        skip_postgeneration_save = True

    use_case = factory.SubFactory(UseCaseFactory, aliases=factory.LazyFunction(lambda: [AliasFactory()]))
    lob = factory.SelfAttribute("use_case.lob")
    slug = factory.Sequence(lambda n: f"agent-{n}")
    instructions = "You help with customer questions."
    alias = factory.LazyAttribute(lambda agent: agent.use_case.aliases.first())

    @factory.post_generation
    def tools(self, create, extracted, **kwargs):
        if create and extracted:
            self.tools.set(extracted)


# ---- vector stores ----


def embedding_alias(name: str = "", dimensions: int = 384) -> Alias:
    """A sandbox embedding alias the central team approved for any data classification (hashed
    bag-of-words vectors, so retrieval in tests depends on shared words, like a real model's)."""
    from governance.models import ModelApproval
    from lob_tenants.models import DataClassification

    model = CatalogModelFactory(supports_embeddings=True, supports_tools=False)
    deployment = DeploymentFactory(model=model, provider_model_id=f"sandbox-embed-{dimensions}")
    alias = AliasFactory(name=name or f"embed-{model.pk}", deployments=[deployment])
    ModelApproval.objects.update_or_create(
        alias=alias, defaults={"classifications": list(DataClassification.values), "approved_by": "test"}
    )
    return alias


def vector_store(lob: Lob | None = None, *, ingestion_use_case: UseCase | None = None, **kwargs) -> VectorStore:
    """A store registered through the service (its collection exists in the `vector_db` fixture's
    server); paid for by a use case of its LOB that may use its embedding alias."""
    from lob_tenants.vector_stores.services import vector_store_create

    if ingestion_use_case is None:
        ingestion_use_case = UseCaseFactory(lob=lob or LobFactory())
    lob = ingestion_use_case.lob
    alias = kwargs.pop("embedding_alias", None) or embedding_alias()
    ingestion_use_case.aliases.add(alias)
    kwargs.setdefault("slug", f"store-{VectorStore.objects.count() + 1}")
    kwargs.setdefault("name", kwargs["slug"].replace("-", " ").title())
    kwargs.setdefault("dimensions", 384)
    return vector_store_create(
        lob=lob, actor=None, embedding_alias=alias, ingestion_use_case=ingestion_use_case, **kwargs
    )


def usage_event(use_case: UseCase, **fields) -> dict:
    """A buffered usage event as the inference core hands it to the ledger (`usage_record`)."""
    return {
        "request_id": f"req_{uuid.uuid4().hex}",
        "occurred_at": dt.datetime.now(dt.UTC).isoformat(),
        "lob_id": use_case.lob_id,
        "lob_slug": use_case.lob.slug,
        "use_case_id": use_case.pk,
        "api_key_id": None,
        "key_prefix": "abc",
        "endpoint": "chat",
        "alias": "chat",
        "deployment": "sandbox-small",
        "provider": "sandbox",
        "input_tokens": 10,
        "output_tokens": 5,
        "cost": "0.0001",
        "status": "success",
        **fields,
    }
