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
from lob_tenants.vector_stores.models import Document, IngestionJob, VectorStore
from lob_tenants.vector_stores.selectors import collection_of
from lob_tenants.vector_stores.services import Upload, documents_ingest
from tests.factories import LobFactory, UserFactory, embedding_alias, vector_store

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
        "lob": store.lob.pk, "slug": "handbook", "name": "Staff handbook", "description": "",
        "embedding_alias": alias.pk, "dimensions": 384, "metric": "cosine", "data_classification": "internal",
        "ingestion_use_case": store.ingestion_use_case.pk, "backend": "pgvector", "connection": "",
        "chunk_size": 800, "chunk_overlap": 120, **changes,
    }  # fmt: skip


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
