"""Vector-store changes: registration, grounding, sharing, ingestion and deletion.

Callers (the management API, the portal, the ingest command) decide who may act, as for every
other LOB object; sharing is also checked by the access services. Every change writes its audit
event in the same transaction and bumps the `vector_stores` generation once it commits, so the
gateway's cached lookups follow within seconds.
Ingestion is idempotent per document id and version: a document already ingested at that
version with the same bytes is counted as unchanged and nothing is written.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from genai_platform import hotcache
from genai_platform.audit.services import audit_actor, audit_record
from genai_platform.inference.embeddings import embeddings_create
from genai_platform.inference.errors import InferenceError, ProviderMisbehaved, Unavailable
from genai_platform.inference.principal import KeyPrincipal, use_case_principal
from genai_platform.providers.types import EmbeddingRequest
from governance.guardrails.context import ContextKind, ContextScreen, ItemAction, screen_items
from governance.models import ModelApproval
from governance.services.workflow import use_case_material_change
from lob_tenants.models import Lob, UseCase
from lob_tenants.selectors import use_case_can_read
from lob_tenants.services import object_share, object_unshare
from model_catalog.models import Alias
from model_catalog.selectors import alias_routes

from . import documents
from .backends import BackendError, Chunk, backend_for
from .models import Document, Grounding, IngestionJob, VectorStore
from .selectors import GENERATION, StoreRef, classification_covers, collection_of, store_ref

_REFERENCE_SCHEMES = ("env:", "file:")


class IngestionError(Exception):
    """One document could not be ingested; `retryable` says whether trying again may succeed."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


def _changed() -> None:
    transaction.on_commit(lambda: hotcache.generation_bump(GENERATION))


# ---- registration ----


@transaction.atomic
def vector_store_create(
    *,
    lob: Lob,
    actor: Any,
    slug: str,
    name: str,
    embedding_alias: Alias,
    dimensions: int,
    ingestion_use_case: UseCase,
    metric: str = VectorStore.Metric.COSINE,
    data_classification: str = "internal",
    connection: str = "",
    backend: str = VectorStore.Backend.PGVECTOR,
    description: str = "",
    chunk_size: int = 800,
    chunk_overlap: int = 120,
) -> VectorStore:
    """Registers a store and creates its collection in the backend."""
    vector_store_check(
        lob=lob,
        ingestion_use_case=ingestion_use_case,
        connection=connection,
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        embedding_alias=embedding_alias,
        data_classification=data_classification,
    )
    store = VectorStore(
        lob=lob,
        slug=slug,
        name=name,
        description=description,
        backend=backend,
        connection=connection,
        embedding_alias=embedding_alias,
        dimensions=dimensions,
        metric=metric,
        data_classification=data_classification,
        ingestion_use_case=ingestion_use_case,
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    store.full_clean()
    store.save()
    try:
        backend_for(store.backend, store.connection).ensure_collection(collection_of(store))
    except BackendError as exc:
        raise ValidationError({"connection": str(exc)}) from None
    audit_record(
        actor=audit_actor(actor),
        action="vector_store.created",
        target=store,
        lob_slug=lob.slug,
        after={
            "public_id": store.public_id,
            "embedding_alias": embedding_alias.name,
            "dimensions": dimensions,
            "metric": metric,
            "data_classification": data_classification,
            "backend": backend,
        },
    )
    _changed()
    return store


def vector_store_check(
    *,
    lob: Lob,
    ingestion_use_case: UseCase,
    connection: str,
    chunk_size: int,
    chunk_overlap: int,
    embedding_alias: Alias,
    data_classification: str,
) -> None:
    """Raises the ValidationError `vector_store_create` would, without writing anything (the portal's
    form shows it as field errors before anything is saved)."""
    if ingestion_use_case.lob_id != lob.pk:
        raise ValidationError({"ingestion_use_case": "Ingestion is paid by one of the LOB's own use cases."})
    if connection and (not connection.startswith(_REFERENCE_SCHEMES) or len(connection) <= 5):
        raise ValidationError(
            {"connection": "Give where the connection string is (env:NAME or file:PATH), never the string itself."}
        )
    if chunk_overlap >= chunk_size:
        raise ValidationError({"chunk_overlap": "The overlap must be smaller than the chunk size."})
    _check_embedding_alias(embedding_alias, data_classification)


def _check_embedding_alias(alias: Alias, classification: str) -> None:
    """Chunks go to the embedding model, so it must be approved for the store's data classification."""
    approved = ModelApproval.objects.filter(alias=alias).values_list("classifications", flat=True).first() or []
    if classification not in approved:
        raise ValidationError(
            {"embedding_alias": f"{alias.name} is not approved for {classification} data; ask the central team."}
        )


@transaction.atomic
def vector_store_delete(*, store: VectorStore, actor: Any) -> None:
    """Deletes the store, its documents and every chunk in the backend."""
    public_id = store.public_id
    backend_for(store.backend, store.connection).drop_collection(collection_of(store))
    audit_record(
        actor=audit_actor(actor),
        action="vector_store.deleted",
        target=store,
        lob_slug=store.lob.slug,
        before={"public_id": public_id, "documents": store.documents.count()},
    )
    store.delete()
    _changed()


# ---- grounding and sharing ----


@transaction.atomic
def grounding_attach(
    *, use_case: UseCase, store: VectorStore, actor: Any, top_k: int = 4, score_threshold: float = 0.0
) -> Grounding:
    """Grounds the use case's chat completions in `store`. For an approved use case this is a
    material change: it goes back to review, and its current approval keeps serving meanwhile."""
    if not use_case_can_read(use_case, store, store.lob_id):
        raise ValidationError({"store": "This store is neither the LOB's own nor shared with this use case."})
    if not classification_covers(use_case.data_classification, store.data_classification):
        raise ValidationError(
            {
                "store": f"The store holds {store.data_classification} data; use case {use_case.slug} is approved "
                f"for {use_case.data_classification} data only."
            }
        )
    grounding, created = Grounding.objects.update_or_create(
        use_case=use_case, store=store, defaults={"top_k": top_k, "score_threshold": score_threshold}
    )
    grounding.full_clean()
    audit_record(
        actor=audit_actor(actor),
        action="grounding.attached" if created else "grounding.changed",
        target=use_case,
        lob_slug=use_case.lob.slug,
        after={"store": store.public_id, "top_k": top_k, "score_threshold": score_threshold},
    )
    if created and use_case.status == UseCase.Status.APPROVED:
        use_case_material_change(use_case=use_case, actor=actor, what=f"vector store {store.public_id} added")
    _changed()
    return grounding


@transaction.atomic
def grounding_detach(*, use_case: UseCase, store: VectorStore, actor: Any) -> None:
    deleted, _ = Grounding.objects.filter(use_case=use_case, store=store).delete()
    if deleted:
        audit_record(
            actor=audit_actor(actor),
            action="grounding.detached",
            target=use_case,
            lob_slug=use_case.lob.slug,
            before={"store": store.public_id},
        )
    _changed()


def vector_store_share(*, store: VectorStore, use_case: UseCase, actor: Any) -> None:
    """Lets another LOB's use case search the store (only the owning LOB's admins may)."""
    with transaction.atomic():
        object_share(obj=store, owner_lob=store.lob, use_case=use_case, actor=actor)
        _changed()


def vector_store_unshare(*, store: VectorStore, use_case: UseCase, actor: Any) -> None:
    with transaction.atomic():
        object_unshare(obj=store, owner_lob=store.lob, use_case=use_case, actor=actor)
        _changed()


# ---- ingestion ----


@dataclass(frozen=True)
class Upload:
    external_id: str
    filename: str
    content: bytes
    content_type: str = ""
    #: None: the next version when the content changed (unchanged content is a no-op).
    version: int | None = None
    title: str = ""
    source: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)


def documents_ingest(*, store: VectorStore, uploads: Sequence[Upload], actor: Any) -> IngestionJob:
    """Accepts documents for ingestion and queues one task per changed document; returns the job
    whose counters show progress. Refuses the whole batch if any document is invalid."""
    from .tasks import ingest_document

    if not uploads:
        raise ValidationError("Send at least one document.")
    plans = [_plan(store, upload) for upload in uploads]
    with transaction.atomic():
        job = IngestionJob.objects.create(
            store=store,
            status=IngestionJob.Status.RUNNING,
            documents_total=len(plans),
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        queued: list[tuple[int, str]] = []
        for upload, content_type, version, sha256 in plans:
            if version is None:
                job.documents_unchanged += 1
                continue
            document, _ = Document.objects.update_or_create(
                store=store,
                external_id=upload.external_id,
                defaults={
                    "job": job,
                    "version": version,
                    "title": upload.title or upload.filename,
                    "source": upload.source,
                    "content_type": content_type,
                    "sha256": sha256,
                    "size_bytes": len(upload.content),
                    "attributes": upload.attributes,
                    "status": Document.Status.PENDING,
                    "error": "",
                },
            )
            queued.append((document.pk, base64.b64encode(upload.content).decode()))
        job.save(update_fields=["documents_unchanged"])
        _finish_if_done(job.pk)
        audit_record(
            actor=audit_actor(actor),
            action="vector_store.ingestion_started",
            target=store,
            lob_slug=store.lob.slug,
            after={"job": job.pk, "documents": [u.external_id for u in uploads], "queued": len(queued)},
        )
        for document_pk, content in queued:
            transaction.on_commit(
                lambda document_pk=document_pk, content=content: ingest_document.delay(job.pk, document_pk, content)
            )
    job.refresh_from_db()
    return job


# ---- ingesting a directory (`manage.py vectorstore ingest`) ----

#: A batch read from disk holds at most this many bytes (and one document at least), so memory
#: stays bounded however large the directory is.
DIRECTORY_BATCH_BYTES = 32 * 1024 * 1024
MAX_DOCUMENT_ID = 200


@dataclass(frozen=True)
class DirectoryScan:
    """The files of a directory to ingest (relative paths, sorted) and those skipped, with why."""

    root: Path
    files: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]


def directory_scan(root: Path, *, pattern: str = "*", recursive: bool = False) -> DirectoryScan:
    """The supported files under `root` whose name matches `pattern` (recursively if asked). Hidden
    files and directories are ignored; unsupported, too large or too deeply nested files are
    skipped with their reason. Reads names and sizes only."""
    found = root.rglob(pattern) if recursive else root.glob(pattern)
    files: list[str] = []
    skipped: list[tuple[str, str]] = []
    for path in sorted(found):
        relative = path.relative_to(root).as_posix()
        if not path.is_file() or any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        if path.suffix.lower() not in documents.SUPPORTED_SUFFIXES:
            supported = ", ".join(sorted(documents.SUPPORTED_SUFFIXES))
            skipped.append((relative, f"unsupported file type (supported: {supported})"))
        elif path.stat().st_size > settings.VECTOR_STORE_MAX_DOCUMENT_BYTES:
            skipped.append((relative, f"larger than {settings.VECTOR_STORE_MAX_DOCUMENT_BYTES} bytes"))
        elif len(relative) > MAX_DOCUMENT_ID:
            skipped.append((relative, f"its path is longer than {MAX_DOCUMENT_ID} characters (the document id)"))
        else:
            files.append(relative)
    return DirectoryScan(root=root, files=tuple(files), skipped=tuple(skipped))


def directory_upload_batches(
    scan: DirectoryScan, *, batch_size: int, batch_bytes: int = DIRECTORY_BATCH_BYTES
) -> Iterator[list[Upload]]:
    """The scanned files as uploads, read lazily in batches of at most `batch_size` documents and
    `batch_bytes` bytes. The document id is the path relative to the directory (so re-ingesting
    the directory finds the same documents), the title comes from the file name."""
    batch: list[Upload] = []
    size = 0
    for relative in scan.files:
        content = (scan.root / relative).read_bytes()
        if batch and (len(batch) >= batch_size or size + len(content) > batch_bytes):
            yield batch
            batch, size = [], 0
        name = Path(relative)
        title = name.stem.replace("_", " ").replace("-", " ").strip() or name.name
        batch.append(Upload(external_id=relative, filename=name.name, content=content, title=title, source=relative))
        size += len(content)
    if batch:
        yield batch


def _plan(store: VectorStore, upload: Upload) -> tuple[Upload, str, int | None, str]:
    """The content type, the version to write (None: unchanged) and the digest of one upload."""
    if not upload.external_id or len(upload.external_id) > 200:
        raise ValidationError({"id": "Each document needs an id of at most 200 characters."})
    if len(upload.content) > settings.VECTOR_STORE_MAX_DOCUMENT_BYTES:
        raise ValidationError(
            {"file": f"{upload.external_id} is larger than {settings.VECTOR_STORE_MAX_DOCUMENT_BYTES} bytes."}
        )
    try:
        content_type = documents.content_type_for(upload.filename, upload.content_type)
    except documents.DocumentError as exc:
        raise ValidationError({"file": f"{upload.external_id}: {exc}"}) from None
    sha256 = hashlib.sha256(upload.content).hexdigest()
    existing = Document.objects.filter(store=store, external_id=upload.external_id).first()
    if existing is None:
        return upload, content_type, upload.version or 1, sha256
    same_content = existing.sha256 == sha256 and existing.status == Document.Status.READY
    if upload.version is None:
        return upload, content_type, None if same_content else existing.version + 1, sha256
    if upload.version < existing.version:
        raise ValidationError(
            {"version": f"{upload.external_id} is at version {existing.version}; version {upload.version} is older."}
        )
    if upload.version == existing.version:
        if existing.sha256 != sha256:
            raise ValidationError(
                {
                    "version": f"{upload.external_id} version {upload.version} was ingested with other content; "
                    "send it as a new version."
                }
            )
        if same_content:
            return upload, content_type, None, sha256
    return upload, content_type, upload.version, sha256


def document_ingest(*, job_id: int, document_id: int, content: bytes) -> None:
    """Parses, chunks, embeds (in batches, through the router, metered to the store's ingestion use
    case) and writes one document, replacing its previous chunks atomically. Raises
    `IngestionError`; `document_ingest_failed` records a final failure."""
    document = Document.objects.select_related("store__embedding_alias", "store__ingestion_use_case").get(
        pk=document_id
    )
    store = document.store
    if hashlib.sha256(content).hexdigest() != document.sha256:
        return  # a newer upload of this document replaced the one this task carries
    try:
        text = documents.extract_text(content, document.content_type)
    except documents.DocumentError as exc:
        raise IngestionError(str(exc)) from None
    pieces = documents.split_text(text, document.content_type, chunk_size=store.chunk_size, overlap=store.chunk_overlap)
    principal = use_case_principal(store.ingestion_use_case)
    screen = ingestion_screen(principal, pieces)  # before embedding: a quarantined chunk costs nothing
    if screen.blocked:
        _quarantine(document, screen)
        raise IngestionError(_quarantine_message(screen))
    marked = {d.index: d.action.value for d in screen.decisions if d.action in (ItemAction.FLAG, ItemAction.QUOTE)}
    kept = [(index, piece) for index, piece in enumerate(pieces) if screen.decisions[index].text is not None]
    pieces = [piece for _, piece in kept]
    texts = [_embedding_text(document, piece) for piece in pieces]
    try:
        vectors = embed_texts(store_ref(store), principal, texts, "search_document")
    except InferenceError as exc:
        raise IngestionError(exc.message, retryable=exc.retryable) from None
    chunks = [
        Chunk(
            document_id=document.external_id,
            document_version=document.version,
            ordinal=index,
            text=piece,
            embedding=vector,
            title=document.title,
            source=document.source,
            attributes=_marked(document.attributes, marked.get(original)),
        )
        for index, ((original, piece), vector) in enumerate(zip(kept, vectors, strict=True))
    ]
    try:
        backend_for(store.backend, store.connection).replace_document(
            collection_of(store), document.external_id, chunks
        )
    except BackendError as exc:
        raise IngestionError(str(exc), retryable=True) from None
    with transaction.atomic():
        updated = Document.objects.filter(pk=document.pk, sha256=document.sha256).update(
            status=Document.Status.READY, chunk_count=len(chunks), error=""
        )
        IngestionJob.objects.filter(pk=job_id).update(
            documents_done=F("documents_done") + 1, chunks_written=F("chunks_written") + len(chunks)
        )
        if updated:
            audit_record(
                actor="system",
                action="vector_store.document_ingested",
                target=store,
                lob_slug=store.lob.slug,
                after={
                    "document": document.external_id,
                    "version": document.version,
                    "chunks": len(chunks),
                    "sha256": document.sha256,
                    **({"guardrail": screen.to_dict()} if screen.acted else {}),
                },
            )
        _finish_if_done(job_id)


#: The chunk attribute that marks a chunk ingested although it carried instructions (flag or quote).
GUARDRAIL_MARK = "guardrail_indirect_injection"


def ingestion_screen(principal: KeyPrincipal, pieces: Sequence[str]) -> ContextScreen:
    """The ingestion use case's indirect_injection rule applied to each chunk of a document: keep,
    ingest with a mark (flag, quote), quarantine the chunk (drop) or the whole document (block)."""
    from governance.services.guardrail_policies import effective_policy, guardrail_engine

    effective = effective_policy(lob_id=principal.lob_id, use_case_id=principal.use_case_id)
    return screen_items(list(pieces), effective.policy, kind=ContextKind.DOCUMENT, engine=guardrail_engine())


def _marked(attributes: dict[str, Any], action: str | None) -> dict[str, Any]:
    return {**attributes, GUARDRAIL_MARK: action} if action else attributes


def _quarantine(document: Document, screen: ContextScreen) -> None:
    store = document.store
    with transaction.atomic():
        audit_record(
            actor="system",
            action="vector_store.document_quarantined",
            target=store,
            lob_slug=store.lob.slug,
            after={
                "document": document.external_id,
                "version": document.version,
                "sha256": document.sha256,
                "guardrail": screen.to_dict(),
            },
        )


def _quarantine_message(screen: ContextScreen) -> str:
    if screen.failed:
        return "quarantined: the guardrail check of its text failed, so it was not ingested"
    blocked = [str(d.index) for d in screen.decisions if d.action is ItemAction.BLOCK]
    return f"quarantined: chunk(s) {', '.join(blocked)} carry instructions to a model (indirect_injection)"


def document_ingest_failed(*, job_id: int, document_id: int, error: str) -> None:
    with transaction.atomic():
        Document.objects.filter(pk=document_id).update(status=Document.Status.FAILED, error=error[:2000])
        IngestionJob.objects.filter(pk=job_id).update(documents_failed=F("documents_failed") + 1)
        _finish_if_done(job_id)


def _finish_if_done(job_id: int) -> None:
    job = IngestionJob.objects.select_for_update().get(pk=job_id)
    if job.finished_at is None and job.documents_processed >= job.documents_total:
        job.status = (
            IngestionJob.Status.SUCCEEDED
            if not job.documents_failed
            else IngestionJob.Status.FAILED
            if job.documents_failed == job.documents_total
            else IngestionJob.Status.PARTIAL
        )
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "finished_at"])


def _embedding_text(document: Document, piece: str) -> str:
    # The title travels with every chunk, so a chunk that never names its subject still matches it.
    return f"{document.title}\n\n{piece}" if document.title else piece


@transaction.atomic
def document_delete(*, document: Document, actor: Any) -> int:
    """Removes the document and every one of its chunks; returns how many chunks were removed."""
    store = document.store
    removed = backend_for(store.backend, store.connection).delete_document(collection_of(store), document.external_id)
    audit_record(
        actor=audit_actor(actor),
        action="vector_store.document_deleted",
        target=store,
        lob_slug=store.lob.slug,
        before={"document": document.external_id, "version": document.version, "chunks": removed},
    )
    document.delete()
    return removed


# ---- embedding and search ----


def embed_texts(
    store: StoreRef, principal: KeyPrincipal, texts: Sequence[str], input_type: str, *, request_id: str = ""
) -> list[list[float]]:
    """Embeds with the store's alias through the router, in batches, each batch one metered call.
    Raises an `InferenceError`."""
    routes = alias_routes(store.embedding_alias)
    if routes is None:
        raise Unavailable(f"the store's embedding alias {store.embedding_alias} no longer exists")
    vectors: list[list[float]] = []
    batch = settings.VECTOR_STORE_EMBEDDING_BATCH
    for start in range(0, len(texts), batch):
        request = EmbeddingRequest(
            model=routes.alias,
            inputs=tuple(texts[start : start + batch]),
            input_type=input_type,  # type: ignore[arg-type]
        )
        # Each call is its own usage record; a gateway request's retrieval shares its request id's stem.
        call_id = f"{request_id}-r{start // batch}" if request_id else f"vs-{uuid.uuid4().hex}"
        result = embeddings_create(principal, request, request_id=call_id, routes=routes)
        for vector in result.response.vectors:
            if len(vector) != store.collection.dimensions:
                raise ProviderMisbehaved(
                    f"{store.embedding_alias} returned {len(vector)} dimensions; the store has "
                    f"{store.collection.dimensions}",
                    code="embedding_dimensions_mismatch",
                )
            vectors.append(list(vector))
    return vectors
