"""The OpenAI-wire adapters' HTTP transport: pools striped by thread, so that a thousand calls in
flight do not each scan a thousand connections."""

from __future__ import annotations

import threading
from collections import Counter

import httpx

from genai_platform.providers._openai_wire import StripedTransport, http_client


class _Recorder(httpx.BaseTransport):
    def __init__(self, name: int, seen: list[tuple[int, int]]) -> None:
        self.name, self.seen = name, seen

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((threading.get_ident(), self.name))
        return httpx.Response(200, json={"pool": self.name})


def test_threads_are_dealt_out_evenly_and_each_keeps_its_pool():
    transport = StripedTransport(64, stripes=4)
    seen: list[tuple[int, int]] = []
    transport._pools = [_Recorder(n, seen) for n in range(4)]
    client = httpx.Client(transport=transport)
    barrier = threading.Barrier(8)  # all alive at once, so no thread id is reused

    def calls() -> None:
        barrier.wait()
        for _ in range(3):
            client.get("http://upstream.test/")
        barrier.wait()

    threads = [threading.Thread(target=calls) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    pools_of_thread = {thread: {pool for t, pool in seen if t == thread} for thread, _ in seen}
    assert all(len(pools) == 1 for pools in pools_of_thread.values())
    assert Counter(next(iter(pools)) for pools in pools_of_thread.values()) == {0: 2, 1: 2, 2: 2, 3: 2}


def test_the_connection_limit_is_shared_out_between_the_stripes():
    transport = StripedTransport(1024)

    assert len(transport._pools) == 16
    assert {pool._pool._max_connections for pool in transport._pools} == {64}
    assert len(StripedTransport(4)._pools) == 4  # never a stripe without a connection


def test_the_sdk_client_of_an_account_uses_it():
    assert isinstance(http_client({"max_connections": 32})._transport, StripedTransport)
