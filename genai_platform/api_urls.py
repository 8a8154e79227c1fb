"""The management REST API (/api/v1/): self-service for LOBs, with its OpenAPI schema and Swagger UI."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from genai_platform.access import urls as access_urls
from genai_platform.access.onboarding_apis import LobOnboardApi
from governance import lob_urls as lob_governance_urls
from lob_tenants import grant_urls as lob_grant_urls
from lob_tenants import urls as lob_urls

#: A LOB's URLs: its own (use cases, keys, prompt templates) and its use cases' governance actions.
LOB_URLS = (lob_urls.urlpatterns + lob_governance_urls.urlpatterns, "tenants")
#: Access control's URLs and a LOB's prompt-template grants, which name use cases and so sit above
#: access (in `lob_tenants`), in the one namespace `access` their names have always had.
ACCESS_URLS = (access_urls.urlpatterns + lob_grant_urls.urlpatterns, access_urls.app_name)

urlpatterns = [
    # Before the LOBs' own URLs: `onboard` is an action of the central team, not a LOB.
    path("lobs/onboard/", LobOnboardApi.as_view(), name="lob-onboard"),
    path("lobs/", include(LOB_URLS)),
    path("", include(ACCESS_URLS)),
    path("tokens/", include("genai_platform.access.token_urls")),
    path("catalog/", include("model_catalog.urls")),
    path("", include("governance.central_urls")),
    path("metering/", include("genai_platform.metering.urls")),
    path("reviews/", include("governance.urls")),
    path("", include("lob_tenants.agents.urls")),
    path("", include("lob_tenants.vector_stores.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
