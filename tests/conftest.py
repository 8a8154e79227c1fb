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
