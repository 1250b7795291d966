"""An inbox socket releases its feed's events in offset order, once each, and says `resync` when it must."""

from __future__ import annotations

import json
from typing import Any

from replyx import wire
from replyx.realtime.connection import Connection
from replyx.wire import FeedPosition


def inbox(gaps: list[Connection] | None = None) -> Connection:
    on_gap = gaps.append if gaps is not None else (lambda c: None)
    return Connection(None, pool="inbox", dialog_id=None, owner_id=1, ip="x", queue_size=100, on_gap=on_gap)  # type: ignore[arg-type]


def published(seq: int) -> str:
    """A message event as the writer publishes it (before the broker numbers it)."""
    return wire.encode_for_broker(wire.message_event(7, {"seq": seq, "text": str(seq)}))


def numbered(seq: int, offset: int, epoch: str = "e1") -> tuple[dict[str, Any], str]:
    data = wire.stamp(published(seq), FeedPosition(epoch, offset))
    return json.loads(data), data


def sent(conn: Connection) -> list[dict[str, Any]]:
    assert conn.queue is not None
    out = []
    while not conn.queue.empty():
        out.append(json.loads(conn.queue.get_nowait()))
    return out


def seqs(events: list[dict[str, Any]]) -> list[int | str]:
    return [e["message"]["seq"] if e["type"] == "message" else e["type"] for e in events]


def test_stamping_puts_the_position_first_and_unstamping_gives_back_the_published_text() -> None:
    text = published(3)
    data = wire.stamp(text, FeedPosition("abc", 42))
    assert data.startswith('{"offset":42,"epoch":"abc",')
    assert json.loads(data) == {"offset": 42, "epoch": "abc", **json.loads(text)}
    assert getattr(data, "event", None) == json.loads(data)  # in-process events keep their dict
    assert wire.feed_offset(data) == 42 and wire.unstamp(data) == text


async def test_in_order_once_with_gaps_held_until_filled() -> None:
    gaps: list[Connection] = []
    conn = inbox(gaps)
    conn.offer(*numbered(1, 11))  # arrives while the socket is being set up: held, then dropped
    conn.go_live(0, feed=FeedPosition("e1", 11))
    conn.offer(*numbered(2, 12))
    conn.offer(*numbered(2, 12))
    conn.offer(*numbered(4, 14))
    assert gaps == [conn] and conn.has_gap
    conn.offer_feed([numbered(3, 13)[1], numbered(4, 14)[1]])
    assert seqs(sent(conn)) == [2, 3, 4]
    assert conn.feed_position == FeedPosition("e1", 14) and not conn.has_gap


async def test_a_feed_that_started_over_tells_the_client_to_resync() -> None:
    conn = inbox()
    conn.go_live(0, feed=FeedPosition("e1", 5))
    conn.offer(*numbered(9, 1, epoch="e2"))
    events = sent(conn)
    assert seqs(events) == ["resync", 9]
    assert events[0] == {"type": "resync", "offset": 0, "epoch": "e2"}


async def test_a_resync_releases_what_the_gap_held_back() -> None:
    conn = inbox()
    conn.go_live(0, feed=FeedPosition("e1", 1))
    conn.offer(*numbered(5, 5))
    conn.offer(*numbered(6, 6))
    conn.resync_feed(FeedPosition("e1", 5))
    assert seqs(sent(conn)) == ["resync", 6]
    assert conn.feed_position == FeedPosition("e1", 6)


async def test_an_event_delivered_during_an_outage_is_not_repeated_by_its_numbered_copy() -> None:
    conn = inbox()
    conn.go_live(0, feed=FeedPosition("e1", 1))
    local = published(2)
    conn.offer(json.loads(local), local)  # the broker was away: delivered here without a number
    conn.offer(*numbered(2, 2))  # its copy, numbered once the broker took it
    conn.offer(*numbered(3, 3))
    assert seqs(sent(conn)) == [2, 3]
    assert not conn.unnumbered
