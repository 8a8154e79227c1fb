"""Vector stores' management routes, mounted at `api/v1/`: a LOB's stores under
`lobs/<lob>/vector-stores/`, with their documents, ingestion jobs, groundings and grants."""

from django.urls import path

from . import apis

app_name = "vector_stores"

LOB = "lobs/<slug:lob>/"
STORE = LOB + "vector-stores/<slug:store>/"
# Document ids are the LOB's own and may hold slashes (the ingest command uses relative paths).
DOCUMENT = STORE + "documents/<path:document>/"

urlpatterns = [
    path(LOB + "vector-stores/", apis.VectorStoreListApi.as_view(), name="vector-store-list"),
    path(LOB + "vector-stores/create/", apis.VectorStoreCreateApi.as_view(), name="vector-store-create"),
    path(STORE, apis.VectorStoreDetailApi.as_view(), name="vector-store-detail"),
    path(STORE + "delete/", apis.VectorStoreDeleteApi.as_view(), name="vector-store-delete"),
    path(STORE + "share/", apis.VectorStoreShareApi.as_view(), name="vector-store-share"),
    path(STORE + "unshare/", apis.VectorStoreUnshareApi.as_view(), name="vector-store-unshare"),
    path(STORE + "groundings/attach/", apis.GroundingAttachApi.as_view(), name="grounding-attach"),
    path(STORE + "groundings/detach/", apis.GroundingDetachApi.as_view(), name="grounding-detach"),
    path(STORE + "documents/", apis.DocumentListApi.as_view(), name="document-list"),
    path(STORE + "documents/upload/", apis.DocumentUploadApi.as_view(), name="document-upload"),
    path(DOCUMENT + "delete/", apis.DocumentDeleteApi.as_view(), name="document-delete"),
    path(STORE + "jobs/", apis.IngestionJobListApi.as_view(), name="ingestion-job-list"),
    path(STORE + "jobs/<int:job_id>/", apis.IngestionJobDetailApi.as_view(), name="ingestion-job-detail"),
]
