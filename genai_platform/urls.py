from django.contrib import admin
from django.urls import include, path

from . import health
from .metrics_endpoint import metrics

urlpatterns = [
    path("admin/", admin.site.urls),
    path("v1/", include("genai_platform.gateway.urls")),
    path("api/v1/", include("genai_platform.api_urls")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
]
