"""The governance board's HTTP API, mounted at `api/v1/reviews/`."""

from django.urls import path

from . import apis

app_name = "governance"

REVIEW = "<int:review_id>/"

urlpatterns = [
    path("", apis.ReviewListApi.as_view(), name="review-list"),
    path(REVIEW, apis.ReviewDetailApi.as_view(), name="review-detail"),
    path(REVIEW + "decide/", apis.ReviewDecideApi.as_view(), name="review-decide"),
    path(REVIEW + "decisions/<int:decision_id>/evidence/", apis.ReviewEvidenceApi.as_view(), name="review-evidence"),
    path(REVIEW + "use-case/suspend/", apis.UseCaseSuspendApi.as_view(), name="use-case-suspend"),
    path(REVIEW + "use-case/reinstate/", apis.UseCaseReinstateApi.as_view(), name="use-case-reinstate"),
]
