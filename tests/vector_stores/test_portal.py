"""Vector stores in the portal: registering a store through the service, uploading documents on the
store's upload page and following the job, deleting a store with its documents; pages show
metadata only, never chunk text. Who opens which page is in tests/access/test_portal.py."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase
from django.urls import reverse

from genai_platform.access import services as access_services
from genai_platform.audit.models import AuditEvent
from governance.models import ModelApproval
from lob_tenants.vector_stores.backends import backend_for
from lob_tenants.vector_stores.models import Document, Grounding, IngestionJob, VectorStore
from lob_tenants.vector_stores.selectors import collection_of, store_grants
from lob_tenants.vector_stores.services import Upload, documents_ingest
from tests.factories import LobFactory, UseCaseFactory, UserFactory, embedding_alias, vector_store

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("vector_db")]

WARRANTY = "Every appliance carries a two-year warranty against manufacturing defects."
REFUNDS = "Customers may return any unopened product within 30 days of delivery for a full refund."


def committed(service, **kwargs):
    with TestCase.captureOnCommitCallbacks(execute=True):  # role changes reload the policy after commit
        return service(**kwargs)


@pytest.fixture
def store():
    return vector_store(LobFactory(slug="retail"), slug="policies")


@pytest.fixture
def developer(client, store):
    user = UserFactory(is_staff=True)
    committed(access_services.membership_set, lob=store.lob, user=user, role="lob_developer")
    client.force_login(user)
    return client


def store_form(store: VectorStore, alias, **changes) -> dict:
    return {
        "lob": store.lob.pk,
        "slug": "handbook",
        "name": "Staff handbook",
        "description": "",
        "embedding_alias": alias.pk,
        "dimensions": 384,
        "metric": "cosine",
        "data_classification": "internal",
        "ingestion_use_case": store.ingestion_use_case.pk,
        "backend": "pgvector",
        "connection": "",
        "chunk_size": 800,
        "chunk_overlap": 120,
        **changes,
    }


def test_a_developer_registers_a_store_through_the_service(developer, store):
    alias = embedding_alias(name="embed-portal")

    response = developer.post(reverse("admin:vector_stores_vectorstore_add"), store_form(store, alias))

    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    created = VectorStore.objects.get(lob=store.lob, slug="handbook")
    assert created.embedding_alias == alias
    assert backend_for(created.backend, created.connection).count(collection_of(created)) == 0  # its collection exists
    assert AuditEvent.objects.filter(action="vector_store.created", object_id=str(created.pk)).exists()


def test_the_form_shows_the_services_refusal_instead_of_saving(developer, store):
    alias = embedding_alias(name="embed-portal")
    ModelApproval.objects.filter(alias=alias).update(classifications=["public"])

    response = developer.post(reverse("admin:vector_stores_vectorstore_add"), store_form(store, alias))

    assert response.status_code == 200
    assert "not approved for internal data" in response.content.decode()
    assert not VectorStore.objects.filter(slug="handbook").exists()


def test_uploaded_files_are_ingested_and_the_job_page_shows_their_progress(developer, store):
    files = [SimpleUploadedFile("warranty.txt", WARRANTY.encode()), SimpleUploadedFile("refunds.txt", REFUNDS.encode())]

    with TestCase.captureOnCommitCallbacks(execute=True):
        response = developer.post(
            reverse("admin:vector_stores_vectorstore_upload", args=[store.pk]),
            {"files": files, "attributes": '{"team": "support"}'},
        )

    job = IngestionJob.objects.get(store=store)
    assert response.status_code == 302 and response.url == reverse(
        "admin:vector_stores_ingestionjob_change", args=[job.pk]
    )
    job_page = developer.get(response.url).content.decode()
    store_page = developer.get(reverse("admin:vector_stores_vectorstore_change", args=[store.pk])).content.decode()
    assert job.status == "succeeded" and "2/2" in job_page
    assert "2 ready" in store_page and f"#{job.pk}" in store_page
    assert Document.objects.get(store=store, external_id="warranty.txt").attributes == {"team": "support"}
    assert "two-year warranty" not in job_page + store_page


def test_an_upload_the_service_refuses_is_shown_on_the_form(developer, store):
    response = developer.post(
        reverse("admin:vector_stores_vectorstore_upload", args=[store.pk]),
        {"files": [SimpleUploadedFile("deck.pptx", b"binary", content_type="application/octet-stream")]},
    )

    assert response.status_code == 200
    assert "unsupported content type" in response.content.decode()
    assert not IngestionJob.objects.filter(store=store).exists()


def test_deleting_a_store_with_documents_takes_them_with_it(developer, store):
    with TestCase.captureOnCommitCallbacks(execute=True):
        documents_ingest(
            store=store, uploads=[Upload(external_id="w", filename="w.txt", content=WARRANTY.encode())], actor=None
        )

    response = developer.post(reverse("admin:vector_stores_vectorstore_delete", args=[store.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not VectorStore.objects.filter(pk=store.pk).exists()
    assert not Document.objects.filter(external_id="w").exists()
    assert AuditEvent.objects.filter(action="vector_store.deleted").exists()


def test_a_developer_deletes_a_document_and_its_chunks_through_the_service(developer, store):
    with TestCase.captureOnCommitCallbacks(execute=True):
        documents_ingest(
            store=store, uploads=[Upload(external_id="w", filename="w.txt", content=WARRANTY.encode())], actor=None
        )
    document = Document.objects.get(store=store, external_id="w")
    backend = backend_for(store.backend, store.connection)
    assert backend.count(collection_of(store)) > 0

    response = developer.post(reverse("admin:vector_stores_document_delete", args=[document.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not Document.objects.filter(pk=document.pk).exists()
    assert backend.count(collection_of(store)) == 0
    assert AuditEvent.objects.get(action="vector_store.document_deleted").before["document"] == "w"


def links(client, store, form: str, **data):
    return client.post(reverse("admin:vector_stores_vectorstore_links", args=[store.pk]), {"portal_form": form, **data})


def draft_use_case(store: VectorStore):
    return UseCaseFactory(lob=store.lob, status="draft", data_classification=store.data_classification)


def test_a_developer_grounds_a_use_case_in_the_store_and_detaches_it(developer, store):
    use_case = draft_use_case(store)

    attached = links(developer, store, "attach", use_case=use_case.pk, top_k=3, score_threshold=0.2)
    grounding = Grounding.objects.get(store=store, use_case=use_case)
    detached = links(developer, store, "detach", use_case=use_case.pk)

    assert attached.status_code == 302 and (grounding.top_k, grounding.score_threshold) == (3, 0.2)
    assert detached.status_code == 302 and not Grounding.objects.filter(store=store).exists()
    actions = list(
        AuditEvent.objects.filter(action__startswith="grounding.").order_by("pk").values_list("action", flat=True)
    )
    assert actions == ["grounding.attached", "grounding.detached"]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"top_k": 0}, "top_k", "greater than or equal to 1"),
        ({"top_k": 51}, "top_k", "less than or equal to 50"),
        ({"score_threshold": "high"}, "score_threshold", "Enter a number"),
        ({"use_case": ""}, "use_case", "This field is required"),
    ],
)
def test_bad_grounding_input_is_shown_on_its_field_and_nothing_is_written(developer, store, data, field, message):
    form = {"use_case": draft_use_case(store).pk, "top_k": 4, "score_threshold": 0.0, **data}

    response = links(developer, store, "attach", **form)

    assert response.status_code == 200
    sections = {section.name: section.form for section in response.context["sections"]}
    assert message in " ".join(sections["attach"].errors[field])
    assert not Grounding.objects.exists()


def test_the_services_refusal_is_shown_above_the_form_and_nothing_is_written(developer, store):
    approved_without_intake = store.ingestion_use_case  # grounding it is a material change: the intake is missing

    response = links(developer, store, "attach", use_case=approved_without_intake.pk, top_k=4, score_threshold=0)

    sections = {section.name: section.form for section in response.context["sections"]}
    assert "Complete the intake" in " ".join(sections["attach"].non_field_errors())
    assert not Grounding.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="grounding.").exists()


def test_another_lobs_use_case_cannot_be_grounded_here(developer, store):
    theirs = UseCaseFactory()

    response = links(developer, store, "attach", use_case=theirs.pk, top_k=4, score_threshold=0)

    assert response.status_code == 200 and not Grounding.objects.exists()


@pytest.fixture
def admin_client(client, store):
    user = UserFactory(is_staff=True)
    committed(access_services.membership_set, lob=store.lob, user=user, role="lob_admin")
    client.force_login(user)
    return client


def test_a_lob_admin_shares_the_store_with_another_lobs_use_case_and_withdraws_it(admin_client, store):
    partner = UseCaseFactory(lob=LobFactory(slug="partner"), slug="assistant")

    with TestCase.captureOnCommitCallbacks(execute=True):
        shared = links(admin_client, store, "share", use_case="partner/assistant")
    page = admin_client.get(reverse("admin:vector_stores_vectorstore_change", args=[store.pk])).content.decode()
    with TestCase.captureOnCommitCallbacks(execute=True):
        withdrawn = links(admin_client, store, "unshare", use_case=partner.pk)

    assert shared.status_code == 302 and "partner/assistant" in page
    assert withdrawn.status_code == 302 and not store_grants(store).exists()


@pytest.mark.parametrize(("name", "message"), [("partner/nobody", "No such use case."), ("partner", "Name it as")])
def test_a_share_with_an_unknown_use_case_is_refused_on_its_field(admin_client, store, name, message):
    LobFactory(slug="partner")

    response = links(admin_client, store, "share", use_case=name)

    sections = {section.name: section.form for section in response.context["sections"]}
    assert message in " ".join(sections["share"].errors["use_case"])
    assert not store_grants(store).exists()


def test_a_developer_is_offered_no_share_form_and_may_not_post_one(developer, store):
    UseCaseFactory(lob=LobFactory(slug="partner"), slug="assistant")

    page = developer.get(reverse("admin:vector_stores_vectorstore_links", args=[store.pk]))

    assert [section.name for section in page.context["sections"]] == ["attach", "detach"]
    assert links(developer, store, "share", use_case="partner/assistant").status_code == 403
    assert not store_grants(store).exists()
