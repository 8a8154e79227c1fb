"""Management HTTP for vector stores (`/api/v1/lobs/<lob>/vector-stores/`): a LOB's stores
(`vector_store`), their documents, ingestion jobs and groundings, and sharing a store with another
LOB's use case (`grant`).

Authorization is `access.permissions.RolePermission`; rows are looked up only inside the URL's
LOB, so another LOB's store, document or job is a 404 like an unknown one. Writes go through
`services`, whose refusals become 400s with field errors. Only metadata leaves through here:
a store's chunks are LOB data and are never shown (the gateway's search returns them to keys).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from genai_platform.access.permissions import RolePermission
from genai_platform.management_api import ManagementPage, bad_request, get_or_404, paginated_response
from lob_tenants.fields import UseCasePathField
from lob_tenants.models import DataClassification, Lob, UseCase
from model_catalog.models import Alias

from . import services
from .models import Document, Grounding, IngestionJob, VectorStore
from .selectors import (
    documents_of,
    groundings_of,
    ingestion_failures,
    jobs_of,
    latest_job,
    store_grants,
    stores_with_totals,
)

#: Path segments of store actions, so no store can be named like one.
RESERVED_STORE_SLUGS = frozenset({"create"})
#: Documents one upload may carry (the request body is bounded too, by GATEWAY_MAX_BODY_BYTES).
MAX_DOCUMENTS_PER_UPLOAD = 500

# ---- serializers ----


class JobSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    documents_total = serializers.IntegerField()
    documents_done = serializers.IntegerField()
    documents_unchanged = serializers.IntegerField()
    documents_failed = serializers.IntegerField()
    documents_processed = serializers.IntegerField(help_text="Done, unchanged and failed: progress out of the total.")
    chunks_written = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class GroundingSerializer(serializers.Serializer):
    use_case = serializers.CharField(help_text="`<lob>/<use case>` whose chat completions are grounded in the store.")
    top_k = serializers.IntegerField()
    score_threshold = serializers.FloatField()
    created_at = serializers.DateTimeField()


class VectorStoreSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id", help_text="What `/v1/vector_stores/{id}/search` takes.")
    slug = serializers.SlugField()
    name = serializers.CharField()
    description = serializers.CharField()
    backend = serializers.CharField()
    connection = serializers.CharField(help_text="Where workers find the connection string (env:/file:), never it.")
    embedding_alias = serializers.CharField(source="embedding_alias.name")
    dimensions = serializers.IntegerField()
    metric = serializers.CharField()
    data_classification = serializers.CharField()
    ingestion_use_case = serializers.SlugField(source="ingestion_use_case.slug")
    chunk_size = serializers.IntegerField()
    chunk_overlap = serializers.IntegerField()
    document_count = serializers.IntegerField()
    chunk_total = serializers.IntegerField(help_text="Chunks its documents were last written as.")
    created_at = serializers.DateTimeField()


class VectorStoreDetailSerializer(VectorStoreSerializer):
    latest_job = serializers.SerializerMethodField()
    groundings = serializers.SerializerMethodField()

    @extend_schema_field(JobSerializer(allow_null=True))
    def get_latest_job(self, store: VectorStore) -> dict[str, Any] | None:
        job = latest_job(store)
        return JobSerializer(job).data if job is not None else None

    @extend_schema_field(GroundingSerializer(many=True))
    def get_groundings(self, store: VectorStore) -> list[dict[str, Any]]:
        return GroundingSerializer(groundings_of(store), many=True).data


class DocumentSerializer(serializers.Serializer):
    id = serializers.CharField(source="external_id", help_text="The LOB's own id of the document.")
    version = serializers.IntegerField()
    title = serializers.CharField()
    source = serializers.CharField()
    content_type = serializers.CharField()
    sha256 = serializers.CharField()
    size_bytes = serializers.IntegerField()
    attributes = serializers.JSONField()
    status = serializers.CharField()
    chunk_count = serializers.IntegerField()
    error = serializers.CharField()
    job = serializers.IntegerField(source="job_id", allow_null=True, help_text="The ingestion job that last wrote it.")
    updated_at = serializers.DateTimeField()


def _refused(error: Exception) -> ValidationError:
    if isinstance(error, DjangoValidationError) and hasattr(error, "message_dict"):
        return ValidationError(error.message_dict)
    return bad_request(error)


class _LobVectorStoresApi(APIView):
    permission_classes = [RolePermission]
    access_object = "vector_store"
    lob: Lob  # set by RolePermission

    def store(self, slug: str) -> VectorStore:
        return get_or_404(stores_with_totals(self.lob), slug=slug)


# ---- stores ----


class VectorStoreListApi(_LobVectorStoresApi):
    pagination_class = ManagementPage

    @extend_schema(operation_id="vector_store_list", tags=["vector stores"], responses=VectorStoreSerializer(many=True))
    def get(self, request: Request, lob: str) -> Response:
        return paginated_response(
            view=self, request=request, queryset=stores_with_totals(self.lob), serializer=VectorStoreSerializer
        )


class VectorStoreCreateApi(_LobVectorStoresApi):
    """Registers a store and creates its collection. The embedding alias must be approved for the
    store's data classification; ingestion is paid by one of the LOB's use cases."""

    class InputSerializer(serializers.Serializer):
        slug = serializers.SlugField(max_length=64)
        name = serializers.CharField(max_length=200)
        description = serializers.CharField(required=False, allow_blank=True)
        embedding_alias = serializers.CharField(help_text="The catalog alias that embeds chunks and queries.")
        dimensions = serializers.IntegerField(min_value=1, max_value=16000)
        metric = serializers.ChoiceField(choices=VectorStore.Metric.choices, required=False)
        # A plain field: a second ChoiceField over DataClassification would name its schema enum twice.
        data_classification = serializers.CharField(
            required=False, help_text=f"The data it holds: one of {', '.join(DataClassification.values)}."
        )
        ingestion_use_case = serializers.SlugField(help_text="A use case of this LOB; it pays for embedding.")
        connection = serializers.CharField(
            max_length=300,
            required=False,
            allow_blank=True,
            help_text="env:NAME or file:PATH holding the connection string; empty: the platform's vector database.",
        )
        backend = serializers.ChoiceField(choices=VectorStore.Backend.choices, required=False)
        chunk_size = serializers.IntegerField(required=False, help_text="Characters per chunk.")
        chunk_overlap = serializers.IntegerField(required=False, min_value=0)

        class Meta:
            ref_name = "VectorStoreInput"

        def validate_slug(self, value: str) -> str:
            if value in RESERVED_STORE_SLUGS:
                raise ValidationError("This name is reserved.")
            return value

        def validate_data_classification(self, value: str) -> str:
            if value not in DataClassification.values:
                raise ValidationError(f"Choose one of {', '.join(DataClassification.values)}.")
            return value

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            lob: Lob = self.context["lob"]
            attrs["embedding_alias"] = Alias.objects.filter(name=attrs["embedding_alias"]).first()
            if attrs["embedding_alias"] is None:
                raise ValidationError({"embedding_alias": ["No such model."]})
            attrs["ingestion_use_case"] = UseCase.objects.filter(lob=lob, slug=attrs["ingestion_use_case"]).first()
            if attrs["ingestion_use_case"] is None:
                raise ValidationError({"ingestion_use_case": ["This LOB has no such use case."]})
            return attrs

    @extend_schema(
        operation_id="vector_store_create",
        tags=["vector stores"],
        request=InputSerializer,
        responses={201: VectorStoreDetailSerializer},
    )
    def post(self, request: Request, lob: str) -> Response:
        data = self.InputSerializer(data=request.data, context={"lob": self.lob})
        data.is_valid(raise_exception=True)
        try:
            store = services.vector_store_create(lob=self.lob, actor=request.user, **data.validated_data)
        except (DjangoValidationError, ValueError) as error:
            raise _refused(error) from error
        return Response(VectorStoreDetailSerializer(self.store(store.slug)).data, status=status.HTTP_201_CREATED)


class VectorStoreDetailApi(_LobVectorStoresApi):
    @extend_schema(operation_id="vector_store_detail", tags=["vector stores"], responses=VectorStoreDetailSerializer)
    def get(self, request: Request, lob: str, store: str) -> Response:
        return Response(VectorStoreDetailSerializer(self.store(store)).data)


class VectorStoreDeleteApi(_LobVectorStoresApi):
    """Deletes the store, its documents and every chunk; agents and use cases grounded in it lose it."""

    @extend_schema(operation_id="vector_store_delete", tags=["vector stores"], request=None, responses={204: None})
    def post(self, request: Request, lob: str, store: str) -> Response:
        services.vector_store_delete(store=self.store(store), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---- documents ----


class _DocumentInput(serializers.Serializer):
    id = serializers.CharField(max_length=200, help_text="The LOB's own id; the same id replaces the document.")
    text = serializers.CharField(required=False, trim_whitespace=False, help_text="The document as text.")
    content_base64 = serializers.CharField(required=False, help_text="Or its bytes, base64-encoded (a PDF).")
    filename = serializers.CharField(
        max_length=255, required=False, allow_blank=True, help_text="Tells its type (.md, .txt, .html, .pdf)."
    )
    content_type = serializers.CharField(max_length=100, required=False, allow_blank=True)
    version = serializers.IntegerField(
        min_value=1, required=False, help_text="Omitted: the next version if the content changed."
    )
    title = serializers.CharField(max_length=300, required=False, allow_blank=True)
    source = serializers.CharField(max_length=500, required=False, allow_blank=True)
    attributes = serializers.DictField(required=False, help_text="Metadata searches can filter on.")

    class Meta:
        ref_name = "VectorStoreDocumentInput"

    def validate(self, attrs: dict[str, Any]) -> services.Upload:
        if ("text" in attrs) == ("content_base64" in attrs):
            raise ValidationError({"text": ["Give either text or content_base64."]})
        if "text" in attrs:
            content = attrs["text"].encode()
        else:
            try:
                content = base64.b64decode(attrs["content_base64"], validate=True)
            except (binascii.Error, ValueError):
                raise ValidationError({"content_base64": ["Not valid base64."]}) from None
        filename = attrs.get("filename") or attrs["id"]
        content_type = attrs.get("content_type", "")
        if "text" in attrs and not content_type and not attrs.get("filename"):
            content_type = "text/plain"  # text with no name to tell its type by
        return services.Upload(
            external_id=attrs["id"],
            filename=filename,
            content=content,
            content_type=content_type,
            version=attrs.get("version"),
            title=attrs.get("title", ""),
            source=attrs.get("source", ""),
            attributes=attrs.get("attributes", {}),
        )


class _JsonUploadInput(serializers.Serializer):
    documents = serializers.ListField(child=_DocumentInput(), min_length=1, max_length=MAX_DOCUMENTS_PER_UPLOAD)

    class Meta:
        ref_name = "VectorStoreJsonUpload"


@extend_schema_field(OpenApiTypes.BINARY)
class _UploadedFile(serializers.FileField):
    """A file part of a multipart body (binary in the schema, not a URL)."""


class _MultipartUploadInput(serializers.Serializer):
    """Files, and per file (in the same order, each given for every file or for none) its metadata."""

    file = serializers.ListField(child=_UploadedFile(), min_length=1, max_length=MAX_DOCUMENTS_PER_UPLOAD)
    id = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, help_text="Default: the file's name."
    )
    version = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False)
    title = serializers.ListField(child=serializers.CharField(max_length=300, allow_blank=True), required=False)
    source = serializers.ListField(child=serializers.CharField(max_length=500, allow_blank=True), required=False)
    attributes = serializers.ListField(
        child=serializers.JSONField(binary=True), required=False, help_text="A JSON object per file."
    )

    class Meta:
        ref_name = "VectorStoreMultipartUpload"

    def validate(self, attrs: dict[str, Any]) -> list[services.Upload]:
        files = attrs["file"]
        for name in ("id", "version", "title", "source", "attributes"):
            if name in attrs and len(attrs[name]) != len(files):
                raise ValidationError({name: [f"Give one {name} per file, in the order of the files, or none."]})
        if any(not isinstance(value, dict) for value in attrs.get("attributes", [])):
            raise ValidationError({"attributes": ["Each file's attributes are a JSON object."]})
        too_large = [f.name for f in files if f.size > settings.VECTOR_STORE_MAX_DOCUMENT_BYTES]
        if too_large:  # refused before reading it into memory
            limit = settings.VECTOR_STORE_MAX_DOCUMENT_BYTES
            raise ValidationError({"file": [f"{', '.join(too_large)} larger than {limit} bytes."]})
        return [
            services.Upload(
                external_id=attrs["id"][i] if "id" in attrs else upload.name,
                filename=upload.name,
                content=upload.read(),
                content_type=upload.content_type or "",
                version=attrs["version"][i] if "version" in attrs else None,
                title=attrs["title"][i] if "title" in attrs else "",
                source=attrs["source"][i] if "source" in attrs else "",
                attributes=attrs["attributes"][i] if "attributes" in attrs else {},
            )
            for i, upload in enumerate(files)
        ]


class DocumentListApi(_LobVectorStoresApi):
    pagination_class = ManagementPage

    @extend_schema(
        operation_id="vector_store_document_list", tags=["vector stores"], responses=DocumentSerializer(many=True)
    )
    def get(self, request: Request, lob: str, store: str) -> Response:
        documents = documents_of(self.store(store))
        return paginated_response(view=self, request=request, queryset=documents, serializer=DocumentSerializer)


class DocumentUploadApi(_LobVectorStoresApi):
    """Accepts documents for ingestion: multipart files, or JSON with each document's text or bytes.
    Answers 202 with the ingestion job, whose counters show progress; a document already ingested
    with the same content is counted as unchanged. An invalid document refuses the whole batch."""

    parser_classes = [JSONParser, MultiPartParser]

    @extend_schema(
        operation_id="vector_store_document_upload",
        tags=["vector stores"],
        request={"application/json": _JsonUploadInput, "multipart/form-data": _MultipartUploadInput},
        responses={202: JobSerializer},
    )
    def post(self, request: Request, lob: str, store: str) -> Response:
        found = self.store(store)
        if request.content_type.startswith("multipart/"):
            files = _MultipartUploadInput(data=request.data)
            files.is_valid(raise_exception=True)
            uploads = files.validated_data
        else:
            documents = _JsonUploadInput(data=request.data)
            documents.is_valid(raise_exception=True)
            uploads = documents.validated_data["documents"]
        try:
            job = services.documents_ingest(store=found, uploads=uploads, actor=request.user)
        except (DjangoValidationError, ValueError) as error:
            raise _refused(error) from error
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class DocumentDeleteApi(_LobVectorStoresApi):
    """Removes a document and every one of its chunks."""

    class OutputSerializer(serializers.Serializer):
        id = serializers.CharField()
        chunks_removed = serializers.IntegerField()

        class Meta:
            ref_name = "VectorStoreDocumentDeleted"

    @extend_schema(
        operation_id="vector_store_document_delete", tags=["vector stores"], request=None, responses=OutputSerializer
    )
    def post(self, request: Request, lob: str, store: str, document: str) -> Response:
        found: Document = get_or_404(documents_of(self.store(store)), external_id=document)
        removed = services.document_delete(document=found, actor=request.user)
        return Response(self.OutputSerializer({"id": document, "chunks_removed": removed}).data)


# ---- ingestion jobs ----


class IngestionJobListApi(_LobVectorStoresApi):
    pagination_class = ManagementPage

    @extend_schema(operation_id="vector_store_job_list", tags=["vector stores"], responses=JobSerializer(many=True))
    def get(self, request: Request, lob: str, store: str) -> Response:
        jobs = jobs_of(self.store(store))
        return paginated_response(view=self, request=request, queryset=jobs, serializer=JobSerializer)


class IngestionJobDetailApi(_LobVectorStoresApi):
    class OutputSerializer(JobSerializer):
        class FailureSerializer(serializers.Serializer):
            document = serializers.CharField()
            error = serializers.CharField()

        failures = FailureSerializer(many=True, help_text="Documents it failed to ingest, with why.")

        class Meta:
            ref_name = "VectorStoreJobDetail"

    @extend_schema(operation_id="vector_store_job_detail", tags=["vector stores"], responses=OutputSerializer)
    def get(self, request: Request, lob: str, store: str, job_id: int) -> Response:
        job: IngestionJob = get_or_404(jobs_of(self.store(store)), pk=job_id)
        failures = [{"document": document, "error": error} for document, error in ingestion_failures([job.pk])]
        return Response(self.OutputSerializer({**JobSerializer(job).data, "failures": failures}).data)


# ---- grounding a use case of the LOB in the store ----


class _GroundingInput(serializers.Serializer):
    use_case = serializers.SlugField(help_text="A use case of this LOB.")

    class Meta:
        ref_name = "GroundingUseCase"

    def validate_use_case(self, value: str) -> UseCase:
        use_case = UseCase.objects.filter(lob=self.context["lob"], slug=value).select_related("lob").first()
        if use_case is None:
            raise ValidationError("This LOB has no such use case.")
        return use_case


class GroundingAttachApi(_LobVectorStoresApi):
    """Grounds a use case's chat completions in the store (or changes how). For an approved use case
    a new grounding is a material change: it goes back to review."""

    class InputSerializer(_GroundingInput):
        top_k = serializers.IntegerField(min_value=1, max_value=50, required=False, default=4)
        score_threshold = serializers.FloatField(required=False, default=0.0)

        class Meta:
            ref_name = "GroundingAttach"

    @extend_schema(
        operation_id="vector_store_grounding_attach",
        tags=["vector stores"],
        request=InputSerializer,
        responses={201: GroundingSerializer, 200: GroundingSerializer},
    )
    def post(self, request: Request, lob: str, store: str) -> Response:
        found = self.store(store)
        data = self.InputSerializer(data=request.data, context={"lob": self.lob})
        data.is_valid(raise_exception=True)
        use_case = data.validated_data["use_case"]
        existed = groundings_of(found).filter(use_case=use_case).exists()
        try:
            grounding: Grounding = services.grounding_attach(store=found, actor=request.user, **data.validated_data)
        except (DjangoValidationError, ValueError) as error:
            raise _refused(error) from error
        answer = status.HTTP_200_OK if existed else status.HTTP_201_CREATED
        return Response(GroundingSerializer(grounding).data, status=answer)


class GroundingDetachApi(_LobVectorStoresApi):
    @extend_schema(
        operation_id="vector_store_grounding_detach",
        tags=["vector stores"],
        request=_GroundingInput,
        responses={204: None},
    )
    def post(self, request: Request, lob: str, store: str) -> Response:
        found = self.store(store)
        data = _GroundingInput(data=request.data, context={"lob": self.lob})
        data.is_valid(raise_exception=True)
        use_case = data.validated_data["use_case"]
        if not groundings_of(found).filter(use_case=use_case).exists():
            raise ValidationError({"use_case": ["This use case is not grounded in this store."]})
        services.grounding_detach(use_case=use_case, store=found, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---- sharing a store with another LOB's use case ----


class VectorStoreGrantSerializer(serializers.Serializer):
    store = serializers.CharField(source="content_object.public_id")
    use_case = serializers.CharField(source="group.use_case", help_text="`<lob>/<use case>` that may search it.")


class _VectorStoreGrantInput(serializers.Serializer):
    use_case = UseCasePathField()

    class Meta:
        ref_name = "VectorStoreGrantChange"


class VectorStoreShareApi(APIView):
    """Lets another use case search the store and be grounded in it (LOB admins only)."""

    permission_classes = [RolePermission]
    access_object = "grant"
    lob: Lob

    @extend_schema(
        operation_id="vector_store_share",
        tags=["vector stores"],
        request=_VectorStoreGrantInput,
        responses={201: VectorStoreGrantSerializer},
    )
    def post(self, request: Request, lob: str, store: str) -> Response:
        found = get_or_404(stores_with_totals(self.lob), slug=store)
        data = _VectorStoreGrantInput(data=request.data)
        data.is_valid(raise_exception=True)
        use_case = data.validated_data["use_case"]
        services.vector_store_share(store=found, use_case=use_case, actor=request.user)
        grant = store_grants(found).get(group__use_case=use_case)
        return Response(VectorStoreGrantSerializer(grant).data, status=status.HTTP_201_CREATED)


class VectorStoreUnshareApi(APIView):
    permission_classes = [RolePermission]
    access_object = "grant"
    lob: Lob

    @extend_schema(
        operation_id="vector_store_unshare",
        tags=["vector stores"],
        request=_VectorStoreGrantInput,
        responses={204: None},
    )
    def post(self, request: Request, lob: str, store: str) -> Response:
        found = get_or_404(stores_with_totals(self.lob), slug=store)
        data = _VectorStoreGrantInput(data=request.data)
        data.is_valid(raise_exception=True)
        use_case = data.validated_data["use_case"]
        if not store_grants(found).filter(group__use_case=use_case).exists():
            raise ValidationError({"use_case": ["This store is not shared with this use case."]})
        services.vector_store_unshare(store=found, use_case=use_case, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
