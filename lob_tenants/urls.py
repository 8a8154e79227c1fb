"""LOB self-service, mounted at `api/v1/lobs/` (namespace `tenants`): one URL per action, every one
inside a LOB but the list of LOBs. A use case's governance actions (`governance.lob_urls`) share the
prefix and the namespace: `genai_platform/api_urls.py` joins the two lists."""

from django.urls import path

from . import apis, prompt_apis

USE_CASE = "<slug:lob>/use-cases/<slug:use_case>/"
KEY = USE_CASE + "keys/<slug:prefix>/"
PROMPT_VERSION = "<slug:lob>/prompt-templates/<slug:template>/versions/<int:version>/"

urlpatterns = [
    path("", apis.LobListApi.as_view(), name="lob-list"),
    path("<slug:lob>/use-cases/", apis.UseCaseListApi.as_view(), name="use-case-list"),
    path("<slug:lob>/use-cases/create/", apis.UseCaseCreateApi.as_view(), name="use-case-create"),
    path(USE_CASE, apis.UseCaseDetailApi.as_view(), name="use-case-detail"),
    path(USE_CASE + "update/", apis.UseCaseUpdateApi.as_view(), name="use-case-update"),
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
