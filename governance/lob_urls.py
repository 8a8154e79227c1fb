"""A LOB's side of governance under one of its use cases, mounted at `api/v1/lobs/` in the
namespace `tenants` beside the LOB's own URLs (`lob_tenants.urls`; `genai_platform/api_urls.py`
joins the two lists, so the paths and names are those of one API)."""

from django.urls import path

from lob_tenants.urls import USE_CASE

from . import lob_apis

urlpatterns = [
    path(USE_CASE + "governance/", lob_apis.UseCaseGovernanceApi.as_view(), name="use-case-governance"),
    path(USE_CASE + "intake/", lob_apis.IntakeSaveApi.as_view(), name="use-case-intake-save"),
    path(USE_CASE + "submit/", lob_apis.UseCaseSubmitApi.as_view(), name="use-case-submit"),
    path(USE_CASE + "withdraw/", lob_apis.UseCaseWithdrawApi.as_view(), name="use-case-withdraw"),
    path(
        USE_CASE + "material-change/",
        lob_apis.UseCaseMaterialChangeApi.as_view(),
        name="use-case-material-change",
    ),
    path(USE_CASE + "retire/", lob_apis.UseCaseRetireApi.as_view(), name="use-case-retire"),
    path(
        USE_CASE + "reviews/<int:review_id>/decisions/<int:decision_id>/evidence/",
        lob_apis.UseCaseReviewEvidenceApi.as_view(),
        name="use-case-review-evidence",
    ),
]
