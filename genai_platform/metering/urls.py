"""Metering's HTTP API, mounted at `api/v1/metering/` by the project's urls."""

from django.urls import path

from . import apis, limit_apis

app_name = "metering"

urlpatterns = [
    path("chargeback", apis.ChargebackApi.as_view(), name="chargeback"),
    path("budgets/", limit_apis.BudgetListApi.as_view(), name="budget-list"),
    path("budgets/set/", limit_apis.BudgetSetApi.as_view(), name="budget-set"),
    path("rate-limits/", limit_apis.RateLimitListApi.as_view(), name="rate-limit-list"),
    path("rate-limits/set/", limit_apis.RateLimitSetApi.as_view(), name="rate-limit-set"),
]
