from django.urls import include, path

from . import apis, openapi

urlpatterns = [
    path("openapi.json", openapi.openapi_view, name="inference-openapi"),
    path("chat/completions", apis.ChatCompletionsApi.as_view(), name="chat-completions"),
    path("embeddings", apis.EmbeddingsApi.as_view(), name="embeddings"),
    path("guardrails/apply", apis.GuardrailApplyApi.as_view(), name="guardrails-apply"),
    path("vector_stores/<str:store_id>/search", apis.VectorStoreSearchApi.as_view(), name="vector-store-search"),
    path("models", apis.ModelListApi.as_view(), name="models"),
    path("models/<path:model>", apis.ModelDetailApi.as_view(), name="model-detail"),
    path("agents/", include("lob_tenants.agents.gateway_urls")),
]
