"""Reading vector stores: what a LOB owns, and what a use case may search or be grounded in.

The request-path lookups (`readable_store`, `groundings_for`) are cached in two levels and keyed
by the `vector_stores` generation, which every change to a store, grounding or grant bumps, so
a revoked grant stops working in every process within GATEWAY_LOCAL_CACHE_SECONDS.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import Coalesce

from genai_platform import hotcache
from lob_tenants.models import DataClassification, Lob, UseCase
from lob_tenants.selectors import use_case_can_read

from .backends import Collection
from .models import Document, Grounding, IngestionJob, VectorStore, VectorStoreGroupObjectPermission

GENERATION = "vector_stores"


@dataclass(frozen=True)
class StoreRef:
    """What retrieval needs to know about a store; small and picklable, so it can be cached."""

    id: int
    public_id: str
    name: str
    lob_id: int
    backend: str
    connection: str
    embedding_alias: str
    collection: Collection
    data_classification: str = "internal"


@dataclass(frozen=True)
class GroundingRef:
    store: StoreRef
    top_k: int
    score_threshold: float


def collection_of(store: VectorStore) -> Collection:
    name = f"chunks_{store.public_id.removeprefix('vs_')}"
    return Collection(name=name, dimensions=store.dimensions, metric=store.metric)


def store_ref(store: VectorStore) -> StoreRef:
    return StoreRef(
        id=store.pk,
        public_id=store.public_id,
        name=store.name,
        lob_id=store.lob_id,
        backend=store.backend,
        connection=store.connection,
        embedding_alias=store.embedding_alias.name,
        collection=collection_of(store),
        data_classification=store.data_classification,
    )


def classification_covers(use_case_classification: str, store_classification: str) -> bool:
    """Whether a use case approved for `use_case_classification` data may receive a store's chunks:
    its models are approved for that classification, not for anything more sensitive."""
    order = list(DataClassification.values)  # least to most sensitive
    return order.index(store_classification) <= order.index(use_case_classification)


def _groundable(use_case: UseCase, store: VectorStore) -> bool:
    return use_case_can_read(use_case, store, store.lob_id) and classification_covers(
        use_case.data_classification, store.data_classification
    )


def readable_store(*, use_case_id: int, public_id: str) -> StoreRef | None:
    """The store if the use case may search it (its LOB's own, or shared with it); None otherwise,
    so an unknown store and another LOB's look the same."""
    key = f"vs:readable:{hotcache.generation(GENERATION)}:{use_case_id}:{public_id}"
    return hotcache.lookup(key, lambda: _load_readable(use_case_id, public_id))


def _load_readable(use_case_id: int, public_id: str) -> StoreRef | None:
    store = VectorStore.objects.select_related("embedding_alias").filter(public_id=public_id).first()
    use_case = UseCase.objects.filter(pk=use_case_id).first()
    if store is None or use_case is None or not use_case_can_read(use_case, store, store.lob_id):
        return None
    return store_ref(store)


def groundings_for(use_case_id: int) -> tuple[GroundingRef, ...]:
    """The stores a use case's chat completions are grounded in, dropping any it may no longer read
    or whose data became more sensitive than the use case's."""
    key = f"vs:groundings:{hotcache.generation(GENERATION)}:{use_case_id}"
    return hotcache.lookup(key, lambda: _load_groundings(use_case_id))


def _load_groundings(use_case_id: int) -> tuple[GroundingRef, ...]:
    groundings = Grounding.objects.filter(use_case_id=use_case_id).select_related("use_case", "store__embedding_alias")
    return tuple(
        GroundingRef(store_ref(g.store), g.top_k, g.score_threshold)
        for g in groundings
        if _groundable(g.use_case, g.store)
    )


def stores_of(lob: Lob) -> QuerySet[VectorStore]:
    return VectorStore.objects.filter(lob=lob).select_related("embedding_alias", "ingestion_use_case")


def stores_with_totals(lob: Lob) -> QuerySet[VectorStore]:
    """The LOB's stores, each with `document_count` and `chunk_total` (chunks of its documents)."""
    return stores_of(lob).annotate(
        document_count=Count("documents"), chunk_total=Coalesce(Sum("documents__chunk_count"), 0)
    )


def latest_job(store: VectorStore) -> IngestionJob | None:
    return jobs_of(store).first()


def store_grants(store: VectorStore) -> QuerySet[VectorStoreGroupObjectPermission]:
    """The other use cases the store is shared with (`view_vectorstore` on their grant groups)."""
    return VectorStoreGroupObjectPermission.objects.filter(
        content_object=store, group__use_case__isnull=False, permission__codename="view_vectorstore"
    ).select_related("content_object", "group__use_case__lob")


def documents_of(store: VectorStore) -> QuerySet[Document]:
    return Document.objects.filter(store=store)


def jobs_of(store: VectorStore) -> QuerySet[IngestionJob]:
    return IngestionJob.objects.filter(store=store)


def groundings_of(store: VectorStore) -> QuerySet[Grounding]:
    return Grounding.objects.filter(store=store).select_related("use_case__lob")


def stores_by_public_id(public_ids: Iterable[str]) -> list[VectorStore]:
    """The stores with these ids, whichever LOB owns them: a caller attaching them checks that
    its use case may read them (`agents.services.agent_save` does)."""
    return list(VectorStore.objects.select_related("lob").filter(public_id__in=set(public_ids)))


def store_by_path(path: str) -> VectorStore | None:
    """The store named `<lob slug>/<store slug>`, or None (an operator's lookup: no use case's scope)."""
    lob_slug, _, slug = path.strip().partition("/")
    if not lob_slug or not slug:
        return None
    return (
        VectorStore.objects.select_related("lob", "embedding_alias", "ingestion_use_case")
        .filter(lob__slug=lob_slug, slug=slug)
        .first()
    )


# ---- ingestion progress over several jobs (a directory ingested in batches) ----


@dataclass(frozen=True)
class IngestionProgress:
    total: int
    done: int
    unchanged: int
    failed: int
    chunks_written: int
    finished: bool

    @property
    def processed(self) -> int:
        return self.done + self.unchanged + self.failed


def ingestion_progress(job_ids: Sequence[int]) -> IngestionProgress:
    """The jobs' counters added up; `finished` once every one of them has ended."""
    jobs = IngestionJob.objects.filter(pk__in=job_ids)
    sums = jobs.aggregate(
        total=Sum("documents_total"),
        done=Sum("documents_done"),
        unchanged=Sum("documents_unchanged"),
        failed=Sum("documents_failed"),
        chunks=Sum("chunks_written"),
    )
    return IngestionProgress(
        total=sums["total"] or 0,
        done=sums["done"] or 0,
        unchanged=sums["unchanged"] or 0,
        failed=sums["failed"] or 0,
        chunks_written=sums["chunks"] or 0,
        finished=not jobs.filter(finished_at__isnull=True).exists(),
    )


def ingestion_failures(job_ids: Sequence[int]) -> list[tuple[str, str]]:
    """The documents these jobs failed to ingest, with why: (document id, error)."""
    failed = Document.objects.filter(job_id__in=job_ids, status=Document.Status.FAILED).order_by("external_id")
    return list(failed.values_list("external_id", "error"))


# ---- stores an agent is grounded in ----


def readable_groundings(
    use_case: UseCase, stores: Iterable[VectorStore], *, top_k: int, score_threshold: float = 0.0
) -> tuple[GroundingRef, ...]:
    """The stores `use_case` may still read as groundings, dropping any it no longer may (a share
    withdrawn after they were attached, or data more sensitive than the use case's)."""
    return tuple(
        GroundingRef(store_ref(store), top_k, score_threshold) for store in stores if _groundable(use_case, store)
    )
