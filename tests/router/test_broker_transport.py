"""The Redis broker transport (genai_platform/broker_transport.py): kombu's, with one Redis client per
channel. Real Redis (the test's REDIS_URL)."""

from __future__ import annotations

import uuid

import pytest
from kombu import Connection

from genai_platform import broker_transport


@pytest.fixture
def connection(settings):
    with Connection(settings.REDIS_URL, transport=broker_transport.TRANSPORT) as conn:
        yield conn


def test_messages_published_through_it_are_consumed_in_order(connection):
    name = f"test.broker.{uuid.uuid4().hex}"
    with connection.SimpleQueue(name) as queue:
        for number in range(3):
            queue.put({"n": number})

        received = [queue.get(timeout=5) for _ in range(3)]
        for message in received:
            message.ack()

    assert [m.payload for m in received] == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_a_channel_publishes_and_acknowledges_through_one_kept_client(connection):
    channel = connection.default_channel

    with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
        assert first is second
    assert first.connection_pool is channel.pool


def test_a_channel_whose_pool_was_replaced_gets_a_client_on_the_new_pool(connection):
    channel = connection.default_channel
    with channel.conn_or_acquire() as before:
        pass

    channel._pool = None  # what kombu does when it reconnects

    with channel.conn_or_acquire() as after:
        assert after is not before and after.connection_pool is channel.pool


@pytest.mark.parametrize(
    ("broker_url", "chosen"),
    [
        ("redis://127.0.0.1:6379/1", broker_transport.TRANSPORT),
        ("rediss://redis.internal:6380/1", None),  # TLS: kombu's own handles its options
        ("amqp://guest:guest@127.0.0.1:5672//", None),
        ("", None),  # no broker: tasks run in the process
    ],
)
def test_it_is_chosen_for_plain_redis_brokers_only(broker_url, chosen):
    assert broker_transport.transport_for(broker_url) == chosen


def test_a_message_published_without_declaring_its_queue_reaches_a_consumer_of_that_queue(connection):
    """Why the gateway's enqueue declares nothing on this transport (router/dispatch.py)."""
    name = f"test.broker.{uuid.uuid4().hex}"
    connection.Producer().publish({"n": 1}, exchange="", routing_key=name, declare=[])

    with connection.SimpleQueue(name) as queue:
        message = queue.get(timeout=5)
        message.ack()

    assert message.payload == {"n": 1}


@pytest.mark.parametrize(
    ("transport", "declare"), [(broker_transport.TRANSPORT, []), (None, None)]
)  # None: Celery's default, the queue itself (RabbitMQ drops a message for a queue nobody declared)
def test_the_gateway_declares_its_queues_only_where_publishing_needs_it(transport, declare, monkeypatch):
    from genai_platform.router import dispatch

    monkeypatch.setattr(dispatch.invoke_provider.app.conf, "broker_transport", transport)
    dispatch._publish_declare.cache_clear()
    try:
        assert dispatch._publish_declare() == declare
    finally:
        dispatch._publish_declare.cache_clear()


def test_a_delivered_message_is_kept_as_unacknowledged_until_its_ack_without_a_transaction(connection):
    name = f"test.broker.{uuid.uuid4().hex}"
    with connection.SimpleQueue(name) as queue:
        queue.put({"n": 1})
        message = queue.get(timeout=5)
        qos = connection.default_channel.qos
        with qos.pipe_or_acquire() as pipe:
            assert not pipe.transaction  # plain pipelines: no MULTI/EXEC around the bookkeeping
        client = connection.default_channel.client
        tag = message.delivery_tag
        assert client.hexists(qos.unacked_key, tag) and client.zscore(qos.unacked_index_key, tag) is not None

        message.ack()

        assert not client.hexists(qos.unacked_key, tag) and client.zscore(qos.unacked_index_key, tag) is None


def test_a_message_never_acknowledged_goes_back_to_its_queue_when_its_channel_closes(settings):
    name = f"test.broker.{uuid.uuid4().hex}"
    with (
        Connection(settings.REDIS_URL, transport=broker_transport.TRANSPORT) as first,
        first.SimpleQueue(name) as queue,
    ):
        queue.put({"n": 1})
        assert queue.get(timeout=5).payload == {"n": 1}  # received, never acknowledged

    with (
        Connection(settings.REDIS_URL, transport=broker_transport.TRANSPORT) as second,
        second.SimpleQueue(name) as queue,
    ):
        again = queue.get(timeout=5)
        again.ack()
    assert again.payload == {"n": 1}
