"""One contract, two brokers: what the hub relies on holds for MemoryBroker and RedisBroker alike.

The Redis-only part covers what a single process cannot show: fan-out between two
broker instances and an outage (local delivery, one log line each way, re-publish,
resync callback, no duplicate).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from replyx import wire
from replyx.broker import Broker, create_broker
from replyx.broker import memory as memory_broker
from replyx.broker import redis as redis_broker
from replyx.broker.redis import RedisBroker
from replyx.wire import FeedPosition
from tests.support.services import RedisServer
from tests.support.timing import scaled


class Recorder:
    """Collects what a broker hands to the hub."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        self.reconnects = 0
        self.changed = asyncio.Event()

    def on_message(self, topic: str, data: str) -> None:
        """The hub's dispatch."""
        self.received.append((topic, data))
        self.changed.set()

    async def on_reconnect(self) -> None:
        """The hub's resync."""
        self.reconnects += 1
        self.changed.set()

    async def until(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until the condition holds (woken by deliveries, polled for broker state)."""
        async with asyncio.timeout(scaled(timeout)):
            while not condition():
                self.changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), 0.05)

    def data(self, topic: str | None = None) -> list[str]:
        """Payloads received, optionally of one topic."""
        return [d for t, d in self.received if topic is None or t == topic]


BrokerFactory = Callable[[Recorder], Awaitable[Broker]]


@pytest.fixture(params=["memory", "redis"])
async def make_broker(request: pytest.FixtureRequest) -> AsyncIterator[BrokerFactory]:
    """Builds started brokers of one kind; closes them after the test."""
    url = "memory://" if request.param == "memory" else request.getfixturevalue("redis_server").url
    made: list[Broker] = []

    async def make(recorder: Recorder) -> Broker:
        broker = create_broker(
            url, on_message=recorder.on_message, on_reconnect=recorder.on_reconnect, is_feed=wire.is_feed_topic
        )
        await broker.start()
        made.append(broker)
        return broker

    yield make
    for broker in made:
        await broker.close()


async def test_events_of_subscribed_topics_arrive_in_order(make_broker: BrokerFactory) -> None:
    recorder = Recorder()
    broker = await make_broker(recorder)
    assert broker.connected
    await broker.subscribe("dialog.1")
    await broker.publish("dialog.2", '{"n":"elsewhere"}')
    sent = [f'{{"n":{i}}}' for i in range(200)]
    for data in sent:
        await broker.publish("dialog.1", data)
    await recorder.until(lambda: len(recorder.received) >= len(sent))
    assert recorder.received == [("dialog.1", d) for d in sent]


async def test_unsubscribe_stops_delivery_and_counts_topics(make_broker: BrokerFactory) -> None:
    recorder = Recorder()
    broker = await make_broker(recorder)
    await broker.subscribe("dialog.1")
    await broker.subscribe("dialog.2")
    assert broker.subscriptions == 2
    await broker.unsubscribe("dialog.1")
    assert broker.subscriptions == 1
    await broker.publish("dialog.1", '{"n":"dropped"}')
    await broker.publish("dialog.2", '{"n":"kept"}')
    await recorder.until(lambda: bool(recorder.received))
    assert recorder.received == [("dialog.2", '{"n":"kept"}')]
    await broker.close()
    assert broker.subscriptions == 0


async def test_node_figures_expire(make_broker: BrokerFactory) -> None:
    broker = await make_broker(Recorder())
    await broker.store_node_stats("node-a", {"node_id": "node-a", "connections": 3}, ttl=scaled(30))
    await broker.store_node_stats("node-b", {"node_id": "node-b", "connections": 1}, ttl=0.3)
    nodes = {n["node_id"]: n for n in await broker.load_node_stats()}
    assert nodes["node-a"]["connections"] == 3 and "node-b" in nodes
    await asyncio.sleep(0.5)  # just past node-b's 0.3 s TTL
    assert [n["node_id"] for n in await broker.load_node_stats() if n["node_id"].startswith("node-")] == ["node-a"]


async def test_a_feed_numbers_its_events_and_gives_back_what_a_socket_missed(
    make_broker: BrokerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in (memory_broker, redis_broker):
        monkeypatch.setattr(module, "FEED_HISTORY", 5)
    recorder = Recorder()
    broker = await make_broker(recorder)
    topic = f"owner.{uuid.uuid4().int % 10**9}"  # a feed of its own (Redis outlives a test)
    start = await broker.feed_position(topic)
    assert start.offset == 0
    await broker.subscribe(topic)
    await broker.subscribe("dialog.5")
    await broker.publish_many([("dialog.5", '{"type":"x","n":0}'), (topic, '{"type":"x","n":0}')])
    for n in range(1, 8):
        await broker.publish(topic, f'{{"type":"x","n":{n}}}')
    await recorder.until(lambda: len(recorder.data(topic)) == 8)
    received = [json.loads(d) for d in recorder.data(topic)]
    epoch = received[0]["epoch"]
    assert [(e["offset"], e["n"]) for e in received] == [(n + 1, n) for n in range(8)]
    assert {e["epoch"] for e in received} == {epoch} and epoch
    assert recorder.data("dialog.5") == ['{"type":"x","n":0}'], "only feeds are numbered"
    assert await broker.feed_position(topic) == FeedPosition(epoch, 8)
    # The last five are kept: a socket at offset 3 or later gets the rest, in order.
    kept = await broker.feed_since(topic, FeedPosition(epoch, 5))
    assert kept is not None and [json.loads(d)["offset"] for d in kept] == [6, 7, 8]
    assert await broker.feed_since(topic, FeedPosition(epoch, 8)) == []
    assert [json.loads(d)["n"] for d in await broker.feed_since(topic, FeedPosition(epoch, 3)) or []] == [3, 4, 5, 6, 7]
    # What it cannot give: older than kept, another epoch, a position it never reached.
    assert await broker.feed_since(topic, FeedPosition(epoch, 2)) is None
    assert await broker.feed_since(topic, FeedPosition("another", 5)) is None
    assert await broker.feed_since(topic, FeedPosition(epoch, 9)) is None


async def test_redis_numbers_a_feed_across_processes_and_starts_over_after_losing_it(
    tmp_path: Path, redis_binary: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_broker, "REPLAY_GRACE", 0.3)
    redis = RedisServer(tmp_path, redis_binary).start()
    a, b = Recorder(), Recorder()
    broker_a = RedisBroker(redis.url, on_message=a.on_message, on_reconnect=a.on_reconnect, is_feed=wire.is_feed_topic)
    broker_b = RedisBroker(redis.url, on_message=b.on_message, on_reconnect=b.on_reconnect, is_feed=wire.is_feed_topic)
    await broker_a.start()
    await broker_b.start()
    try:
        for broker in (broker_a, broker_b):
            await broker.subscribe("owner.1")
        await broker_a.publish("owner.1", '{"n":1}')
        await broker_b.publish("owner.1", '{"n":2}')
        await a.until(lambda: len(a.received) == 2)
        await b.until(lambda: len(b.received) == 2)
        assert [json.loads(d)["offset"] for d in a.data()] == [1, 2] == [json.loads(d)["offset"] for d in b.data()]
        before = await broker_a.feed_position("owner.1")
        # A Redis without persistence forgets the feed when it restarts: a new epoch, and what a
        # socket had before cannot be given back.
        await asyncio.to_thread(redis.stop)
        await a.until(lambda: not broker_a.connected)
        await broker_a.publish("owner.1", '{"n":3}')  # held: delivered here at once, unnumbered
        assert json.loads(a.data()[-1]) == {"n": 3}
        await asyncio.to_thread(redis.start)
        await b.until(lambda: len(b.received) == 3, timeout=10)
        again = json.loads(b.data()[-1])
        assert again["n"] == 3 and again["offset"] == 1 and again["epoch"] != before.epoch
        await a.until(lambda: broker_a.connected, timeout=10)
        assert len(a.received) == 3, "the process that held it does not get it twice"
        assert await broker_b.feed_since("owner.1", before) is None
        assert await broker_b.feed_position("owner.1") == FeedPosition(again["epoch"], 1)
    finally:
        await broker_a.close()
        await broker_b.close()
        redis.stop()


async def test_redis_fans_out_between_processes(redis_server: RedisServer) -> None:
    a, b = Recorder(), Recorder()
    broker_a = create_broker(redis_server.url, on_message=a.on_message, on_reconnect=a.on_reconnect)
    broker_b = create_broker(redis_server.url, on_message=b.on_message, on_reconnect=b.on_reconnect)
    await broker_a.start()
    await broker_b.start()
    try:
        await broker_a.subscribe("dialog.9")
        await broker_b.subscribe("dialog.9")
        await broker_b.publish("dialog.9", '{"n":1}')
        await a.until(lambda: len(a.received) == 1)
        await b.until(lambda: len(b.received) == 1)
        # Subscriptions are per process: a topic one process leaves still reaches the other.
        await broker_b.unsubscribe("dialog.9")
        await broker_a.publish("dialog.9", '{"n":2}')
        await a.until(lambda: len(a.received) == 2)
        assert b.data() == ['{"n":1}']
    finally:
        await broker_a.close()
        await broker_b.close()


async def test_redis_outage_keeps_local_delivery_and_recovers_once(
    tmp_path: Path, redis_binary: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_broker, "REPLAY_GRACE", 0.3)  # both brokers are back long before that
    redis = RedisServer(tmp_path, redis_binary).start()
    a, b = Recorder(), Recorder()
    broker_a = RedisBroker(redis.url, on_message=a.on_message, on_reconnect=a.on_reconnect)
    broker_b = RedisBroker(redis.url, on_message=b.on_message, on_reconnect=b.on_reconnect)
    await broker_a.start()
    await broker_b.start()
    try:
        for broker in (broker_a, broker_b):
            await broker.subscribe("dialog.1")
        caplog.set_level(logging.INFO, logger="replyx.broker")
        await asyncio.to_thread(redis.stop)
        await a.until(lambda: not broker_a.connected)
        during = [f'{{"n":{i}}}' for i in range(20)]
        started = asyncio.get_running_loop().time()
        for data in during:
            await broker_a.publish("dialog.1", data)  # must not raise or wait on the dead server
        assert asyncio.get_running_loop().time() - started < scaled(1.0)
        assert a.data() == during, "local sockets keep receiving while Redis is away"
        await asyncio.to_thread(redis.start)
        await a.until(lambda: a.reconnects == 1 and broker_a.connected, timeout=10)
        await b.until(lambda: b.reconnects == 1 and len(b.received) == len(during), timeout=10)
        assert b.data() == during, "held events are re-published once Redis is back"
        await broker_a.publish("dialog.1", '{"n":"after"}')
        await b.until(lambda: len(b.received) == len(during) + 1)
        await a.until(lambda: len(a.received) == len(during) + 1)
        assert a.data() == [*during, '{"n":"after"}'], "no duplicate of the re-published events"
        lost = [r for r in caplog.records if "Redis broker connection lost" in r.getMessage()]
        back = [r for r in caplog.records if "Redis broker reconnected" in r.getMessage()]
        assert len(lost) == 2 and len(back) == 2, "one line per broker for the outage and one for the recovery"
    finally:
        await broker_a.close()
        await broker_b.close()
        redis.stop()
