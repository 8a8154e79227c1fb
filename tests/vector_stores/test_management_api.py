"""The vector-store management API (`/api/v1/lobs/<lob>/vector-stores/`): registering a store,
uploading documents (multipart and JSON) and following the job's progress, deleting documents,
grounding and sharing; another LOB's store is a 404, a viewer only reads, chunk text never leaves."""

from __future__ import annotations

import base64
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, TestCase

from genai_platform.access import services as access_services
from genai_platform.access.enforcer import policy_enforcer
from genai_platform.audit.models import AuditEvent
from lob_tenants import selectors as tenant_selectors
from lob_tenants.models import Lob, UseCase
from lob_tenants.vector_stores.backends import backend_for
from lob_tenants.vector_stores.models import Document, Grounding, VectorStore
from lob_tenants.vector_stores.selectors import collection_of
from lob_tenants.vector_stores.services import Upload, documents_ingest
from tests.factories import LobFactory, UseCaseFactory, UserFactory, embedding_alias, vector_store

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("vector_db")]

API = "/api/v1/lobs"
REFUNDS = (
    "# Refund policy\n\nCustomers may return any unopened product within 30 days of delivery for a full refund.\n"
    "Opened products can be exchanged within 14 days but are not refunded.\n"
)
WARRANTY = "Every appliance carries a two-year warranty against manufacturing defects."


def member(lob: Lob, role: str):
    user = UserFactory()
    access_services.membership_set(lob=lob, user=user, role=role)
    policy_enforcer().reload()  # the commit hook that announces the role does not run in a test transaction
    return user


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post(client: Client, url: str, body: dict | None = None):
    return client.post(url, json.dumps(body or {}), content_type="application/json")


def eagerly():
    """The ingestion tasks run when the upload commits, as a worker would run them."""
    return TestCase.captureOnCommitCallbacks(execute=True)


def chunks(store: VectorStore, document_id: str | None = None) -> int:
    return backend_for(store.backend, store.connection).count(collection_of(store), document_id)


@pytest.fixture
def store():
    return vector_store(LobFactory(slug="retail"), slug="policies", chunk_size=200, chunk_overlap=40)


@pytest.fixture
def admin(store):
    return signed_in(member(store.lob, "lob_admin"))


@pytest.fixture
def developer(store):
    return signed_in(member(store.lob, "lob_developer"))


def store_url(store: VectorStore, tail: str = "") -> str:
    return f"{API}/{store.lob.slug}/vector-stores/{store.slug}/{tail}"


def upload_json(client: Client, store: VectorStore, *documents: dict):
    with eagerly():
        return post(client, store_url(store, "documents/upload/"), {"documents": list(documents)})


# ---- stores ----


def test_a_developer_registers_a_store_by_alias_name_and_use_case_slug(store, developer):
    alias = embedding_alias(name="embed-small")
    body = {
        "slug": "handbook",
        "name": "Staff handbook",
        "embedding_alias": "embed-small",
        "dimensions": 384,
        "ingestion_use_case": store.ingestion_use_case.slug,
        "data_classification": "confidential",
    }

    response = post(developer, f"{API}/retail/vector-stores/create/", body)

    assert response.status_code == 201, response.content
    created = VectorStore.objects.get(lob=store.lob, slug="handbook")
    assert response.json()["id"] == created.public_id
    assert (created.embedding_alias, created.data_classification) == (alias, "confidential")
    assert (response.json()["document_count"], response.json()["chunk_total"], response.json()["latest_job"]) == (
        0,
        0,
        None,
    )
    assert AuditEvent.objects.filter(action="vector_store.created", object_id=str(created.pk)).exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"embedding_alias": "no-such-alias"}, "embedding_alias"),
        ({"ingestion_use_case": "no-such-use-case"}, "ingestion_use_case"),
        ({"chunk_size": 200, "chunk_overlap": 300}, "chunk_overlap"),
        ({"connection": "postgres://user:secret@db/vectors"}, "connection"),
        ({"data_classification": "top-secret"}, "data_classification"),
        ({"slug": "create"}, "slug"),
    ],
)
def test_an_invalid_store_is_a_400_naming_its_field_and_creates_nothing(store, developer, change, field):
    embedding_alias(name="embed-small")
    body = {
        "slug": "handbook",
        "name": "Staff handbook",
        "embedding_alias": "embed-small",
        "dimensions": 384,
        "ingestion_use_case": store.ingestion_use_case.slug,
        **change,
    }

    response = post(developer, f"{API}/retail/vector-stores/create/", body)

    assert response.status_code == 400
    assert field in response.json()
    assert not VectorStore.objects.filter(slug=body["slug"]).exclude(pk=store.pk).exists()


def test_another_lobs_use_case_cannot_pay_for_ingestion(store, developer):
    embedding_alias(name="embed-small")
    foreign = UseCaseFactory(lob=LobFactory(slug="wealth"), slug="advisor")
    body = {
        "slug": "handbook",
        "name": "Handbook",
        "embedding_alias": "embed-small",
        "dimensions": 384,
        "ingestion_use_case": foreign.slug,
    }

    response = post(developer, f"{API}/retail/vector-stores/create/", body)

    assert response.status_code == 400 and "ingestion_use_case" in response.json()


def test_the_list_and_detail_show_totals_and_the_latest_job(store, developer):
    upload_json(developer, store, {"id": "refunds", "text": REFUNDS, "filename": "refunds.md"})

    listed = developer.get(f"{API}/retail/vector-stores/").json()
    detail = developer.get(store_url(store)).json()

    assert [row["slug"] for row in listed["results"]] == ["policies"]
    assert detail["document_count"] == 1
    assert detail["chunk_total"] == chunks(store) >= 1
    assert detail["latest_job"]["status"] == "succeeded"


def test_deleting_a_store_drops_its_chunks(store, admin):
    upload_json(admin, store, {"id": "warranty", "text": WARRANTY})

    response = post(admin, store_url(store, "delete/"))

    assert response.status_code == 204
    assert not VectorStore.objects.filter(pk=store.pk).exists()


# ---- documents and their ingestion ----


def test_a_multipart_upload_is_accepted_and_its_job_finishes_with_every_document(store, developer):
    files = [
        SimpleUploadedFile("refunds.md", REFUNDS.encode(), content_type="text/markdown"),
        SimpleUploadedFile("warranty.txt", WARRANTY.encode(), content_type="text/plain"),
    ]
    form = {
        "file": files,
        "id": ["refunds", "warranty"],
        "title": ["Refund policy", "Warranty"],
        "attributes": [json.dumps({"team": "billing"}), json.dumps({"team": "support"})],
    }

    with eagerly():
        accepted = developer.post(store_url(store, "documents/upload/"), form)
    job = developer.get(store_url(store, f"jobs/{accepted.json()['id']}/")).json()

    assert accepted.status_code == 202, accepted.content
    assert accepted.json()["documents_total"] == 2
    assert (job["status"], job["documents_done"], job["documents_processed"], job["failures"]) == (
        "succeeded",
        2,
        2,
        [],
    )
    assert job["chunks_written"] == chunks(store) and job["finished_at"] is not None
    warranty = Document.objects.get(store=store, external_id="warranty")
    assert (warranty.title, warranty.attributes, warranty.status) == ("Warranty", {"team": "support"}, "ready")


def test_a_multipart_file_without_an_id_is_named_after_its_file(store, developer):
    with eagerly():
        accepted = developer.post(
            store_url(store, "documents/upload/"), {"file": SimpleUploadedFile("warranty.txt", WARRANTY.encode())}
        )

    assert accepted.status_code == 202, accepted.content
    assert Document.objects.filter(store=store, external_id="warranty.txt", status="ready").exists()


def test_metadata_given_for_some_files_only_is_refused(store, developer):
    files = [SimpleUploadedFile("a.txt", b"Alpha text."), SimpleUploadedFile("b.txt", b"Beta text.")]

    response = developer.post(store_url(store, "documents/upload/"), {"file": files, "id": ["only-one"]})

    assert response.status_code == 400 and "id" in response.json()
    assert not Document.objects.filter(store=store).exists()


def test_a_json_upload_takes_text_and_base64_content(store, developer):
    accepted = upload_json(
        developer,
        store,
        {"id": "refunds", "text": REFUNDS, "filename": "refunds.md", "title": "Refund policy", "version": 3},
        {
            "id": "warranty",
            "content_base64": base64.b64encode(WARRANTY.encode()).decode(),
            "filename": "w.txt",
            "source": "https://intranet.example/warranty",
            "attributes": {"year": 2024},
        },
    )

    assert accepted.status_code == 202, accepted.content
    job = developer.get(store_url(store, f"jobs/{accepted.json()['id']}/")).json()
    assert (job["status"], job["documents_done"]) == ("succeeded", 2)
    listed = {row["id"]: row for row in developer.get(store_url(store, "documents/")).json()["results"]}
    assert (listed["refunds"]["version"], listed["refunds"]["content_type"]) == (3, "text/markdown")
    assert (listed["warranty"]["source"], listed["warranty"]["attributes"]) == (
        "https://intranet.example/warranty",
        {"year": 2024},
    )


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"id": "both", "text": "Hi", "content_base64": "SGk="}, "text"),
        ({"id": "neither"}, "text"),
        ({"id": "garbled", "content_base64": "not base64!", "filename": "x.txt"}, "content_base64"),
        ({"id": "binary", "text": "Hi", "filename": "slides.pptx"}, "file"),
    ],
)
def test_an_invalid_json_document_refuses_the_whole_upload(store, developer, document, field):
    response = upload_json(developer, store, {"id": "fine", "text": WARRANTY}, document)

    assert response.status_code == 400
    assert field in json.dumps(response.json())
    assert not Document.objects.filter(store=store).exists()


def test_uploading_the_same_content_again_counts_it_unchanged(store, developer):
    document = {"id": "refunds", "text": REFUNDS, "filename": "refunds.md"}
    upload_json(developer, store, document)
    written = chunks(store)

    again = upload_json(developer, store, document)

    assert again.status_code == 202
    assert (again.json()["documents_unchanged"], again.json()["documents_done"], again.json()["status"]) == (
        1,
        0,
        "succeeded",
    )
    assert chunks(store) == written
    assert Document.objects.get(store=store, external_id="refunds").version == 1


def test_the_job_list_shows_every_upload_newest_first(store, developer):
    first = upload_json(developer, store, {"id": "warranty", "text": WARRANTY}).json()["id"]
    second = upload_json(developer, store, {"id": "refunds", "text": REFUNDS}).json()["id"]

    jobs = developer.get(store_url(store, "jobs/")).json()

    assert jobs["count"] == 2
    assert {job["id"] for job in jobs["results"]} == {first, second}


def test_deleting_a_document_removes_its_chunks_and_says_how_many(store, developer):
    upload_json(developer, store, {"id": "manuals/refunds.md", "text": REFUNDS}, {"id": "warranty", "text": WARRANTY})
    before = chunks(store, "manuals/refunds.md")

    response = post(developer, store_url(store, "documents/manuals/refunds.md/delete/"))

    assert response.status_code == 200, response.content
    assert response.json() == {"id": "manuals/refunds.md", "chunks_removed": before}
    assert before >= 1 and chunks(store, "manuals/refunds.md") == 0
    assert chunks(store, "warranty") == 1
    assert post(developer, store_url(store, "documents/manuals/refunds.md/delete/")).status_code == 404


def test_no_management_response_carries_chunk_text(store, developer):
    accepted = upload_json(developer, store, {"id": "warranty", "text": WARRANTY})
    job_id = accepted.json()["id"]

    pages = [
        developer.get(store_url(store)),
        developer.get(store_url(store, "documents/")),
        developer.get(store_url(store, "jobs/")),
        developer.get(store_url(store, f"jobs/{job_id}/")),
        developer.get(f"{API}/retail/vector-stores/"),
    ]

    assert all(page.status_code == 200 for page in pages)
    assert not any("two-year warranty" in page.content.decode() for page in pages)


# ---- who may do what ----


def test_another_lobs_store_is_not_found_like_an_unknown_one(store):
    theirs = vector_store(LobFactory(slug="wealth"), slug="research")
    upload = Upload(external_id="notes", filename="notes.txt", content=WARRANTY.encode())
    with eagerly():
        job = documents_ingest(store=theirs, uploads=[upload], actor=None)
    client = signed_in(member(store.lob, "lob_admin"))

    foreign = [
        client.get(f"{API}/retail/vector-stores/research/"),
        client.get(f"{API}/retail/vector-stores/research/documents/"),
        client.get(f"{API}/retail/vector-stores/policies/jobs/{job.pk}/"),
        post(client, f"{API}/retail/vector-stores/research/delete/"),
        post(client, f"{API}/retail/vector-stores/policies/documents/notes/delete/"),
        client.get(f"{API}/wealth/vector-stores/research/"),
    ]
    unknown = client.get(f"{API}/retail/vector-stores/no-such-store/")

    assert [response.status_code for response in foreign] == [404] * len(foreign)
    assert all(response.content == unknown.content for response in foreign)
    assert VectorStore.objects.filter(pk=theirs.pk).exists() and chunks(theirs) == 1


def test_a_viewer_reads_but_cannot_write(store):
    viewer = signed_in(member(store.lob, "lob_viewer"))
    embedding_alias(name="embed-small")

    writes = [
        post(
            viewer,
            f"{API}/retail/vector-stores/create/",
            {"slug": "x", "name": "X", "embedding_alias": "embed-small", "dimensions": 384, "ingestion_use_case": "x"},
        ),
        post(viewer, store_url(store, "documents/upload/"), {"documents": [{"id": "a", "text": WARRANTY}]}),
        post(viewer, store_url(store, "documents/a/delete/")),
        post(viewer, store_url(store, "groundings/attach/"), {"use_case": store.ingestion_use_case.slug}),
        post(viewer, store_url(store, "delete/")),
        post(viewer, store_url(store, "share/"), {"use_case": "wealth/advisor"}),
    ]

    assert viewer.get(store_url(store)).status_code == 200
    assert [response.status_code for response in writes] == [403] * len(writes)
    assert not Document.objects.filter(store=store).exists()


# ---- grounding and sharing ----


def test_a_use_case_of_the_lob_is_grounded_and_detached(store, developer):
    use_case = UseCaseFactory(lob=store.lob, slug="assistant", status=UseCase.Status.DRAFT)

    attached = post(developer, store_url(store, "groundings/attach/"), {"use_case": "assistant", "top_k": 6})
    changed = post(developer, store_url(store, "groundings/attach/"), {"use_case": "assistant", "top_k": 2})
    detail = developer.get(store_url(store)).json()

    assert (attached.status_code, changed.status_code) == (201, 200)
    assert detail["groundings"][0]["use_case"] == "retail/assistant" and detail["groundings"][0]["top_k"] == 2
    assert post(developer, store_url(store, "groundings/detach/"), {"use_case": "assistant"}).status_code == 204
    assert not Grounding.objects.filter(use_case=use_case).exists()
    assert post(developer, store_url(store, "groundings/detach/"), {"use_case": "assistant"}).status_code == 400


def test_a_use_case_of_another_lob_cannot_be_grounded_through_this_lob(store, developer):
    UseCaseFactory(lob=LobFactory(slug="wealth"), slug="advisor")

    response = post(developer, store_url(store, "groundings/attach/"), {"use_case": "advisor"})

    assert response.status_code == 400 and "use_case" in response.json()


def test_a_store_holding_more_sensitive_data_than_the_use_case_is_refused(developer):
    secret = vector_store(Lob.objects.get(slug="retail"), slug="secrets", data_classification="restricted")
    UseCaseFactory(lob=secret.lob, slug="public-bot", data_classification="public", status=UseCase.Status.DRAFT)

    response = post(developer, store_url(secret, "groundings/attach/"), {"use_case": "public-bot"})

    assert response.status_code == 400 and "store" in response.json()


def test_an_admin_shares_a_store_with_another_lobs_use_case_and_withdraws_it(store, admin):
    partner = UseCaseFactory(lob=LobFactory(slug="wealth"), slug="advisor")
    url = store_url(store)

    shared = post(admin, url + "share/", {"use_case": "wealth/advisor"})
    partner.refresh_from_db()  # sharing gave it its grant group
    readable_while_shared = tenant_selectors.use_case_can_read(partner, store, store.lob_id)
    unshared = post(admin, url + "unshare/", {"use_case": "wealth/advisor"})
    again = post(admin, url + "unshare/", {"use_case": "wealth/advisor"})

    assert shared.status_code == 201, shared.content
    assert shared.json() == {"store": store.public_id, "use_case": "wealth/advisor"}
    assert readable_while_shared
    assert unshared.status_code == 204
    assert not tenant_selectors.use_case_can_read(partner, store, store.lob_id)
    assert again.status_code == 400


def test_a_developer_cannot_share_a_store(store, developer):
    UseCaseFactory(lob=LobFactory(slug="wealth"), slug="advisor")

    response = post(developer, store_url(store, "share/"), {"use_case": "wealth/advisor"})

    assert response.status_code == 403
