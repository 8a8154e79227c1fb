"""A person's own management-API tokens, mounted at `api/v1/tokens/`."""

from django.urls import path

from . import token_apis

app_name = "tokens"

urlpatterns = [
    path("", token_apis.TokenListApi.as_view(), name="token-list"),
    path("issue/", token_apis.TokenIssueApi.as_view(), name="token-issue"),
    path("<slug:prefix>/revoke/", token_apis.TokenRevokeApi.as_view(), name="token-revoke"),
]
