"""`manage.py vectorstore ingest DIR --store <lob>/<store>`: an operator loads a directory.

Transactional tests: the command commits each batch as it would at the shell, so the eager
ingestion tasks run at each commit and the command sees its jobs finish."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from genai_platform.audit.models import AuditEvent
from lob_tenants.vector_stores.models import Document, IngestionJob
from tests.factories import vector_store

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("vector_db")]

REFUNDS = "# Refund policy\n\nCustomers may return any unopened product within 30 days of delivery.\n"
WARRANTY = "<html><body><h1>Warranty</h1><p>Every appliance carries a two-year warranty.</p></body></html>"


@pytest.fixture
def store():
    return vector_store(chunk_size=200, chunk_overlap=40)


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    (tmp_path / "policies").mkdir()
    (tmp_path / "refund_policy.md").write_text(REFUNDS)
    (tmp_path / "policies" / "warranty.html").write_text(WARRANTY)
    (tmp_path / "policies" / "shipping.txt").write_text("Shipping is free above 50 euros.")
    (tmp_path / "prices.xlsx").write_bytes(b"PK\x03\x04")
    (tmp_path / ".notes.md").write_text("hidden")
    return tmp_path


def ingest(directory: Path, store_path: str, *extra: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("vectorstore", "ingest", str(directory), "--store", store_path, *extra, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_directory_is_ingested_with_paths_as_ids_and_titles_from_file_names(store, docs):
    out, err = ingest(docs, str(store), "--recursive", "--batch-size", "2")

    documents = {d.external_id: d for d in Document.objects.filter(store=store)}
    assert sorted(documents) == ["policies/shipping.txt", "policies/warranty.html", "refund_policy.md"]
    assert all(d.status == Document.Status.READY for d in documents.values())
    assert documents["refund_policy.md"].title == "refund policy"
    assert IngestionJob.objects.filter(store=store).count() == 2  # batches of two documents
    assert "3 document(s)" in out and "3 done" in out and "0 failed" in out
    assert "100%" in err  # the progress bar reached the end
    assert AuditEvent.objects.filter(action="vector_store.ingestion_started", object_id=str(store.pk)).count() == 2


def test_running_it_again_finds_every_document_unchanged(store, docs):
    ingest(docs, str(store), "--recursive")
    versions = dict(Document.objects.filter(store=store).values_list("external_id", "version"))

    out, _ = ingest(docs, str(store), "--recursive", "--wait")

    assert "0 done" in out and "3 unchanged" in out
    assert dict(Document.objects.filter(store=store).values_list("external_id", "version")) == versions


def test_without_recursive_and_with_a_pattern_only_matching_files_of_the_directory_are_read(store, docs):
    out, _ = ingest(docs, str(store), "--pattern", "*.md")

    assert list(Document.objects.filter(store=store).values_list("external_id", flat=True)) == ["refund_policy.md"]
    assert "1 done" in out


def test_unsupported_files_are_skipped_with_a_note_and_hidden_ones_ignored(store, docs):
    _, err = ingest(docs, str(store))

    assert "skipped prices.xlsx: unsupported file type" in err
    assert ".notes.md" not in err
    assert not Document.objects.filter(store=store, external_id__in=["prices.xlsx", ".notes.md"]).exists()


def test_a_failed_document_is_reported_with_its_reason_and_fails_the_command(store, tmp_path):
    (tmp_path / "scan.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    (tmp_path / "refunds.md").write_text(REFUNDS)
    out = StringIO()

    with pytest.raises(CommandError, match="1 document"):
        call_command("vectorstore", "ingest", str(tmp_path), "--store", str(store), stdout=out, stderr=StringIO())

    assert "1 done" in out.getvalue() and "1 failed" in out.getvalue()
    assert "failed scan.pdf: the PDF cannot be read" in out.getvalue()


def test_an_unknown_store_is_refused(store, docs):
    with pytest.raises(CommandError, match="No vector store 'nope/missing'"):
        ingest(docs, "nope/missing")
    with pytest.raises(CommandError, match="No vector store"):
        ingest(docs, store.slug)  # without its LOB


def test_a_directory_without_supported_files_is_refused(store, tmp_path):
    (tmp_path / "sheet.xlsx").write_bytes(b"PK")

    with pytest.raises(CommandError, match="No supported file"):
        ingest(tmp_path, str(store))
