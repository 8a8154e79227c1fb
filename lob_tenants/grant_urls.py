"""A LOB's prompt-template grants (`lobs/<lob>/grants/`): joined into the URL namespace `access` by
`genai_platform.api_urls`, beside the LOB's members and break-glass decisions, as before they moved here."""

from django.urls import path

from . import grant_apis

LOB = "lobs/<slug:lob>/"

urlpatterns = [
    path(LOB + "grants/", grant_apis.GrantListApi.as_view(), name="grant-list"),
    path(LOB + "grants/share/", grant_apis.GrantShareApi.as_view(), name="grant-share"),
    path(LOB + "grants/unshare/", grant_apis.GrantUnshareApi.as_view(), name="grant-unshare"),
]
