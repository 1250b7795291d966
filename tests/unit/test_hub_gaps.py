"""The hub fills a socket's gaps from storage: with several processes writing, publishes cross in flight.

Covers what ordering across processes relies on: a seq that never comes from the
broker is read from storage after GAP_WAIT, a gap longer than one page is read in
full, a gap that opens while a fill is reading gets its own fill, storage errors
are retried, and a resync after a broker outage reads each dialog once and also
covers sockets that were still replaying.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from replyx import wire
from replyx.broker.memory import MemoryBroker
from replyx.realtime import hub as hub_module
from replyx.realtime.connection import Connection
from replyx.realtime.hub import Hub


class Store:
    """Stored messages per dialog, read a page at a time, counting reads."""

    def __init__(self, page: int = 1000) -> None:
        self.messages: dict[int, list[dict[str, Any]]] = {}
        self.page = page
        self.reads: list[tuple[int, int]] = []
        self.failures = 0
        self.before_return: Callable[[], None] | None = None

    def add(self, dialog_id: int, *seqs: int) -> None:
        """Store messages with these seqs."""
        self.messages.setdefault(dialog_id, []).extend({"seq": s, "text": f"m{s}"} for s in seqs)

    async def fetch(self, dialog_id: int, since: int) -> list[dict[str, Any]]:
        """The hub's fetcher."""
        self.reads.append((dialog_id, since))
        if self.failures:
            self.failures -= 1
            raise ConnectionError("storage is away")
        page = [m for m in self.messages.get(dialog_id, []) if m["seq"] > since][: self.page]
        if self.before_return is not None:
            hook, self.before_return = self.before_return, None
            hook()
        return page


def event(dialog_id: int, seq: int) -> str:
    """A message event as the broker carries it."""
    return wire.encode(wire.message_event(dialog_id, {"seq": seq, "text": f"m{seq}"}))


def sent(conn: Connection) -> list[int]:
    """Seqs queued for the client so far."""
    seqs = []
    assert conn.queue is not None
    while not conn.queue.empty():
        seqs.append(json.loads(conn.queue.get_nowait())["message"]["seq"])
    return seqs


@pytest.fixture(autouse=True)
def short_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the gap wait and retry delay short; the logic is the same."""
    monkeypatch.setattr(hub_module, "GAP_WAIT", 0.05)
    monkeypatch.setattr(hub_module, "FILL_RETRY_DELAY", 0.01)


async def make_hub(store: Store) -> Hub:
    """A hub over the in-memory broker reading from the store."""
    hub = Hub(node_id="test", fetch_messages=store.fetch)
    hub.bind(MemoryBroker(on_message=hub.dispatch, on_reconnect=hub.resync))
    return hub


async def socket(hub: Hub, dialog_id: int = 1, live_at: int | None = 0) -> Connection:
    """A dialog socket attached to the hub, live after a replay up to ``live_at`` (None: still replaying)."""
    conn = Connection(None, pool="site", dialog_id=dialog_id, owner_id=1, ip="x", queue_size=1000, on_gap=hub.on_gap)  # type: ignore[arg-type]
    await hub.attach(conn)
    if live_at is not None:
        conn.go_live(live_at)
    return conn


async def eventually(condition: Callable[[], Awaitable[bool] | bool], timeout: float = 2.0) -> None:
    """Wait for the hub's background fills."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_a_seq_the_broker_never_brings_is_read_from_storage() -> None:
    store = Store()
    store.add(1, 1, 2, 3, 4, 5)
    hub = await make_hub(store)
    conn = await socket(hub)
    for seq in (1, 2, 4, 5):  # 3 was lost on the way
        hub.dispatch("dialog.1", event(1, seq))
    assert sent(conn) == [1, 2]
    got: list[int] = []
    await eventually(lambda: got.extend(sent(conn)) or got == [3, 4, 5])
    assert store.reads == [(1, 2), (1, 5)]


async def test_a_late_broker_event_needs_no_storage_read() -> None:
    store = Store()
    hub = await make_hub(store)
    conn = await socket(hub)
    hub.dispatch("dialog.1", event(1, 2))
    hub.dispatch("dialog.1", event(1, 1))
    await asyncio.sleep(hub_module.GAP_WAIT * 2)
    assert sent(conn) == [1, 2]
    assert store.reads == []


async def test_a_gap_longer_than_a_page_is_read_in_full() -> None:
    store = Store(page=3)
    store.add(1, *range(1, 11))
    hub = await make_hub(store)
    conn = await socket(hub)
    hub.dispatch("dialog.1", event(1, 10))
    got: list[int] = []
    await eventually(lambda: got.extend(sent(conn)) or got == list(range(1, 11)))


async def test_a_gap_that_opens_during_a_fill_gets_its_own_fill() -> None:
    store = Store()
    store.add(1, 1, 2, 3)
    hub = await make_hub(store)
    conn = await socket(hub)

    def meanwhile() -> None:
        # While the first fill reads 1..3, seq 6 arrives from the broker (4 and 5 are lost).
        store.add(1, 4, 5, 6)
        hub.dispatch("dialog.1", event(1, 6))

    store.before_return = meanwhile
    hub.dispatch("dialog.1", event(1, 3))
    got: list[int] = []
    await eventually(lambda: got.extend(sent(conn)) or got == [1, 2, 3, 4, 5, 6])


async def test_storage_errors_while_filling_are_retried() -> None:
    store = Store()
    store.add(1, 1, 2)
    store.failures = 2
    hub = await make_hub(store)
    conn = await socket(hub)
    hub.dispatch("dialog.1", event(1, 2))
    got: list[int] = []
    await eventually(lambda: got.extend(sent(conn)) or got == [1, 2])


async def test_resync_reads_each_dialog_once_and_covers_sockets_still_replaying() -> None:
    store = Store()
    hub = await make_hub(store)
    behind = [await socket(hub, 1, live_at=n) for n in (0, 2, 4)]
    other = await socket(hub, 2, live_at=1)
    replaying = await socket(hub, 1, live_at=None)
    # Written elsewhere while this process was cut off from the broker:
    store.add(1, 1, 2, 3, 4, 5, 6)
    store.add(2, 1, 2)
    await hub.resync()
    assert sorted(read for read in store.reads if read[1] in (0, 1)) == [(1, 0), (2, 1)], "one read per dialog"
    assert [sent(c) for c in behind] == [[1, 2, 3, 4, 5, 6], [3, 4, 5, 6], [5, 6]]
    assert sent(other) == [2]
    replaying.go_live(3)  # its replay read storage before the broker came back
    got: list[int] = []
    await eventually(lambda: got.extend(sent(replaying)) or got == [4, 5, 6])


async def test_an_event_published_in_this_process_is_not_parsed_back() -> None:
    hub = await make_hub(Store())
    conn = await socket(hub)
    offered: list[dict[str, Any]] = []
    conn.offer = lambda event, data, frame=None: offered.append(event)  # type: ignore[method-assign]
    published = wire.message_event(1, {"seq": 1, "text": "m1"})
    await hub.broker.publish("dialog.1", wire.encode_for_broker(published))  # type: ignore[union-attr]
    hub.dispatch("dialog.1", event(1, 2))  # as text from Redis: parsed
    assert offered[0] is published
    assert offered[1] == wire.message_event(1, {"seq": 2, "text": "m2"})
