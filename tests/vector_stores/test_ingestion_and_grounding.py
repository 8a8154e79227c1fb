"""A LOB's vector store against a real pgvector server: documents are parsed, chunked, embedded
through the router and written; re-ingesting the same version changes nothing; a new version
replaces its chunks; deleting removes them; a grounded use case's answers cite the right chunk."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.test import Client, TestCase

from genai_platform import hotcache
from genai_platform.audit.models import AuditEvent
from genai_platform.ledger.services import usage_flush
from genai_platform.metering.models import UsageRecord
from governance.models import Review
from governance.services.workflow import intake_save
from lob_tenants.models import UseCase
from lob_tenants.vector_stores.backends import backend_for
from lob_tenants.vector_stores.models import Document, IngestionJob
from lob_tenants.vector_stores.selectors import GENERATION, collection_of
from lob_tenants.vector_stores.services import (
    Upload,
    document_delete,
    documents_ingest,
    grounding_attach,
)
from tests.factories import AliasFactory, UseCaseFactory, UserFactory, issue_key, vector_store
from tests.governance.flows import LOW_RISK
from tests.streaming import streamed_body

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("vector_db")]
CLIENT = Client()

REFUNDS = """# Refund policy

Customers may return any unopened product within 30 days of delivery for a full refund.
Opened products can be exchanged within 14 days but are not refunded.

## Shipping costs

Return shipping is free for members of the loyalty programme; others pay a flat fee of 4 euros.
"""
WARRANTY = (
    "<html><body><h1>Warranty</h1><p>Every appliance carries a two-year warranty against defects.</p>"
    "<script>var ignored = 'refund';</script></body></html>"
)


def ingest(store, *uploads: Upload):
    with TestCase.captureOnCommitCallbacks(execute=True):  # tasks run eagerly once the upload commits
        job = documents_ingest(store=store, uploads=uploads, actor=None)
    job.refresh_from_db()
    return job


def chunks(store, document_id=None) -> int:
    return backend_for(store.backend, store.connection).count(collection_of(store), document_id)


def refunds(**kwargs) -> Upload:
    return Upload(
        external_id="refunds", filename="refunds.md", content=REFUNDS.encode(), title="Refund policy", **kwargs
    )


def warranty() -> Upload:
    return Upload(external_id="warranty", filename="warranty.html", content=WARRANTY.encode(), title="Warranty")


@pytest.fixture
def store():
    return vector_store(chunk_size=200, chunk_overlap=40)


def test_ingestion_parses_chunks_and_writes_every_document_with_its_progress(store):
    job = ingest(store, refunds(), warranty())

    assert (job.status, job.documents_total, job.documents_done, job.documents_failed) == ("succeeded", 2, 2, 0)
    assert chunks(store, "refunds") >= 2  # 200-character chunks: the policy does not fit in one
    assert chunks(store, "warranty") == 1
    assert job.chunks_written == chunks(store)
    refunds_row = Document.objects.get(store=store, external_id="refunds")
    assert (refunds_row.status, refunds_row.version, refunds_row.content_type) == ("ready", 1, "text/markdown")


def test_html_is_read_as_its_visible_text(store):
    ingest(store, warranty())

    hits = backend_for(store.backend, store.connection).query(collection_of(store), [1.0] + [0.0] * 383, top_k=5)
    assert "two-year warranty" in hits[0].text
    assert "ignored" not in hits[0].text


def test_embeddings_are_metered_to_the_stores_ingestion_use_case(store):
    ingest(store, refunds())
    usage_flush(consumer="test")

    records = UsageRecord.objects.filter(use_case=store.ingestion_use_case, endpoint="embeddings")
    assert records.count() >= 1
    assert all(r.status == UsageRecord.Status.SUCCESS and r.input_tokens > 0 for r in records)


def test_reingesting_the_same_version_changes_nothing(store):
    ingest(store, refunds())
    before = list(Document.objects.filter(store=store).values("version", "sha256", "updated_at"))
    written = chunks(store)
    usage_flush(consumer="test")
    usage_before = UsageRecord.objects.count()

    again = ingest(store, refunds(version=1))
    unversioned = ingest(store, refunds())

    assert (again.documents_unchanged, again.documents_done, again.status) == (1, 0, "succeeded")
    assert unversioned.documents_unchanged == 1
    assert list(Document.objects.filter(store=store).values("version", "sha256", "updated_at")) == before
    assert chunks(store) == written
    usage_flush(consumer="test")
    assert UsageRecord.objects.count() == usage_before  # nothing was embedded again


def test_a_new_version_replaces_every_chunk_of_the_old_one(store):
    ingest(store, refunds())
    changed = Upload(external_id="refunds", filename="refunds.txt", content=b"Refunds are no longer offered.")

    job = ingest(store, changed)

    document = Document.objects.get(store=store, external_id="refunds")
    assert (job.documents_done, document.version, document.chunk_count) == (1, 2, 1)
    assert chunks(store, "refunds") == 1


def test_the_same_version_with_other_content_is_refused(store):
    ingest(store, refunds(version=3))

    with pytest.raises(Exception, match="version 3 was ingested with other content"):
        ingest(store, Upload(external_id="refunds", filename="r.txt", content=b"different", version=3))


def test_deleting_a_document_removes_every_chunk(store):
    ingest(store, refunds(), warranty())
    in_store = chunks(store, "refunds")

    removed = document_delete(document=Document.objects.get(store=store, external_id="refunds"), actor=None)

    assert removed == in_store > 0
    assert chunks(store, "refunds") == 0
    assert chunks(store, "warranty") == 1
    assert not Document.objects.filter(store=store, external_id="refunds").exists()


def test_an_unreadable_document_fails_alone_and_says_why(store):
    broken = Upload(external_id="scan", filename="scan.pdf", content=b"%PDF-1.4 not really a pdf")

    job = ingest(store, broken, warranty())

    assert (job.status, job.documents_done, job.documents_failed) == ("partial", 1, 1)
    failed = Document.objects.get(store=store, external_id="scan")
    assert failed.status == "failed" and "PDF" in failed.error


def test_an_unsupported_file_type_refuses_the_whole_batch(store):
    with pytest.raises(Exception, match="unsupported content type"):
        ingest(store, warranty(), Upload(external_id="sheet", filename="sheet.xlsx", content=b"PK\x03\x04"))
    assert not IngestionJob.objects.filter(store=store).exists()


# ---- grounded chat completions ----


@pytest.fixture
def grounded_key(store):
    ingest(store, refunds(), warranty())
    use_case = UseCaseFactory(lob=store.lob, aliases=[AliasFactory(name="chat"), store.embedding_alias])
    builder = UserFactory()
    intake_save(use_case=use_case, actor=builder, **LOW_RISK)
    with TestCase.captureOnCommitCallbacks(execute=True):
        grounding_attach(use_case=use_case, store=store, actor=builder, top_k=3)
    _, token = issue_key(use_case)
    return token


def ask(token: str, question: str, **extra) -> dict:
    body = {"model": "chat", "messages": [{"role": "user", "content": question}], **extra}
    response = CLIENT.post(
        "/v1/chat/completions", json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    return response


def test_a_grounded_answer_cites_the_chunk_that_holds_it(grounded_key):
    response = ask(grounded_key, "How many days do customers have to return an unopened product?")

    assert response.status_code == 200, response.content
    document = response.json()
    answer = document["choices"][0]["message"]["content"]
    assert "30 days" in answer
    cited = int(answer.rsplit("[", 1)[1].rstrip("]"))
    source = next(s for s in document["sources"] if s["index"] == cited)
    assert source["document_id"] == "refunds" and "30 days" in source["text"]
    assert source["vector_store_id"].startswith("vs_")


def test_a_question_the_documents_do_not_answer_gets_no_invented_answer(grounded_key):
    answer = ask(grounded_key, "Quelle est la capitale du Pérou ?").json()["choices"][0]["message"]["content"]

    assert "don't know" in answer


def test_a_streamed_grounded_answer_carries_its_sources_in_the_first_chunk(grounded_key):
    response = ask(grounded_key, "How long is the appliance warranty?", stream=True)

    frames = [f for f in streamed_body(response).split(b"\n\n") if f.startswith(b"data: {")]
    first = json.loads(frames[0].removeprefix(b"data: "))
    text = "".join(
        json.loads(f.removeprefix(b"data: "))["choices"][0]["delta"].get("content") or ""
        for f in frames
        if json.loads(f.removeprefix(b"data: "))["choices"]
    )
    assert any(s["document_id"] == "warranty" for s in first["sources"])
    assert "two-year warranty" in text


def test_an_ungrounded_use_case_gets_no_sources(store):
    use_case = UseCaseFactory(lob=store.lob, aliases=[AliasFactory(name="chat")])
    _, token = issue_key(use_case)

    document = ask(token, "How many days for a refund?").json()

    assert "sources" not in document


def test_grounding_an_approved_use_case_is_a_material_change_that_keeps_it_serving(grounded_key, store):
    use_case = store.groundings.get().use_case
    use_case.refresh_from_db()

    change = AuditEvent.objects.get(action="use_case.material_change", object_id=str(use_case.pk))
    assert store.public_id in change.after["changed"]
    assert use_case.status == UseCase.Status.SUBMITTED
    assert Review.objects.filter(use_case=use_case, material_change=True).exists()
    assert ask(grounded_key, "How long is the warranty?").status_code == 200  # the approval still serves


def test_a_store_of_more_sensitive_data_than_the_use_case_cannot_ground_it(vector_db):
    restricted = vector_store(data_classification="restricted")
    use_case = UseCaseFactory(lob=restricted.lob, data_classification="internal")

    with pytest.raises(ValidationError, match="holds restricted data"):
        grounding_attach(use_case=use_case, store=restricted, actor=None)


def test_a_store_whose_data_became_more_sensitive_than_the_use_case_no_longer_grounds_it(grounded_key, store):
    store.data_classification = "restricted"
    store.save(update_fields=["data_classification"])
    hotcache.generation_bump(GENERATION)  # as every change through the services does

    document = ask(grounded_key, "How long is the warranty?").json()

    assert "sources" not in document
