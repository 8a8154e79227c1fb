"""Reading vector stores: what a LOB owns, and what a use case may search or be grounded in.

The request-path lookups (`readable_store`, `groundings_for`) are cached in two levels and keyed
by the `vector_stores` generation, which every change to a store, grounding or grant bumps, so
a revoked grant stops working in every process within GATEWAY_LOCAL_CACHE_SECONDS.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from genai_platform import hotcache
from genai_platform.access.services import use_case_can_read
from lob_tenants.models import Lob, UseCase

from .backends import Collection
from .models import Document, Grounding, IngestionJob, VectorStore

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
    """The stores a use case's chat completions are grounded in, dropping any it may no longer read."""
    key = f"vs:groundings:{hotcache.generation(GENERATION)}:{use_case_id}"
    return hotcache.lookup(key, lambda: _load_groundings(use_case_id))


def _load_groundings(use_case_id: int) -> tuple[GroundingRef, ...]:
    groundings = Grounding.objects.filter(use_case_id=use_case_id).select_related("use_case", "store__embedding_alias")
    return tuple(
        GroundingRef(store_ref(g.store), g.top_k, g.score_threshold)
        for g in groundings
        if use_case_can_read(g.use_case, g.store, g.store.lob_id)
    )


def stores_of(lob: Lob) -> QuerySet[VectorStore]:
    return VectorStore.objects.filter(lob=lob).select_related("embedding_alias", "ingestion_use_case")


def documents_of(store: VectorStore) -> QuerySet[Document]:
    return Document.objects.filter(store=store)


def jobs_of(store: VectorStore) -> QuerySet[IngestionJob]:
    return IngestionJob.objects.filter(store=store)


def groundings_of(store: VectorStore) -> QuerySet[Grounding]:
    return Grounding.objects.filter(store=store).select_related("use_case__lob")
