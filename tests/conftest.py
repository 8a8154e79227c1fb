import pytest
from django.core.cache import cache

from genai_platform import hotcache


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with no cached keys, catalog snapshots or counters."""
    cache.clear()
    hotcache.local_clear()
    yield
    cache.clear()
    hotcache.local_clear()


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    """Pages link static files; tests do not run collectstatic, so no manifest is required of them."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
