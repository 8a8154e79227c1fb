"""The central team's governance controls, mounted at `api/v1/`."""

from django.urls import path

from . import central_apis

app_name = "central"

VERSION = "guardrail-policies/versions/<int:version_id>/"

urlpatterns = [
    path("model-approvals/", central_apis.ModelApprovalListApi.as_view(), name="model-approval-list"),
    path("model-approvals/set/", central_apis.ModelApprovalSetApi.as_view(), name="model-approval-set"),
    path("guardrail-policies/", central_apis.GuardrailPolicyListApi.as_view(), name="guardrail-policy-list"),
    path("guardrail-policies/draft/", central_apis.GuardrailDraftApi.as_view(), name="guardrail-policy-draft"),
    path(VERSION, central_apis.GuardrailVersionDetailApi.as_view(), name="guardrail-version-detail"),
    path(VERSION + "diff/", central_apis.GuardrailVersionDiffApi.as_view(), name="guardrail-version-diff"),
    path(VERSION + "publish/", central_apis.GuardrailVersionPublishApi.as_view(), name="guardrail-version-publish"),
    path(VERSION + "shadow/", central_apis.GuardrailShadowReportApi.as_view(), name="guardrail-version-shadow"),
]
