"""Agents' management routes, mounted at `api/v1/`: a LOB's tools, agents and runs under
`lobs/<lob>/`, and the central allow-list under `tool-allowances/`."""

from django.urls import path

from . import apis

app_name = "agents"

LOB = "lobs/<slug:lob>/"
TOOL = LOB + "tools/<str:tool>/"
AGENT = LOB + "agents/<slug:agent>/"
ALLOWANCE = "tool-allowances/<int:allowance_id>/"

urlpatterns = [
    path(LOB + "tools/", apis.ToolListApi.as_view(), name="tool-list"),
    path(LOB + "tools/create/", apis.ToolCreateApi.as_view(), name="tool-create"),
    path(TOOL, apis.ToolDetailApi.as_view(), name="tool-detail"),
    path(TOOL + "update/", apis.ToolUpdateApi.as_view(), name="tool-update"),
    path(TOOL + "delete/", apis.ToolDeleteApi.as_view(), name="tool-delete"),
    path(LOB + "agents/", apis.AgentListApi.as_view(), name="agent-list"),
    path(LOB + "agents/create/", apis.AgentCreateApi.as_view(), name="agent-create"),
    path(AGENT, apis.AgentDetailApi.as_view(), name="agent-detail"),
    path(AGENT + "update/", apis.AgentUpdateApi.as_view(), name="agent-update"),
    path(AGENT + "delete/", apis.AgentDeleteApi.as_view(), name="agent-delete"),
    path(AGENT + "share/", apis.AgentShareApi.as_view(), name="agent-share"),
    path(AGENT + "unshare/", apis.AgentUnshareApi.as_view(), name="agent-unshare"),
    path(AGENT + "runs/", apis.AgentRunListApi.as_view(), name="agent-run-list"),
    path(AGENT + "runs/<str:run_id>/", apis.AgentRunReadApi.as_view(), name="agent-run-detail"),
    path("tool-allowances/", apis.ToolAllowanceListApi.as_view(), name="tool-allowance-list"),
    path("tool-allowances/create/", apis.ToolAllowanceCreateApi.as_view(), name="tool-allowance-create"),
    path(ALLOWANCE, apis.ToolAllowanceDetailApi.as_view(), name="tool-allowance-detail"),
    path(ALLOWANCE + "update/", apis.ToolAllowanceUpdateApi.as_view(), name="tool-allowance-update"),
    path(ALLOWANCE + "delete/", apis.ToolAllowanceDeleteApi.as_view(), name="tool-allowance-delete"),
]
