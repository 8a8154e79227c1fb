"""The worker's adapter pool under a thread pool: one adapter per account, shared, built once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import genai_platform.router.services as worker_services
from genai_platform.router.services import AdapterPool


def target(**overrides) -> dict:
    return {
        "provider": "sandbox",
        "region": "",
        "endpoint": "",
        "credentials_ref": {},
        "options": {},
        "timeout_seconds": 30,
        **overrides,
    }


def test_threads_asking_for_one_account_at_once_share_one_adapter_built_once(monkeypatch):
    builds: list[str] = []
    all_asking = threading.Barrier(16, timeout=10)
    real_build = worker_services.build_adapter

    def counting_build(config):
        builds.append(config.provider)
        return real_build(config)

    monkeypatch.setattr(worker_services, "build_adapter", counting_build)
    pool = AdapterPool()

    def get(_: int):
        all_asking.wait()
        return pool.get(target())

    with ThreadPoolExecutor(max_workers=16) as threads:
        adapters = list(threads.map(get, range(16)))

    assert len({id(adapter) for adapter in adapters}) == 1
    assert builds == ["sandbox"]


def test_accounts_that_differ_in_any_setting_get_their_own_adapters():
    pool = AdapterPool()

    first = pool.get(target())
    other = pool.get(target(timeout_seconds=5))

    assert first is not other
    assert pool.get(target()) is first


def test_the_least_recently_used_adapter_goes_when_the_pool_is_full():
    pool = AdapterPool(size=2)
    oldest = pool.get(target(timeout_seconds=1))
    kept = pool.get(target(timeout_seconds=2))
    pool.get(target(timeout_seconds=2))  # used again: now the most recent
    pool.get(target(timeout_seconds=3))

    assert pool.get(target(timeout_seconds=2)) is kept
    assert pool.get(target(timeout_seconds=1)) is not oldest
