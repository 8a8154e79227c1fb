"""Vector stores a LOB owns: where its chunks live, how they are embedded, and what was ingested.

The chunks and their vectors are in the store's backend (pgvector), never in the control-plane
database; these rows describe the store, its documents and ingestion jobs.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from lob_tenants.models import DataClassification, Lob, UseCase
from model_catalog.models import Alias


def _public_id() -> str:
    return "vs_" + secrets.token_hex(12)


class VectorStore(models.Model):
    class Backend(models.TextChoices):
        PGVECTOR = "pgvector", "pgvector on PostgreSQL"

    class Metric(models.TextChoices):
        COSINE = "cosine"
        INNER_PRODUCT = "inner_product", "Inner product"
        L2 = "l2", "Euclidean (L2)"

    public_id = models.CharField(max_length=32, unique=True, default=_public_id, editable=False)
    lob = models.ForeignKey(Lob, on_delete=models.PROTECT, related_name="vector_stores")
    slug = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    backend = models.CharField(max_length=16, choices=Backend.choices, default=Backend.PGVECTOR)
    connection = models.CharField(
        max_length=300,
        blank=True,
        help_text="Where workers find the connection string: env:NAME or file:PATH. Empty uses the "
        "platform's vector database (VECTOR_DB_URL). Never the connection string itself.",
    )
    embedding_alias = models.ForeignKey(
        Alias, on_delete=models.PROTECT, related_name="+", help_text="The catalog alias that embeds chunks and queries."
    )
    dimensions = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(16000)])
    metric = models.CharField(max_length=16, choices=Metric.choices, default=Metric.COSINE)
    data_classification = models.CharField(
        max_length=16, choices=DataClassification.choices, default=DataClassification.INTERNAL
    )
    ingestion_use_case = models.ForeignKey(
        UseCase,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The LOB's use case whose budget pays for embedding documents at ingestion.",
    )
    chunk_size = models.PositiveIntegerField(
        default=800, validators=[MinValueValidator(100), MaxValueValidator(8000)], help_text="Characters per chunk."
    )
    chunk_overlap = models.PositiveIntegerField(default=120, help_text="Characters shared by neighbouring chunks.")
    use_cases = models.ManyToManyField(
        UseCase,
        through="Grounding",
        related_name="grounding_stores",
        blank=True,
        help_text="Use cases whose chat completions are grounded in this store.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["lob", "name"]
        constraints = [models.UniqueConstraint(fields=["lob", "slug"], name="vector_store_unique_slug_per_lob")]

    def __str__(self) -> str:
        return f"{self.lob.slug}/{self.slug}"


class Grounding(models.Model):
    """A use case's chat completions are answered with context retrieved from a store."""

    use_case = models.ForeignKey(UseCase, on_delete=models.CASCADE, related_name="groundings")
    store = models.ForeignKey(VectorStore, on_delete=models.CASCADE, related_name="groundings")
    top_k = models.PositiveSmallIntegerField(default=4, validators=[MinValueValidator(1), MaxValueValidator(50)])
    score_threshold = models.FloatField(default=0.0, help_text="Chunks scoring below this are not used.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["use_case", "store"]
        constraints = [models.UniqueConstraint(fields=["use_case", "store"], name="grounding_unique_pair")]

    def __str__(self) -> str:
        return f"{self.use_case} grounded in {self.store}"


class Document(models.Model):
    """One source document in a store, identified by the LOB's own id and version."""

    class Status(models.TextChoices):
        PENDING = "pending"
        READY = "ready"
        FAILED = "failed"

    store = models.ForeignKey(VectorStore, on_delete=models.CASCADE, related_name="documents")
    job = models.ForeignKey(
        "IngestionJob",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="documents",
        help_text="The ingestion job that last wrote it.",
    )
    external_id = models.CharField(max_length=200)
    version = models.PositiveIntegerField(default=1)
    title = models.CharField(max_length=300, blank=True)
    source = models.CharField(max_length=500, blank=True, help_text="Where it came from: a URL or a path.")
    content_type = models.CharField(max_length=100)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveIntegerField(default=0)
    attributes = models.JSONField(default=dict, blank=True, help_text="Metadata searches can filter on.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    chunk_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["store", "external_id"]
        constraints = [models.UniqueConstraint(fields=["store", "external_id"], name="document_unique_id_per_store")]

    def __str__(self) -> str:
        return f"{self.external_id}@{self.version}"


class IngestionJob(models.Model):
    """A batch of documents being parsed, chunked, embedded and written; its progress is what users see."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        PARTIAL = "partial", "Partly failed"

    store = models.ForeignKey(VectorStore, on_delete=models.CASCADE, related_name="ingestion_jobs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    documents_total = models.PositiveIntegerField(default=0)
    documents_done = models.PositiveIntegerField(default=0)
    documents_unchanged = models.PositiveIntegerField(default=0)
    documents_failed = models.PositiveIntegerField(default=0)
    chunks_written = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"ingestion #{self.pk} into {self.store} ({self.status})"

    @property
    def documents_processed(self) -> int:
        return self.documents_done + self.documents_unchanged + self.documents_failed


# Direct foreign-key grant tables (as for prompt templates): another LOB's use case may search a
# store and be grounded in it once the owner shares it (`view_vectorstore` on that use case's group).
class VectorStoreUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(VectorStore, on_delete=models.CASCADE)


class VectorStoreGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(VectorStore, on_delete=models.CASCADE)
