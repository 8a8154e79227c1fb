"""LOB self-service, mounted at `api/v1/lobs/`: one URL per action, every one inside a LOB but the list of LOBs."""

from django.urls import path

from . import apis, governance_apis, prompt_apis

app_name = "tenants"

USE_CASE = "<slug:lob>/use-cases/<slug:use_case>/"
KEY = USE_CASE + "keys/<slug:prefix>/"
PROMPT_VERSION = "<slug:lob>/prompt-templates/<slug:template>/versions/<int:version>/"

urlpatterns = [
    path("", apis.LobListApi.as_view(), name="lob-list"),
    path("<slug:lob>/use-cases/", apis.UseCaseListApi.as_view(), name="use-case-list"),
    path("<slug:lob>/use-cases/create/", apis.UseCaseCreateApi.as_view(), name="use-case-create"),
    path(USE_CASE, apis.UseCaseDetailApi.as_view(), name="use-case-detail"),
    path(USE_CASE + "update/", apis.UseCaseUpdateApi.as_view(), name="use-case-update"),
    path(USE_CASE + "governance/", governance_apis.UseCaseGovernanceApi.as_view(), name="use-case-governance"),
    path(USE_CASE + "intake/", governance_apis.IntakeSaveApi.as_view(), name="use-case-intake-save"),
    path(USE_CASE + "submit/", governance_apis.UseCaseSubmitApi.as_view(), name="use-case-submit"),
    path(USE_CASE + "withdraw/", governance_apis.UseCaseWithdrawApi.as_view(), name="use-case-withdraw"),
    path(
        USE_CASE + "material-change/",
        governance_apis.UseCaseMaterialChangeApi.as_view(),
        name="use-case-material-change",
    ),
    path(USE_CASE + "retire/", governance_apis.UseCaseRetireApi.as_view(), name="use-case-retire"),
    path(
        USE_CASE + "reviews/<int:review_id>/decisions/<int:decision_id>/evidence/",
        governance_apis.UseCaseReviewEvidenceApi.as_view(),
        name="use-case-review-evidence",
    ),
    path(USE_CASE + "keys/", apis.ApiKeyListApi.as_view(), name="api-key-list"),
    path(USE_CASE + "keys/issue/", apis.ApiKeyIssueApi.as_view(), name="api-key-issue"),
    path(KEY + "revoke/", apis.ApiKeyRevokeApi.as_view(), name="api-key-revoke"),
    path(KEY + "rotate/", apis.ApiKeyRotateApi.as_view(), name="api-key-rotate"),
    path(KEY + "scopes/", apis.ApiKeyScopeApi.as_view(), name="api-key-scope"),
    path(KEY + "expiry/", apis.ApiKeyExpiryApi.as_view(), name="api-key-expiry"),
    path(USE_CASE + "prompt-template/", prompt_apis.UseCasePromptPinApi.as_view(), name="use-case-prompt-pin"),
    path("<slug:lob>/prompt-templates/", prompt_apis.PromptTemplateListApi.as_view(), name="prompt-template-list"),
    path("<slug:lob>/prompt-templates/save/", prompt_apis.PromptTemplateSaveApi.as_view(), name="prompt-template-save"),
    path(PROMPT_VERSION, prompt_apis.PromptTemplateDetailApi.as_view(), name="prompt-template-detail"),
    path(PROMPT_VERSION + "render/", prompt_apis.PromptTemplateRenderApi.as_view(), name="prompt-template-render"),
]
