"""Agents grounded in vector stores: which stores an agent may have, the material change, and a run
that answers from its stores with a citation (the sandbox answers grounded prompts extractively)."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.test import Client, TestCase

from genai_platform.access import services as access_services
from genai_platform.audit.models import AuditEvent
from genai_platform.inference.principal import key_principal
from governance.models import Review
from governance.services.workflow import intake_save
from lob_tenants.agents.models import AgentRun, AgentStep
from lob_tenants.agents.services import agent_run_create, agent_run_execute, agent_save
from lob_tenants.models import UseCase
from lob_tenants.vector_stores.services import Upload, documents_ingest, vector_store_share, vector_store_unshare
from tests.factories import AliasFactory, LobFactory, UseCaseFactory, UserFactory, issue_key, vector_store
from tests.governance.flows import LOW_RISK

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("vector_db")]

REFUNDS = """# Refund policy

Customers may return any unopened product within 30 days of delivery for a full refund.
Opened products can be exchanged within 14 days but are not refunded.
"""
WARRANTY = "Every appliance carries a two-year warranty against manufacturing defects."


@pytest.fixture
def builder():
    return UserFactory(username="builder")


@pytest.fixture
def use_case(builder):
    use_case = UseCaseFactory(aliases=[AliasFactory(name="agent-model")])
    intake_save(use_case=use_case, actor=builder, **LOW_RISK)
    return use_case


@pytest.fixture
def store(use_case):
    store = vector_store(use_case.lob, chunk_size=200, chunk_overlap=40)
    uploads = [
        Upload(external_id="refunds", filename="refunds.md", content=REFUNDS.encode(), title="Refund policy"),
        Upload(external_id="warranty", filename="warranty.txt", content=WARRANTY.encode(), title="Warranty"),
    ]
    with TestCase.captureOnCommitCallbacks(execute=True):  # the ingestion tasks run eagerly at commit
        documents_ingest(store=store, uploads=uploads, actor=None)
    return store


@pytest.fixture
def foreign_store():
    return vector_store(LobFactory())


def save_agent(use_case, actor, vector_stores=None, **extra):
    return agent_save(
        lob=use_case.lob,
        slug="helper",
        use_case=use_case,
        alias=use_case.aliases.get(),
        instructions="Answer customers' questions.",
        vector_stores=vector_stores,
        actor=actor,
        **extra,
    )


def run_agent(agent, question: str) -> AgentRun:
    _, key = issue_key(agent.use_case)
    run = agent_run_create(
        agent=agent,
        principal=key_principal(key),
        request_id="req_grounded",
        messages=[{"role": "user", "content": question}],
    )
    agent_run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


def test_an_agent_with_a_store_answers_with_a_citation_of_the_chunk_that_holds_it(use_case, store, builder):
    agent = save_agent(use_case, builder, [store])

    run = run_agent(agent, "How many days do customers have to return an unopened product?")

    assert run.status == AgentRun.Status.SUCCEEDED, run.error
    retrieval, model = run.steps.order_by("index")
    assert (retrieval.kind, retrieval.outcome) == (AgentStep.Kind.RETRIEVAL, AgentStep.Outcome.OK)
    assert retrieval.inputs["vector_stores"] == [store.public_id]
    assert "30 days" in run.output
    cited = int(run.output.rsplit("[", 1)[1].rstrip("]"))
    source = next(s for s in retrieval.outputs["sources"] if s["index"] == cited)
    assert source["document_id"] == "refunds" and "30 days" in source["text"]
    assert source["vector_store_id"] == store.public_id
    assert model.kind == AgentStep.Kind.MODEL
    assert all(m["role"] != "system" for m in model.inputs["input"])  # the sources are the retrieval step's


def test_an_agent_without_stores_runs_without_a_retrieval_step(use_case, builder):
    run = run_agent(save_agent(use_case, builder), "How many days for a refund?")

    assert [s.kind for s in run.steps.order_by("index")] == [AgentStep.Kind.MODEL]


def test_a_store_of_another_lob_that_was_not_shared_is_refused(use_case, foreign_store, builder):
    with pytest.raises(ValidationError, match=f"may not read these vector stores: {foreign_store.public_id}"):
        save_agent(use_case, builder, [foreign_store])

    assert not use_case.agents.exists()


def owner_admin(store):
    admin = UserFactory()
    access_services.membership_set(lob=store.lob, user=admin, role="lob_admin")
    from genai_platform.access.enforcer import policy_enforcer

    policy_enforcer().reload()
    return admin


def test_a_store_shared_with_the_use_case_is_accepted_and_dropped_from_runs_once_unshared(
    use_case, foreign_store, builder
):
    admin = owner_admin(foreign_store)
    vector_store_share(store=foreign_store, use_case=use_case, actor=admin)
    agent = save_agent(use_case, builder, [foreign_store])
    assert list(agent.vector_stores.all()) == [foreign_store]

    vector_store_unshare(store=foreign_store, use_case=use_case, actor=admin)
    run = run_agent(agent, "How long is the warranty?")

    assert run.status == AgentRun.Status.SUCCEEDED, run.error
    assert not run.steps.filter(kind=AgentStep.Kind.RETRIEVAL).exists()


def test_adding_a_store_to_an_agent_of_an_approved_use_case_sends_it_back_to_review(use_case, store, builder):
    agent = save_agent(use_case, builder)
    assert UseCase.objects.get(pk=use_case.pk).status == UseCase.Status.APPROVED

    save_agent(use_case, builder, [store], agent=agent)

    assert UseCase.objects.get(pk=use_case.pk).status == UseCase.Status.SUBMITTED
    assert Review.objects.filter(use_case=use_case, material_change=True).exists()
    change = AuditEvent.objects.get(action="use_case.material_change")
    assert store.public_id in change.after["changed"]
    updated = AuditEvent.objects.get(action="agent.updated", object_id=str(agent.pk))
    assert updated.after["vector_stores"] == [store.public_id]


def test_keeping_its_stores_is_no_material_change(use_case, store, builder):
    agent = save_agent(use_case, builder, [store], description="v1")
    use_case.refresh_from_db()
    use_case.status = UseCase.Status.APPROVED  # as if the board had approved the change
    use_case.save(update_fields=["status"])

    save_agent(use_case, builder, agent=agent, description="v2")  # vector_stores None keeps them

    assert UseCase.objects.get(pk=use_case.pk).status == UseCase.Status.APPROVED
    assert list(agent.vector_stores.all()) == [store]


def test_the_management_api_takes_and_shows_store_ids(use_case, store, foreign_store):
    admin = owner_admin(store)
    client = Client()
    client.force_login(admin)
    url = f"/api/v1/lobs/{use_case.lob.slug}/agents/create/"
    body = {
        "slug": "helper",
        "instructions": "Help.",
        "use_case": use_case.slug,
        "alias": "agent-model",
        "vector_stores": [store.public_id],
    }

    created = client.post(url, json.dumps(body), content_type="application/json")
    refused = client.post(
        url,
        json.dumps({**body, "slug": "other", "vector_stores": [foreign_store.public_id]}),
        content_type="application/json",
    )

    assert created.status_code == 201, created.content
    assert created.json()["vector_stores"] == [store.public_id]
    assert refused.status_code == 400 and foreign_store.public_id in refused.content.decode()
