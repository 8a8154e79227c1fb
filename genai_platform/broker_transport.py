"""kombu's Redis transport, keeping one Redis client per channel instead of building one per command.

kombu's Redis channel builds a new `redis.Redis` around its connection pool for every publish
(`Channel.conn_or_acquire`) and for a worker's per-message bookkeeping (the "unacked" entry and its
removal on ack). Building one costs ~55 us of CPU (its response-callback tables), on every call's
enqueue in the gateway and twice per call in the worker (docs/performance.md). A `redis.Redis` is
only a front for its pool, whose connections it borrows per command, so one per channel serves
every thread that publishes through it.

Its QoS also sends the per-message bookkeeping (the unacked entry at delivery, its removal at the
ack) as plain pipelines instead of MULTI/EXEC transactions: two round trips a call either way, but
without the two extra commands and the queued replies (~1/3 of the bookkeeping's CPU). Nothing
needs them atomic: the only other reader, the restore of unacknowledged messages, looks only at
entries older than the visibility timeout, and takes them under its own mutex and transaction.

Selected in `genai_platform/celery.py` for `redis://` brokers; TLS (`rediss://`), sockets and RabbitMQ keep
kombu's own transports.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis as kombu_redis


class QoS(kombu_redis.QoS):
    @contextmanager
    def pipe_or_acquire(self, pipe: Any = None, client: Any = None) -> Iterator[Any]:
        if pipe:  # a caller's pipeline (the restore's transaction) is used as it is
            yield pipe
            return
        with self.channel.conn_or_acquire(client) as client:
            yield client.pipeline(transaction=False)


class Channel(kombu_redis.Channel):
    QoS = QoS
    _kept_client: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        kept, pool = self._kept_client, self.pool
        # A channel whose pool was replaced (after a reconnection) gets a client on the new pool.
        if kept is None or kept.connection_pool is not pool:
            kept = self._kept_client = self._create_client()
        yield kept


class Transport(kombu_redis.Transport):
    Channel = Channel


#: The value of Celery's `broker_transport` setting that selects this transport.
TRANSPORT = "genai_platform.broker_transport:Transport"


def transport_for(broker_url: str) -> str | None:
    """Celery's `broker_transport` for `broker_url`: this transport for plain `redis://`, else None
    (the URL's scheme chooses kombu's own)."""
    return TRANSPORT if broker_url.startswith("redis://") else None
