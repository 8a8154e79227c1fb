"""The catalog's management API, mounted at `api/v1/catalog/`."""

from django.urls import path

from . import apis

app_name = "catalog"


def _kind(segment: str, kind: str, views: dict) -> list:
    return [
        path(f"{segment}/", views["list"].as_view(), name=f"{kind}-list"),
        path(f"{segment}/create/", views["create"].as_view(), name=f"{kind}-create"),
        path(f"{segment}/<str:name>/", views["detail"].as_view(), name=f"{kind}-detail"),
        path(f"{segment}/<str:name>/update/", views["update"].as_view(), name=f"{kind}-update"),
        path(f"{segment}/<str:name>/delete/", views["delete"].as_view(), name=f"{kind}-delete"),
    ]


urlpatterns = [
    *_kind("accounts", "account", apis.ACCOUNT_APIS),
    *_kind("models", "model", apis.MODEL_APIS),
    *_kind("deployments", "deployment", apis.DEPLOYMENT_APIS),
    *_kind("aliases", "alias", apis.ALIAS_APIS),
    path("deployments/<str:name>/deprecate/", apis.DeploymentDeprecateApi.as_view(), name="deployment-deprecate"),
    path("deployments/<str:name>/retire/", apis.DeploymentRetireApi.as_view(), name="deployment-retire"),
    path("aliases/<str:name>/routes/", apis.AliasRoutesApi.as_view(), name="alias-routes"),
    path("aliases/<str:name>/retire/", apis.AliasRetireApi.as_view(), name="alias-retire"),
]
