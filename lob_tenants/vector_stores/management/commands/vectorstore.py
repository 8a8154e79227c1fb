"""`manage.py vectorstore ingest DIR --store <lob>/<store>`: an operator loads a directory into a store.

The command is thin: scanning and batching are `services.directory_scan` and
`services.directory_upload_batches`, ingestion is `services.documents_ingest`, progress and failures
are selectors. An operator at the shell is trusted (no role check), and the audit trail records
the ingestion with no user.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from tqdm import tqdm

from lob_tenants.vector_stores.selectors import (
    IngestionProgress,
    ingestion_failures,
    ingestion_progress,
    store_by_path,
)
from lob_tenants.vector_stores.services import directory_scan, directory_upload_batches, documents_ingest

HELP = """Ingests every supported file (.md .markdown .txt .html .htm .pdf) under DIR into a store.

The document id is the file's path relative to DIR and its title comes from the file name, so
running the command again on the same directory counts unchanged files as unchanged and writes a
new version of each changed one. Hidden files are ignored; other file types, and files over
VECTOR_STORE_MAX_DOCUMENT_BYTES, are skipped with a note. Files are sent in batches (one
ingestion job each) so memory stays bounded.

Progress: without a Celery broker (eager tasks, the embedded default) each batch is ingested
before the next is read, so the bar advances batch by batch and the summary is final. With a
broker, workers ingest in the background: --wait polls the jobs until every one has finished,
then prints the final summary; without --wait the command returns once every batch is queued,
reports what is already known and the jobs still running (follow them in the portal or the
management API). The exit status is non-zero when any document failed (known so far)."""


class _ProgressStream:
    """tqdm writes carriage returns; Django's output wrapper would end each write with a newline."""

    def __init__(self, wrapper: OutputWrapper) -> None:
        self.wrapper = wrapper

    def write(self, text: str) -> None:
        self.wrapper.write(text, style_func=lambda plain: plain, ending="")

    def flush(self) -> None:
        self.wrapper.flush()


class Command(BaseCommand):
    help = "Vector store operations for operators: `ingest DIR --store <lob>/<store>`."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        ingest = actions.add_parser(
            "ingest", help=HELP.splitlines()[0], description=HELP, formatter_class=parser.formatter_class
        )
        ingest.add_argument("directory", metavar="DIR", help="The directory to read.")
        ingest.add_argument("--store", required=True, help="The store as <lob slug>/<store slug>.")
        ingest.add_argument("--pattern", default="*", help="Only file names matching this glob (default: all).")
        ingest.add_argument("--recursive", action="store_true", help="Also read DIR's subdirectories.")
        ingest.add_argument("--wait", action="store_true", help="With a broker, wait until every job has finished.")
        ingest.add_argument("--batch-size", type=int, default=50, help="Documents per ingestion job (default 50).")
        ingest.add_argument("--poll-interval", type=float, default=2.0, help="Seconds between polls with --wait.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "ingest":
            self.ingest(**options)

    def ingest(self, **options: Any) -> None:
        store = store_by_path(options["store"])
        if store is None:
            raise CommandError(f"No vector store {options['store']!r}; give it as <lob slug>/<store slug>.")
        root = Path(options["directory"]).expanduser()
        if not root.is_dir():
            raise CommandError(f"{root} is not a directory.")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        scan = directory_scan(root.resolve(), pattern=options["pattern"], recursive=options["recursive"])
        for relative, reason in scan.skipped:
            self.stderr.write(f"skipped {relative}: {reason}", style_func=self.style.WARNING)
        if not scan.files:
            raise CommandError(f"No supported file under {root} matches {options['pattern']!r}.")

        job_ids: list[int] = []
        bar = tqdm(
            total=len(scan.files),
            unit="doc",
            desc=f"ingesting into {store}",
            file=_ProgressStream(self.stderr),
            disable=options["verbosity"] == 0,
            dynamic_ncols=True,
        )
        try:
            for batch in directory_upload_batches(scan, batch_size=options["batch_size"]):
                try:
                    job = documents_ingest(store=store, uploads=batch, actor=None)
                except ValidationError as refused:
                    raise CommandError(f"The batch was refused: {'; '.join(refused.messages)}") from None
                job_ids.append(job.pk)
                progress = self._show(bar, job_ids)
            while options["wait"] and not progress.finished and not settings.CELERY_TASK_ALWAYS_EAGER:
                time.sleep(options["poll_interval"])
                progress = self._show(bar, job_ids)
        finally:
            bar.close()
        self._summary(store, job_ids, progress, len(scan.skipped))

    def _show(self, bar: tqdm, job_ids: list[int]) -> IngestionProgress:
        progress = ingestion_progress(job_ids)
        bar.n = progress.processed
        bar.set_postfix(done=progress.done, unchanged=progress.unchanged, failed=progress.failed, refresh=False)
        bar.refresh()
        return progress

    def _summary(self, store: Any, job_ids: list[int], progress: IngestionProgress, skipped: int) -> None:
        jobs = ", ".join(f"#{pk}" for pk in job_ids)
        self.stdout.write(
            f"{store}: {progress.total} document(s) in job(s) {jobs}: {progress.done} done "
            f"({progress.chunks_written} chunks), {progress.unchanged} unchanged, {progress.failed} failed"
            + (f", {skipped} file(s) skipped." if skipped else ".")
        )
        failures = ingestion_failures(job_ids)
        for document_id, error in failures:
            self.stdout.write(f"  failed {document_id}: {error}", style_func=self.style.ERROR)
        if not progress.finished:
            pending = progress.total - progress.processed
            self.stdout.write(
                f"{pending} document(s) still being ingested by the workers; follow job(s) {jobs} in the portal "
                "or the management API, or run again with --wait.",
                style_func=self.style.WARNING,
            )
        if failures or progress.failed:
            raise CommandError(f"{max(len(failures), progress.failed)} document(s) failed.")
