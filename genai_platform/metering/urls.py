"""Metering's HTTP API, mounted at `api/v1/metering/` by the project's urls."""

from django.urls import path

from . import apis

app_name = "metering"

urlpatterns = [
    path("chargeback", apis.ChargebackApi.as_view(), name="chargeback"),
]
