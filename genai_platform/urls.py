from django.contrib import admin
from django.urls import include, path, re_path

from . import health
from .metrics_endpoint import metrics
from .portal import views as portal

urlpatterns = [
    path("", portal.home, name="home"),
    path("admin/", admin.site.urls),
    path("portal/", include("genai_platform.portal.urls")),
    # The roots of both APIs answer JSON (with or without the slash), never an HTML page.
    re_path(r"^v1/?$", portal.gateway_index, name="gateway-index"),
    path("v1/", include("genai_platform.gateway.urls")),
    re_path(r"^api/v1/?$", portal.management_index, name="api-index"),
    path("api/v1/", include("genai_platform.api_urls")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
]
