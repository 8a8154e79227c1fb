"""Sharing a prompt template version with another LOB's use case in the portal: the LOB's admin
shares and takes back through `object_share` / `object_unshare` (audited, as the API's grants);
bad input is a field error and writes nothing; other LOBs see nothing of it."""

from __future__ import annotations

import pytest
from django.test import Client, TestCase
from django.urls import reverse

from genai_platform.access import services as access_services
from genai_platform.audit.models import AuditEvent
from lob_tenants import services as tenant_services
from lob_tenants.models import PromptTemplate, PromptTemplateGroupObjectPermission
from lob_tenants.selectors import use_case_can_read
from tests.factories import LobFactory, UseCaseFactory, UserFactory

pytestmark = pytest.mark.django_db

ADD = reverse("admin:lob_tenants_prompttemplategroupobjectpermission_add")
LIST = reverse("admin:lob_tenants_prompttemplategroupobjectpermission_changelist")


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def member(lob, role: str = "lob_admin"):
    user = UserFactory(is_staff=True)
    with TestCase.captureOnCommitCallbacks(execute=True):
        access_services.membership_set(lob=lob, user=user, role=role)
    return user


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def world():
    retail, wealth = LobFactory(slug="retail", name="Retail"), LobFactory(slug="wealth", name="Wealth")
    return {
        "template": PromptTemplate.objects.create(lob=retail, name="greeting", template="Hello"),
        "own_app": UseCaseFactory(lob=retail, slug="chat"),
        "partner_app": UseCaseFactory(lob=wealth, slug="advisor"),
        "admin": member(retail),
        "retail": retail,
        "wealth": wealth,
    }


def test_the_lob_admin_shares_a_version_and_takes_it_back(world):
    admin = signed_in(world["admin"])
    template, partner = world["template"], world["partner_app"]

    response = admin.post(ADD, {"content_object": template.pk, "use_case": "wealth/advisor"})

    assert response.status_code == 302, response.content.decode()[-1500:]
    partner.refresh_from_db()  # the service gave it its grant group
    assert use_case_can_read(partner, template, template.lob_id)
    assert AuditEvent.objects.get(action="grant.shared").after["use_case"] == "wealth/advisor"
    assert "wealth/advisor" in admin.get(LIST).content.decode()
    grant = PromptTemplateGroupObjectPermission.objects.get(content_object=template)
    delete = reverse("admin:lob_tenants_prompttemplategroupobjectpermission_delete", args=[grant.pk])
    assert admin.post(delete, {"post": "yes"}).status_code == 302
    assert not use_case_can_read(partner, template, template.lob_id)
    assert AuditEvent.objects.filter(action="grant.revoked").count() == 1


@pytest.mark.parametrize(
    ("reference", "message"),
    [("wealth/nothing", "No such use case"), ("retail/chat", "reads its own LOB"), ("", "required")],
)
def test_a_bad_use_case_is_a_field_error_and_nothing_is_written(world, reference, message):
    response = signed_in(world["admin"]).post(ADD, {"content_object": world["template"].pk, "use_case": reference})

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["use_case"] and message in " ".join(errors["use_case"])
    assert not PromptTemplateGroupObjectPermission.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="grant.").exists()


def test_sharing_twice_is_refused_on_the_field(world):
    admin = signed_in(world["admin"])
    admin.post(ADD, {"content_object": world["template"].pk, "use_case": "wealth/advisor"})

    again = admin.post(ADD, {"content_object": world["template"].pk, "use_case": "wealth/advisor"})

    assert "already shared" in str(again.context["adminform"].form.errors["use_case"])
    assert AuditEvent.objects.filter(action="grant.shared").count() == 1


def test_the_form_offers_only_the_admins_own_templates_and_refuses_another_lobs(world):
    theirs = PromptTemplate.objects.create(lob=world["wealth"], name="theirs", template="Hi")
    admin = signed_in(world["admin"])

    offered = admin.get(ADD).context["adminform"].form.fields["content_object"].queryset
    refused = admin.post(ADD, {"content_object": theirs.pk, "use_case": "retail/chat"})

    assert list(offered) == [world["template"]]
    assert "content_object" in refused.context["adminform"].form.errors
    assert not PromptTemplateGroupObjectPermission.objects.exists()


def test_developers_see_the_grants_but_cannot_share_and_another_lob_sees_nothing(world):
    tenant_services.object_share(
        obj=world["template"], owner_lob=world["retail"], use_case=world["partner_app"], actor=world["admin"]
    )
    developer = signed_in(member(world["retail"], "lob_developer"))
    outsider = signed_in(member(world["wealth"]))

    assert "wealth/advisor" in developer.get(LIST).content.decode()
    assert developer.get(ADD).status_code == 403
    assert "wealth/advisor" not in outsider.get(LIST).content.decode()
    assert outsider.get(ADD).context["adminform"].form.fields["content_object"].queryset.count() == 0
