"""The catalog admin shows what a reviewer of deployments needs at a glance."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse

from tests.factories import DeploymentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    """The admin pages link static files; tests do not run collectstatic to build the manifest."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def test_the_deployment_list_shows_lifecycle_dates_and_the_replacement(admin_client):
    replacement = DeploymentFactory(name="gpt-4o-eu-v2")
    DeploymentFactory(
        name="gpt-4o-eu-v1", deprecated_on=dt.date(2025, 3, 1), retires_on=dt.date(2025, 9, 30), replacement=replacement
    )

    page = admin_client.get(reverse("admin:model_catalog_deployment_changelist")).content.decode()

    assert re.search(r'class="field-deprecated_on[^"]*">March 1, 2025</td>', page)
    assert re.search(r'class="field-retires_on[^"]*">Sept. 30, 2025</td>', page)
    assert re.search(r'class="field-replacement[^"]*">gpt-4o-eu-v2</td>', page)
