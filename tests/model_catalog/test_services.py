"""Catalog changes go through audited services, from the portal and the management API alike."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from genai_platform.access.services import central_role_grant
from genai_platform.audit.models import AuditEvent
from model_catalog import services
from model_catalog.models import Alias, Deployment, ProviderAccount
from tests.factories import AliasFactory, CatalogModelFactory, DeploymentFactory, ProviderAccountFactory, UserFactory

pytestmark = pytest.mark.django_db


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("sequence"))


def test_a_new_account_is_audited_with_no_before_and_its_fields_after():
    account = ProviderAccount(name="azure-eu", provider="sandbox", region="westeurope")

    services.provider_account_save(account=account, actor="platform")

    [event] = events("catalog.provider_account.created")
    assert event.before is None
    assert event.after["region"] == "westeurope" and event.after["provider"] == "sandbox"
    assert event.chain == "central" and event.actor == "platform"


def test_a_price_change_is_audited_with_the_price_before_and_after():
    deployment = DeploymentFactory(input_price_per_million=Decimal("2.5"))
    deployment.input_price_per_million = Decimal("3")

    services.deployment_save(deployment=deployment, actor="platform")

    [event] = events("catalog.deployment.changed")
    assert Decimal(event.before["input_price_per_million"]) == Decimal("2.5")
    assert Decimal(event.after["input_price_per_million"]) == Decimal("3")


def test_saving_a_row_unchanged_writes_no_event():
    account = ProviderAccountFactory()

    services.provider_account_save(account=account, actor="platform")

    assert not AuditEvent.objects.exists()


def test_a_secret_in_place_of_a_credentials_reference_is_refused_and_nothing_is_written():
    account = ProviderAccount(name="leaky", provider="sandbox", credentials_ref={"api_key": "sk-live-123"})

    with pytest.raises(ValidationError) as refused:
        services.provider_account_save(account=account, actor="platform")

    assert "credentials_ref" in refused.value.message_dict
    assert not ProviderAccount.objects.filter(name="leaky").exists() and not AuditEvent.objects.exists()


def test_deprecating_then_retiring_moves_the_lifecycle_and_audits_each_step():
    old, new = DeploymentFactory(name="old"), DeploymentFactory(name="new")

    services.deployment_deprecate(deployment=old, actor="platform", replacement=new)
    services.deployment_retire(deployment=old, actor="platform")

    old.refresh_from_db()
    assert old.lifecycle == Deployment.Lifecycle.RETIRED and old.replacement == new
    [deprecated] = events("catalog.deployment.deprecated")
    [retired] = events("catalog.deployment.retired")
    assert deprecated.before["lifecycle"] == "ga" and deprecated.after["lifecycle"] == "deprecated"
    assert retired.before["lifecycle"] == "deprecated" and retired.after["lifecycle"] == "retired"


def test_a_deprecation_dated_in_the_future_keeps_serving_until_then():
    deployment = DeploymentFactory()
    later = dt.date.today() + dt.timedelta(days=30)

    services.deployment_deprecate(deployment=deployment, actor="platform", on=later)

    deployment.refresh_from_db()
    assert deployment.lifecycle == Deployment.Lifecycle.GA and deployment.deprecated_on == later


def test_routes_are_set_as_a_whole_with_the_routes_before_and_after():
    first, second = DeploymentFactory(name="first"), DeploymentFactory(name="second")
    alias = AliasFactory(name="chat", deployments=[first])

    services.alias_routes_set(
        alias=alias,
        routes=[services.RouteSpec(second, priority=1), services.RouteSpec(first, priority=2)],
        actor="platform",
    )

    [event] = events("catalog.alias.routes_set")
    assert [r["deployment"] for r in event.before["routes"]] == ["first"]
    assert [r["deployment"] for r in event.after["routes"]] == ["second", "first"]


def test_a_row_still_in_use_cannot_be_deleted():
    deployment = DeploymentFactory()
    AliasFactory(deployments=[deployment])

    with pytest.raises(services.CatalogEntryInUse):
        services.catalog_entry_delete(instance=deployment, actor="platform")

    assert Deployment.objects.filter(pk=deployment.pk).exists()


def test_retiring_an_alias_keeps_its_row_and_audits_it():
    alias = AliasFactory()

    services.alias_retire(alias=alias, actor="platform")

    alias.refresh_from_db()
    assert not alias.is_active
    [event] = events("catalog.alias.retired")
    assert event.before["is_active"] is True and event.after["is_active"] is False


# ---- the portal and the API write through the same services ----


@pytest.fixture
def platform_admin(client, django_capture_on_commit_callbacks):
    user = UserFactory(is_staff=True)
    with django_capture_on_commit_callbacks(execute=True):  # the role reaches the policy after commit
        central_role_grant(user=user, role="platform_admin")
    client.force_login(user)
    return user


def test_the_portal_change_form_writes_through_the_audited_service(client, platform_admin):
    deployment = DeploymentFactory(provider_model_id="v1")
    url = reverse("admin:model_catalog_deployment_change", args=[deployment.pk])
    form = {
        "name": deployment.name,
        "account": deployment.account_id,
        "model": deployment.model_id,
        "provider_model_id": "v2",
        "input_price_per_million": "1",
        "output_price_per_million": "2",
        "lifecycle": "ga",
        "options": "{}",
    }

    response = client.post(url, form)

    assert response.status_code == 302, response.content.decode()[-2000:]
    [event] = events("catalog.deployment.changed")
    assert event.actor == platform_admin.username
    assert event.before["provider_model_id"] == "v1" and event.after["provider_model_id"] == "v2"


def test_the_portal_alias_form_sets_routes_through_the_service(client, platform_admin):
    deployment = DeploymentFactory(name="dep-a")
    form = {
        "name": "new-alias",
        "description": "",
        "strategy": "priority",
        "is_active": "on",
        "available_in_sandbox": "on",
        "routes-TOTAL_FORMS": "1",
        "routes-INITIAL_FORMS": "0",
        "routes-0-deployment": deployment.pk,
        "routes-0-priority": "1",
        "routes-0-weight": "1",
    }

    response = client.post(reverse("admin:model_catalog_alias_add"), form)

    assert response.status_code == 302, response.content.decode()[-3000:]
    alias = Alias.objects.get(name="new-alias")
    assert [r.deployment.name for r in alias.routes.all()] == ["dep-a"]
    assert events("catalog.alias.created") and events("catalog.alias.routes_set")


def test_the_api_creates_a_deployment_and_refuses_bad_input_field_by_field(client, platform_admin):
    account, model = ProviderAccountFactory(name="acc"), CatalogModelFactory(name="m")
    url = reverse("catalog:deployment-create")

    bad = client.post(url, {"name": "d", "account": "nope", "model": "m", "provider_model_id": "x"}, "application/json")
    good = client.post(
        url, {"name": "d", "account": account.name, "model": model.name, "provider_model_id": "x"}, "application/json"
    )

    assert bad.status_code == 400 and set(bad.json()) == {"account"}
    assert good.status_code == 201 and good.json()["account"] == "acc"
    [event] = events("catalog.deployment.created")
    assert event.actor == platform_admin.username


def test_the_api_retires_a_deployment(client, platform_admin):
    deployment = DeploymentFactory(name="to-retire")

    response = client.post(reverse("catalog:deployment-retire", args=["to-retire"]), {}, "application/json")

    assert response.status_code == 200 and response.json()["lifecycle"] == "retired"
    deployment.refresh_from_db()
    assert deployment.lifecycle == Deployment.Lifecycle.RETIRED
