"""The vector-store backend interface: what ingestion and retrieval need from where vectors live.

Callers use `backend_for(store)` and the normalized types below; adding OpenSearch, Azure AI
Search or Vertex Vector Search means one more module implementing `VectorBackend` and one more
`VectorStore.Backend` choice, with no change to ingestion, retrieval or the APIs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Collection:
    """Where one store's chunks live in its backend, and how they are compared."""

    name: str
    dimensions: int
    metric: str  # "cosine", "inner_product" or "l2"


@dataclass(frozen=True)
class Chunk:
    document_id: str
    document_version: int
    ordinal: int
    text: str
    embedding: Sequence[float]
    title: str = ""
    source: str = ""
    attributes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def chunk_id(self) -> str:
        return f"{self.document_id}#{self.ordinal}"


@dataclass(frozen=True)
class Hit:
    chunk_id: str
    document_id: str
    document_version: int
    ordinal: int
    text: str
    title: str
    source: str
    attributes: Mapping[str, Any]
    #: Higher is closer: cosine similarity, the inner product, or 1 / (1 + Euclidean distance).
    score: float


class BackendError(Exception):
    """The backend could not be reached or refused the operation; the message is safe to show."""


class VectorBackend(Protocol):
    def ensure_collection(self, collection: Collection) -> None: ...

    def drop_collection(self, collection: Collection) -> None: ...

    def replace_document(self, collection: Collection, document_id: str, chunks: Sequence[Chunk]) -> None:
        """Atomically replaces every chunk of `document_id` with `chunks`."""

    def delete_document(self, collection: Collection, document_id: str) -> int: ...

    def count(self, collection: Collection, document_id: str | None = None) -> int: ...

    def query(
        self,
        collection: Collection,
        vector: Sequence[float],
        *,
        top_k: int,
        score_threshold: float | None = None,
        filters: Mapping[str, Any] | None = None,
    ) -> list[Hit]: ...


def backend_for(backend: str, connection: str) -> VectorBackend:
    """The backend for a store's `backend` choice and `connection` reference (resolved here, in-process)."""
    if backend == "pgvector":
        from .pgvector import pgvector_backend

        return pgvector_backend(connection)
    raise BackendError(f"unknown vector-store backend {backend!r}")
