"""The agents' inference routes, included under `/v1/agents/` by the gateway's URL configuration."""

from django.urls import path

from . import gateway_apis

urlpatterns = [
    path("<str:agent_id>/runs", gateway_apis.AgentRunCreateApi.as_view(), name="agent-run-create"),
    path("<str:agent_id>/runs/<str:run_id>", gateway_apis.AgentRunDetailApi.as_view(), name="agent-run-detail"),
    path("<str:agent_id>/runs/<str:run_id>/cancel", gateway_apis.AgentRunCancelApi.as_view(), name="agent-run-cancel"),
]
