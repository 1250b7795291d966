"""One accepted socket: a bounded outgoing queue, its sender task and its heartbeat.

Events reach a connection only through ``offer`` (called by the hub). For dialog
sockets, message events are released strictly in seq order: duplicates are
dropped and a gap holds later events back until the hub fills it from storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from starlette.websockets import WebSocket

from replyx.realtime import protocol
from replyx.realtime.protocol import CloseCode

GapHandler = Callable[["Connection"], None]


class Connection:
    """A socket of one pool, for one dialog (or one owner's inbox)."""

    def __init__(
        self,
        websocket: WebSocket,
        *,
        pool: str,
        dialog_id: int | None,
        owner_id: int,
        ip: str,
        queue_size: int,
        on_gap: GapHandler,
    ) -> None:
        self.websocket = websocket
        self.pool = pool
        self.dialog_id = dialog_id
        self.owner_id = owner_id
        self.ip = ip
        self.queue: asyncio.Queue[str] = asyncio.Queue(queue_size)
        self.on_gap = on_gap
        self.last_seq = 0
        self.live = False
        self.held: list[tuple[dict[str, Any], str]] = []
        self.pending: dict[int, str] = {}
        self.close_code: CloseCode | None = None
        self.stopped = asyncio.Event()
        self.last_heard = time.monotonic()
        self.filling = False

    @property
    def topic(self) -> str:
        """The broker topic this socket listens to."""
        if self.dialog_id is not None:
            return protocol.dialog_topic(self.dialog_id)
        return protocol.owner_topic(self.owner_id)

    def offer(self, event: dict[str, Any], data: str) -> None:
        """Take an event from the hub; never blocks."""
        if self.close_code is not None:
            return
        if not self.live:
            if len(self.held) >= self.queue.maxsize:
                self.fail(protocol.TOO_MANY)
            else:
                self.held.append((event, data))
            return
        self._route(event, data)

    def offer_stored(self, messages: list[dict[str, Any]]) -> None:
        """Take messages re-read from storage (gap fill or broker recovery)."""
        assert self.dialog_id is not None
        for message in messages:
            event = protocol.message_event(self.dialog_id, message)
            self._route(event, protocol.encode(event))

    def go_live(self, last_seq: int) -> None:
        """End the replay: remember its last seq, then release the events held meanwhile."""
        self.last_seq = last_seq
        self.live = True
        held, self.held = self.held, []
        for event, data in held:
            self._route(event, data)

    def put(self, data: str) -> None:
        """Queue a frame; a full queue means the client cannot keep up, so it is closed."""
        if self.close_code is not None:
            return
        try:
            self.queue.put_nowait(data)
        except asyncio.QueueFull:
            self.fail(protocol.TOO_MANY)

    def put_event(self, event: dict[str, Any]) -> None:
        """Queue an event meant for this socket only."""
        self.put(protocol.encode(event))

    def fail(self, code: CloseCode) -> None:
        """Ask the endpoint to close this socket with the code."""
        if self.close_code is None:
            self.close_code = code
        self.stopped.set()

    @property
    def has_gap(self) -> bool:
        """True while later messages wait for a missing seq."""
        return bool(self.pending)

    def _route(self, event: dict[str, Any], data: str) -> None:
        if event.get("type") != "message" or self.dialog_id is None:
            self.put(data)
            return
        seq = event["message"]["seq"]
        if seq <= self.last_seq:
            return
        if seq > self.last_seq + 1:
            self.pending[seq] = data
            self.on_gap(self)
            return
        self.put(data)
        self.last_seq = seq
        while self.last_seq + 1 in self.pending:
            self.last_seq += 1
            self.put(self.pending.pop(self.last_seq))
        for stale in [s for s in self.pending if s <= self.last_seq]:
            del self.pending[stale]

    async def send_loop(self) -> None:
        """Write queued frames to the socket, one at a time, until cancelled."""
        while True:
            data = await self.queue.get()
            await self.websocket.send_text(data)

    async def heartbeat_loop(self, interval: float, timeout: float) -> None:
        """Send ``__ping__`` every interval; close with 1001 after interval + timeout of silence."""
        next_ping = time.monotonic() + interval
        while True:
            deadline = self.last_heard + interval + timeout
            await asyncio.sleep(max(0.0, min(next_ping, deadline) - time.monotonic()))
            now = time.monotonic()
            if now >= self.last_heard + interval + timeout:
                self.fail(protocol.HEARTBEAT_TIMEOUT)
                return
            if now >= next_ping:
                self.put(protocol.PING)
                next_ping = now + interval

    async def close(self, code: CloseCode) -> None:
        """Send the close frame, without waiting long on a client that does not read."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.websocket.close(code.code, code.reason), timeout=2.0)
