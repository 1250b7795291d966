"""Frames built once per event: the bytes websockets would write, and one write per socket per loop turn."""

from __future__ import annotations

import asyncio

from websockets.frames import Frame, Opcode

from replyx import wire
from replyx.realtime import protocol
from replyx.realtime.connection import Connection


def test_text_frame_matches_websockets_serialization() -> None:
    for size in (0, 125, 126, 65535, 65536, 70000):
        text = "ж" * (size // 2) + "a" * (size % 2)
        expected = Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])
        assert protocol.text_frame(text) == expected


class FakeWriter:
    """Records writes like the transport would take them."""

    def __init__(self, lag: int = 0) -> None:
        self.writes: list[bytes] = []
        self.lag = lag

    def write(self, data: bytes) -> bool:
        self.writes.append(data)
        return True

    def backlog(self) -> int:
        return self.lag


class FakeSocket:
    def __init__(self, writer: FakeWriter) -> None:
        self.scope = {"extensions": {protocol.FRAMES_EXTENSION: writer}}


def live_connection(writer: FakeWriter) -> Connection:
    conn = Connection(
        FakeSocket(writer), pool="admin", dialog_id=1, owner_id=1, ip="x", queue_size=10, on_gap=lambda c: None
    )  # type: ignore[arg-type]
    conn.go_live(0)
    return conn


async def test_events_of_one_loop_turn_leave_in_one_write() -> None:
    writer = FakeWriter()
    conn = live_connection(writer)
    assert conn.writes_frames
    frames = []
    for seq in (1, 2, 3):
        event = wire.message_event(1, {"seq": seq, "text": "hi"})
        data = wire.encode(event)
        frames.append(protocol.text_frame(data))
        conn.offer(event, data, frames[-1])
    assert writer.writes == []
    await asyncio.sleep(0)
    assert writer.writes == [b"".join(frames)]


async def test_a_client_that_does_not_read_is_closed_as_slow() -> None:
    writer = FakeWriter(lag=10 << 20)
    conn = live_connection(writer)
    conn.put_event(wire.ready_event(1, 0, "ai"))
    await asyncio.sleep(0)
    assert conn.close_code == protocol.TOO_MANY
