"""Access control's HTTP API, mounted at `api/v1/`: a LOB's members and break-glass decisions under
`lobs/<lob>/` (its prompt-template grants, `lob_tenants.grant_urls`, join this namespace there),
central users' own break-glass requests under `break-glass/`, and (superusers only) central roles
and policy lines under `central-roles/` and `policy-rules/`."""

from django.urls import path

from . import apis, role_apis

app_name = "access"

LOB = "lobs/<slug:lob>/"
LOB_BREAK_GLASS = LOB + "break-glass/<int:request_id>/"

urlpatterns = [
    path(LOB + "members/", apis.MemberListApi.as_view(), name="member-list"),
    path(LOB + "members/set/", apis.MemberSetApi.as_view(), name="member-set"),
    path(LOB + "members/<str:username>/remove/", apis.MemberRemoveApi.as_view(), name="member-remove"),
    path(LOB + "break-glass/", apis.LobBreakGlassListApi.as_view(), name="lob-break-glass-list"),
    path(LOB_BREAK_GLASS + "approve/", apis.BreakGlassApproveApi.as_view(), name="break-glass-approve"),
    path(LOB_BREAK_GLASS + "deny/", apis.BreakGlassDenyApi.as_view(), name="break-glass-deny"),
    path(LOB_BREAK_GLASS + "revoke/", apis.LobBreakGlassRevokeApi.as_view(), name="lob-break-glass-revoke"),
    path("break-glass/", apis.BreakGlassListApi.as_view(), name="break-glass-list"),
    path("break-glass/request/", apis.BreakGlassRequestApi.as_view(), name="break-glass-request"),
    path("break-glass/<int:request_id>/revoke/", apis.BreakGlassRevokeApi.as_view(), name="break-glass-revoke"),
    path("central-roles/", role_apis.CentralRoleListApi.as_view(), name="central-role-list"),
    path("central-roles/grant/", role_apis.CentralRoleGrantApi.as_view(), name="central-role-grant"),
    path("policy-rules/", role_apis.PolicyRuleListApi.as_view(), name="policy-rule-list"),
    path("policy-rules/add/", role_apis.PolicyRuleAddApi.as_view(), name="policy-rule-add"),
    path("policy-rules/<int:rule_id>/remove/", role_apis.PolicyRuleRemoveApi.as_view(), name="policy-rule-remove"),
]
