import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with no cached keys, catalog snapshots or counters."""
    cache.clear()
    yield
    cache.clear()
