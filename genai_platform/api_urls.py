"""The management REST API (/api/v1/): self-service for LOBs, with its OpenAPI schema and Swagger UI."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("lobs/", include("lob_tenants.urls")),
    path("", include("genai_platform.access.urls")),
    path("metering/", include("genai_platform.metering.urls")),
    path("reviews/", include("governance.urls")),
    path("", include("lob_tenants.agents.urls")),
    path("", include("lob_tenants.vector_stores.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
