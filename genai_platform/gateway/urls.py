from django.urls import path

from . import agent_apis, apis, openapi, responses_apis

urlpatterns = [
    path("openapi.json", openapi.openapi_view, name="inference-openapi"),
    path("chat/completions", apis.ChatCompletionsApi.as_view(), name="chat-completions"),
    path("completions", apis.CompletionsApi.as_view(), name="completions"),
    path("embeddings", apis.EmbeddingsApi.as_view(), name="embeddings"),
    path("responses", responses_apis.ResponseCreateApi.as_view(), name="responses"),
    path("responses/<str:response_id>", responses_apis.ResponseDetailApi.as_view(), name="response-detail"),
    path(
        "responses/<str:response_id>/input_items",
        responses_apis.ResponseInputItemsApi.as_view(),
        name="response-input-items",
    ),
    path("guardrails/apply", apis.GuardrailApplyApi.as_view(), name="guardrails-apply"),
    path("vector_stores/<str:store_id>/search", apis.VectorStoreSearchApi.as_view(), name="vector-store-search"),
    path("models", apis.ModelListApi.as_view(), name="models"),
    path("models/<path:model>", apis.ModelDetailApi.as_view(), name="model-detail"),
    path("agents/<str:agent_id>/runs", agent_apis.AgentRunCreateApi.as_view(), name="agent-run-create"),
    path("agents/<str:agent_id>/runs/<str:run_id>", agent_apis.AgentRunDetailApi.as_view(), name="agent-run-detail"),
    path(
        "agents/<str:agent_id>/runs/<str:run_id>/cancel",
        agent_apis.AgentRunCancelApi.as_view(),
        name="agent-run-cancel",
    ),
]
