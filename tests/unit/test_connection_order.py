"""A connection releases dialog messages strictly in seq order, once each."""

from __future__ import annotations

import asyncio
from typing import Any

from replyx import wire
from replyx.realtime import protocol
from replyx.realtime.connection import Connection


def message(seq: int) -> tuple[dict[str, Any], str]:
    event = wire.message_event(1, {"seq": seq, "text": str(seq)})
    return event, wire.encode(event)


def drained(conn: Connection) -> list[int]:
    seqs = []
    assert conn.queue is not None
    while not conn.queue.empty():
        data = conn.queue.get_nowait()
        seqs.append(int(data.split('"seq":')[1].split(",")[0]))
    return seqs


async def test_duplicates_dropped_gaps_held_then_released() -> None:
    gaps: list[Connection] = []
    conn = Connection(None, pool="site", dialog_id=1, owner_id=1, ip="x", queue_size=100, on_gap=gaps.append)  # type: ignore[arg-type]
    conn.offer(*message(3))  # arrives during the replay: held
    conn.go_live(2)
    conn.offer(*message(3))
    conn.offer(*message(5))
    assert gaps == [conn] and conn.has_gap
    conn.offer(*message(4))
    conn.offer(*message(5))
    assert drained(conn) == [3, 4, 5]
    assert not conn.has_gap


async def test_gap_filled_from_storage() -> None:
    conn = Connection(None, pool="admin", dialog_id=1, owner_id=1, ip="x", queue_size=100, on_gap=lambda c: None)  # type: ignore[arg-type]
    conn.go_live(0)
    conn.offer(*message(1))
    conn.offer(*message(4))
    conn.offer_stored([{"seq": s, "text": str(s)} for s in (2, 3, 4)])
    assert drained(conn) == [1, 2, 3, 4]


async def test_a_full_queue_marks_a_slow_consumer() -> None:
    conn = Connection(None, pool="site", dialog_id=1, owner_id=1, ip="x", queue_size=2, on_gap=lambda c: None)  # type: ignore[arg-type]
    conn.go_live(0)
    for seq in (1, 2, 3):
        conn.offer(*message(seq))
    assert conn.close_code == protocol.TOO_MANY
    await asyncio.sleep(0)
