"""Retrieval-augmented answers with live processes: documents ingested by a real Celery worker
(from the broker's `platform` queue) into pgvector, embedded through a second worker on the sandbox
provider's queue, then a grounded chat completion through gunicorn cites the chunk that holds the
answer; re-ingesting the same documents changes nothing and a deleted document is never found again."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import openai
import psycopg
import pytest

from .conftest import LiveStack, catalog_setup, consuming_worker, wait_for, worker_args

pytestmark = pytest.mark.e2e

POLICIES = {
    "disputes": (
        "Card disputes",
        "A disputed card payment must be raised within 60 days of the statement date. "
        "The bank refunds the amount provisionally while it investigates.",
    ),
    "overpayments": (
        "Mortgage overpayments",
        "Borrowers may overpay their mortgage by up to 10 percent of the balance each year without a charge.",
    ),
    "lost-cards": (
        "Lost cards",
        "Report a lost or stolen card at once in the app; the card is blocked and a new one is posted.",
    ),
}
QUESTION = "Within how many days must a disputed card payment be raised?"

SETUP = """
from tests.factories import approve
from lob_tenants.services import use_case_upsert
from lob_tenants.vector_stores.services import grounding_attach, vector_store_create
from model_catalog.models import Alias
demo = UseCase.objects.get(slug="support-assistant")
chat, embed = Alias.objects.get(name="demo-chat"), Alias.objects.get(name="demo-embed")
use_case = use_case_upsert(lob=demo.lob, slug="rag-live", name="RAG live", aliases=[chat, embed])
store = vector_store_create(
    lob=demo.lob, actor=None, slug="rag-live", name="RAG live", embedding_alias=embed, dimensions=384,
    ingestion_use_case=use_case,
)
grounding_attach(use_case=use_case, store=store, actor=None, top_k=3)  # before the review, so it is approved
approve(use_case)
use_case_upsert(lob=demo.lob, slug="rag-live", name="RAG live", status="approved")
result = {"store": store.public_id, "key": api_key_issue(use_case=use_case, name="rag", environment="production")[1]}
"""

INGEST = """
from lob_tenants.vector_stores.models import VectorStore
from lob_tenants.vector_stores.services import Upload, documents_ingest
store = VectorStore.objects.get(public_id={store!r})
uploads = [
    Upload(external_id=slug, filename=slug + ".txt", content=text.encode(), title=title)
    for slug, (title, text) in json.loads({policies!r}).items()
]
result = documents_ingest(store=store, uploads=uploads, actor=None).pk
"""

DELETE = """
from lob_tenants.vector_stores.models import Document
from lob_tenants.vector_stores.services import document_delete
document = Document.objects.get(store__public_id={store!r}, external_id={document!r})
result = document_delete(document=document, actor=None)
"""


@pytest.fixture(scope="module")
def stack_env(_pgvector_server) -> dict[str, str]:
    """The stack's processes keep chunks in the session's pgvector server."""
    return {"VECTOR_DB_URL": _pgvector_server, "GATEWAY_REQUEST_DEADLINE_SECONDS": "30"}


@pytest.fixture(scope="module")
def workers(services_stack: LiveStack) -> Iterator[tuple[subprocess.Popen, subprocess.Popen]]:
    """One worker on the `platform` queue (ingestion tasks), one on the sandbox provider's queue
    (the embedding calls ingestion makes): an ingestion task waiting on its embeddings never
    holds the slot they need."""
    logs = services_stack.logs
    with (
        consuming_worker(
            worker_args("platform", queue="platform"), services_stack.env, logs / "platform.log"
        ) as platform,
        consuming_worker(worker_args("sandbox"), services_stack.env, logs / "sandbox.log") as sandbox,
    ):
        yield platform, sandbox


@pytest.fixture(scope="module")
def rag(services_stack: LiveStack, workers) -> dict:
    return catalog_setup(services_stack, SETUP)


@pytest.fixture(scope="module")
def client(services_stack: LiveStack, rag) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=services_stack.base_url + "/v1", api_key=rag["key"], max_retries=0, timeout=60) as sdk:
        yield sdk


def ingest(stack: LiveStack, store: str) -> dict:
    """Uploads the policies and waits (polling the job's row) until the worker has processed them all."""
    job_id = catalog_setup(stack, INGEST.format(store=store, policies=json.dumps(POLICIES)))
    with psycopg.connect(stack.env["DATABASE_URL"], autocommit=True) as conn:

        def finished():
            row = conn.execute(
                "SELECT status, documents_done, documents_unchanged, documents_failed, chunks_written"
                " FROM vector_stores_ingestionjob WHERE id = %s AND finished_at IS NOT NULL",
                [job_id],
            ).fetchone()
            return row and dict(zip(("status", "done", "unchanged", "failed", "chunks"), row, strict=True))

        return wait_for(finished, timeout=90, what=f"ingestion job {job_id} to finish")


def documents(stack: LiveStack, store: str) -> dict[str, tuple]:
    with psycopg.connect(stack.env["DATABASE_URL"]) as conn:
        rows = conn.execute(
            "SELECT d.external_id, d.status, d.version, d.chunk_count, d.updated_at FROM vector_stores_document d"
            " JOIN vector_stores_vectorstore s ON s.id = d.store_id WHERE s.public_id = %s",
            [store],
        ).fetchall()
    return {row[0]: row[1:] for row in rows}


@pytest.fixture(scope="module")
def ingested(services_stack: LiveStack, rag) -> dict:
    return ingest(services_stack, rag["store"])


def test_the_worker_ingests_every_document_from_the_platform_queue(services_stack, rag, ingested):
    assert (ingested["status"], ingested["done"], ingested["failed"]) == ("succeeded", len(POLICIES), 0)
    assert ingested["chunks"] >= len(POLICIES)
    assert {slug: status for slug, (status, *_) in documents(services_stack, rag["store"]).items()} == {
        slug: "ready" for slug in POLICIES
    }
    assert "vector_stores.ingest_document" in (services_stack.logs / "platform.log").read_text()


def test_a_grounded_answer_through_the_sdk_cites_the_chunk_that_holds_it(client, ingested, rag):
    reply = client.chat.completions.create(model="demo-chat", messages=[{"role": "user", "content": QUESTION}])

    answer = reply.choices[0].message.content
    sources = reply.model_extra["sources"]
    cited = int(answer.rsplit("[", 1)[1].rstrip("]"))
    source = next(s for s in sources if s["index"] == cited)
    assert "60 days" in answer
    assert (source["vector_store_id"], source["document_id"]) == (rag["store"], "disputes")
    assert "60 days" in source["text"]


def test_the_sdk_searches_the_store(client, ingested, rag):
    page = client.vector_stores.search(vector_store_id=rag["store"], query="mortgage overpayment charge")

    assert page.data[0].file_id == "overpayments"
    assert "10 percent" in page.data[0].content[0].text


def test_ingesting_the_same_documents_again_changes_nothing(services_stack, client, ingested, rag):
    before = documents(services_stack, rag["store"])

    again = ingest(services_stack, rag["store"])

    assert (again["status"], again["done"], again["unchanged"], again["chunks"]) == ("succeeded", 0, 3, 0)
    assert documents(services_stack, rag["store"]) == before
    page = client.vector_stores.search(vector_store_id=rag["store"], query=QUESTION, max_num_results=50)
    assert len(page.data) == ingested["chunks"]


def test_a_deleted_document_is_never_retrieved_again(services_stack, client, ingested, rag):
    removed = catalog_setup(services_stack, DELETE.format(store=rag["store"], document="lost-cards"))

    page = client.vector_stores.search(
        vector_store_id=rag["store"], query="lost or stolen card blocked", max_num_results=50
    )
    reply = client.chat.completions.create(
        model="demo-chat", messages=[{"role": "user", "content": "What do I do about a stolen card?"}]
    )

    assert removed >= 1
    assert "lost-cards" not in {result.file_id for result in page.data}
    assert {result.file_id for result in page.data} == {"disputes", "overpayments"}
    assert all(source["document_id"] != "lost-cards" for source in reply.model_extra.get("sources", []))
