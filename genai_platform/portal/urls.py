"""The portal's own pages, mounted at `portal/`."""

from django.urls import path

from . import views

app_name = "portal"

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("evidence/<int:decision_id>/", views.evidence_download, name="evidence"),
]
